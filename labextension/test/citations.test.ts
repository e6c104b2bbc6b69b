import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { ICitation } from '../src/api';
import {
  citationTarget,
  citationText,
  citationTitle,
  isSourcesLine,
  lineSelection,
  openArgs,
  parseLines,
  rootPath
} from '../src/chat/citations';

const cite = (source: string, lines: string | null = null, cell_id: string | null = null): ICitation => ({
  source,
  lines,
  cell_id,
  score: 0.8
});

test('a citation is written as the server writes it in the Sources line', () => {
  assert.equal(citationText(cite('proj/sales.py', '1-3')), 'proj/sales.py (lines 1-3)');
  assert.equal(citationText(cite('analysis.ipynb', null, '3f2a')), 'analysis.ipynb (cell 3f2a)');
  assert.equal(citationText(cite('README.md')), 'README.md');
  assert.ok(isSourcesLine('Sources: [1] proj/sales.py (lines 1-3); [2] README.md'));
  assert.ok(isSourcesLine('  Sources: [1] proj/init.py (lines 1-3)\n'));
  assert.ok(!isSourcesLine('The sources say [1] nothing'));
  assert.ok(!isSourcesLine('Sources: none'));
});

test('a cited file at cited lines opens in the editor, the lines selected', () => {
  const target = citationTarget(cite('proj/sales.py', '12-14'));
  assert.deepEqual(target, { path: 'proj/sales.py', lines: { first: 12, last: 14 }, cellId: null });
  assert.deepEqual(openArgs(target!), { path: 'proj/sales.py', factory: 'Editor' });
  assert.equal(citationTitle(target), 'Open proj/sales.py at lines 12–14');
  // a Markdown file too: its preview has no lines to select
  assert.deepEqual(openArgs(citationTarget(cite('docs/intro.md', '5-9'))!), { path: 'docs/intro.md', factory: 'Editor' });
  // no lines: the file's usual viewer
  assert.deepEqual(openArgs(citationTarget(cite('docs/intro.md'))!), { path: 'docs/intro.md' });
});

test('a notebook cell citation opens the notebook at that cell', () => {
  const target = citationTarget(cite('work/analysis.ipynb', null, 'cell-3'));
  assert.deepEqual(target, { path: 'work/analysis.ipynb', lines: null, cellId: 'cell-3' });
  assert.deepEqual(openArgs(target!), { path: 'work/analysis.ipynb' });
  assert.equal(citationTitle(target), 'Open work/analysis.ipynb at the cited cell');
});

test('paths outside the server root are text, not links', () => {
  for (const outside of ['/etc/passwd', '~/notes.py', '../secret.py', 'a/../../b.py', 'C:/x.py', 'C:\\x.py', 'https://x.org/a.py', '', '  ']) {
    assert.equal(citationTarget(cite(outside, '1-2')), null, outside);
  }
  assert.equal(citationTitle(null), 'Outside the server’s root folder: JupyterLab cannot open it');
  // relative paths are cleaned, and may step up inside the root
  assert.equal(rootPath('./proj//sales.py'), 'proj/sales.py');
  assert.equal(rootPath('proj/sub/../sales.py'), 'proj/sales.py');
});

test('line ranges are read strictly, and the selection is clamped to the file as it is now', () => {
  assert.deepEqual(parseLines('12-40'), { first: 12, last: 40 });
  assert.deepEqual(parseLines('7'), { first: 7, last: 7 });
  for (const bad of [null, undefined, '', 'a-b', '0-3', '5-2', '1-2-3']) {
    assert.equal(parseLines(bad), null, String(bad));
  }
  const text = 'def f():\n    return 1\n\ndef g():\n    return 22';
  assert.deepEqual(lineSelection({ first: 4, last: 5 }, text), {
    start: { line: 3, column: 0 },
    end: { line: 4, column: 13 }
  });
  // the file shrank since it was learned: the selection stops at its last line
  assert.deepEqual(lineSelection({ first: 4, last: 60 }, text).end, { line: 4, column: 13 });
  assert.deepEqual(lineSelection({ first: 90, last: 95 }, text).start, { line: 4, column: 0 });
  assert.deepEqual(lineSelection({ first: 1, last: 1 }, 'a\r\nbb').end, { line: 0, column: 1 });
});
