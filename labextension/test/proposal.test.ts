import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { proposalProblem } from '../src/ai/proposal';

const FN = 'def area(w, h):\n    return w * h\n';
const DOCSTRING = { pattern: /"""|'''/, missing: 'the model added no docstring' };
const TESTS = { pattern: /\bdef test_\w*\s*\(|\bassert\b/, missing: 'the model wrote no test' };

test('a blank line or the same code is not an edit', () => {
  assert.equal(proposalProblem(FN, FN, 'replace'), 'the model proposed no change');
  assert.equal(proposalProblem(FN, FN + '\n\n', 'replace'), 'the model proposed no change');
  assert.equal(proposalProblem(FN, 'def area(w, h):\n\n    return w * h   \n', 'replace'), 'the model changed only blank lines or spacing');
  assert.equal(proposalProblem(FN, '   \n', 'replace'), 'the model proposed no code');
});

test('an echo is not a test, and a docstring must be added', () => {
  assert.equal(proposalProblem(FN, FN, 'below', true, TESTS), 'the model only repeated the code');
  assert.equal(proposalProblem(FN, FN + 'print(area(2, 3))\n', 'below', true, TESTS), 'the model wrote no test');
  assert.equal(proposalProblem(FN, FN + 'def test_area():\n    assert area(2, 3) == 6\n', 'below', true, TESTS), null);
  assert.equal(proposalProblem(FN, 'def area(w, h):\n    # area\n    return w * h\n', 'replace', true, DOCSTRING), 'the model added no docstring');
  const documented = 'def area(w, h):\n    """The area of a w by h rectangle."""\n    return w * h\n';
  assert.equal(proposalProblem(FN, documented, 'replace', true, DOCSTRING), null);
});

test('code that does not parse is not offered', () => {
  assert.equal(proposalProblem(FN, 'def area(w, h)\n    return w * h', 'replace', false), 'the code the model proposed does not parse');
});

test('a real refactor is offered', () => {
  assert.equal(proposalProblem('x=[]\nfor i in range(3):\n    x.append(i*i)', 'x = [i * i for i in range(3)]', 'replace'), null);
});
