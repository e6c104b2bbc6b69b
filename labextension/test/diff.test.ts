import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { diffLines, diffSummary } from '../src/ai/diff';

test('an unchanged text is all "same"', () => {
  assert.deepEqual(diffLines('a\nb', 'a\nb'), [
    { kind: 'same', text: 'a' },
    { kind: 'same', text: 'b' }
  ]);
});

test('a fix shows the removed and the added line around the unchanged ones', () => {
  const before = 'def f(x):\n    return x / 0\n\nprint(f(1))';
  const after = 'def f(x):\n    return x / 1\n\nprint(f(1))';
  const d = diffLines(before, after);
  assert.deepEqual(
    d.map(l => `${l.kind}:${l.text}`),
    ['same:def f(x):', 'del:    return x / 0', 'add:    return x / 1', 'same:', 'same:print(f(1))']
  );
  assert.equal(diffSummary(d), '+1 −1');
});

test('a docstring insertion is a pure addition', () => {
  const d = diffLines('def f():\n    pass', 'def f():\n    """Do nothing."""\n    pass');
  assert.equal(diffSummary(d), '+1 −0');
  assert.equal(d[1].kind, 'add');
});

test('from and to empty', () => {
  assert.deepEqual(diffLines('', 'x'), [{ kind: 'add', text: 'x' }]);
  assert.deepEqual(diffLines('x', ''), [{ kind: 'del', text: 'x' }]);
  assert.deepEqual(diffLines('', ''), []);
});
