import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IContextItem } from '../src/api';
import { aboutError, chipsFor, EMPTY_CONTEXT, frameContext, usedContext, usedFitsInline } from '../src/chat/context';
import { isInertTag, isUnsafeAttribute } from '../src/chat/sanitize';
import { ISlashCommand, matchSlash, namesCommand, parseSlash } from '../src/chat/slash';
import { NEW_CONVERSATION, pickerOptions } from '../src/chat/titles';
import { decideVoiceAction, IVoiceCommand, IVoiceDecision } from '../src/voice/decide';

test('event handlers, command linkers and script URLs are unsafe', () => {
  assert.ok(isUnsafeAttribute('onerror', 'alert(1)'));
  assert.ok(isUnsafeAttribute('ONCLICK', 'x'));
  assert.ok(isUnsafeAttribute('data-commandlinker-command', 'notebook:run-all-cells'));
  assert.ok(isUnsafeAttribute('data-commandlinker-args', '{}'));
  assert.ok(isUnsafeAttribute('href', ' java\tscript:alert(1)'));
  assert.ok(isUnsafeAttribute('src', 'data:text/html,<script>'));
  assert.ok(!isUnsafeAttribute('src', 'data:image/png;base64,AAA'));
  assert.ok(!isUnsafeAttribute('href', 'https://jupyter.org'));
  assert.ok(!isUnsafeAttribute('class', 'language-python'));
  assert.ok(isInertTag('button') && isInertTag('FORM') && isInertTag('iframe'));
  assert.ok(!isInertTag('pre') && !isInertTag('a'));
});

const ctx = {
  ...EMPTY_CONTEXT,
  notebookPath: 'work/analysis.ipynb',
  cellId: 'cell-1',
  cellSource: 'x = 1 / 0',
  cellLabel: 'Cell [3]',
  lastError: 'ZeroDivisionError: division by zero'
};

test('chips show the file, the active cell, and the last error only for a message about it', () => {
  assert.deepEqual(
    chipsFor(ctx, new Set(), 'Why does this fail?').map(c => [c.kind, c.label]),
    [['file', 'analysis.ipynb'], ['cell', 'Cell [3]'], ['error', 'Last error']]
  );
  // a selection replaces the whole cell
  assert.deepEqual(
    chipsFor({ ...ctx, selection: '1 / 0' }, new Set(), '/fix').map(c => c.kind),
    ['file', 'selection', 'error']
  );
  // an unrelated question, a new subject: the old error is neither shown nor sent
  assert.deepEqual(
    chipsFor(ctx, new Set(), 'What columns does df have?').map(c => c.kind),
    ['file', 'cell']
  );
  const unrelated = frameContext(ctx, new Set(), 'What columns does df have?');
  assert.equal(unrelated.selection, 'x = 1 / 0');
  assert.deepEqual(unrelated.exclude, ['error']);
});

test('a message is about an error when it says so', () => {
  for (const text of ['/fix', '/explain', 'why does it raise?', 'fix this', 'KeyError again', "it doesn't work", 'what is wrong']) {
    assert.ok(aboutError(text), text);
  }
  for (const text of ['/explain what groupby does', 'plot df', 'What columns does df have?', 'sum the sales']) {
    assert.ok(!aboutError(text), text);
  }
});

test('removed chips are not sent and are excluded on the server', () => {
  const all = frameContext(ctx, new Set(), 'explain this error');
  assert.equal(all.notebook_path, 'work/analysis.ipynb');
  assert.match(all.selection ?? '', /^x = 1 \/ 0\n# The last run raised:\n# ZeroDivisionError/);
  const some = frameContext(ctx, new Set(['cell', 'file'] as const), 'explain this error');
  assert.equal(some.notebook_path, null);
  assert.equal(some.cell_id, null);
  assert.equal(some.selection, '# The last run raised:\n# ZeroDivisionError: division by zero');
  assert.deepEqual(some.exclude, ['cell', 'file']);
  const noError = frameContext(ctx, new Set(['error'] as const), '/fix');
  assert.deepEqual(noError.exclude, ['error']);
  assert.equal(frameContext(EMPTY_CONTEXT, new Set(), '/fix').selection, null);
});

const commands: ISlashCommand[] = [
  { name: 'explain', description: '', run: rest => `Explain ${rest}` },
  { name: 'export', description: '', run: () => null },
  { name: 'new', description: '', run: () => null }
];

test('slash completion lists matching commands while the name is typed', () => {
  assert.deepEqual(matchSlash('/ex', commands).map(c => c.name), ['explain', 'export']);
  assert.deepEqual(matchSlash('/', commands).length, 3);
  assert.deepEqual(matchSlash('/explain this', commands), []);
  assert.deepEqual(matchSlash('hello /ex', commands), []);
});

test('a slash command is parsed with the rest of the line', () => {
  const parsed = parseSlash('/explain  the loop ', commands);
  assert.equal(parsed?.command.name, 'explain');
  assert.equal(parsed?.rest, 'the loop');
  assert.equal(parseSlash('/unknown x', commands), null);
  assert.equal(parseSlash('not a command', commands), null);
});

/** A VoiceDecision as the server sends it: every field present, defaults where the test sets none. */
const decision = (command: Partial<IVoiceCommand>, action: IVoiceDecision['action'] = 'run'): IVoiceDecision => ({
  action,
  confidence: 0.9,
  reason: null,
  alternatives: [],
  command: {
    name: 'c',
    title: 'C',
    target: 'frontend',
    lab_command: null,
    intent: null,
    text: null,
    destructive: false,
    source: 'nexus',
    ...command
  }
});

test('voice: a known lab command runs, destructive or uncertain ones ask first', () => {
  const has = (id: string) => id === 'notebook:run-all-cells' || id === 'notebook:delete-cell';
  assert.deepEqual(decideVoiceAction({ text: 'run all cells', command: decision({ lab_command: 'notebook:run-all-cells', title: 'Run all cells' }) }, has), {
    kind: 'run',
    command: 'notebook:run-all-cells',
    confirm: false,
    title: 'Run all cells'
  });
  const del = decideVoiceAction({ text: 'delete cell', command: decision({ lab_command: 'notebook:delete-cell', destructive: true }) }, has);
  assert.equal(del.kind === 'run' && del.confirm, true);
  const unsure = decideVoiceAction({ text: 'run all', command: decision({ lab_command: 'notebook:run-all-cells' }, 'confirm') }, has);
  assert.equal(unsure.kind === 'run' && unsure.confirm, true);
});

test('voice: a server command (a plugin\'s) runs on the server with the spoken text', () => {
  const reply = { text: 'count words one two', command: decision({ name: 'word-count', title: 'Count words', target: 'server', text: 'one two' }) };
  assert.deepEqual(decideVoiceAction(reply, () => false), {
    kind: 'server',
    name: 'word-count',
    text: 'one two',
    confirm: false,
    title: 'Count words'
  });
});

test('voice: anything else goes into the prompt, silence does nothing', () => {
  const has = () => false;
  assert.deepEqual(decideVoiceAction({ text: 'what is a tuple', command: null }, has), { kind: 'prompt', text: 'what is a tuple' });
  assert.deepEqual(decideVoiceAction({ text: 'open foo', command: decision({ lab_command: 'no:such' }) }, has), { kind: 'prompt', text: 'open foo' });
  assert.deepEqual(decideVoiceAction({ text: 'generate code that sorts', command: decision({ target: 'intent', intent: 'generate', text: 'code that sorts' }) }, has), {
    kind: 'prompt',
    text: 'code that sorts'
  });
  // an intent command without words of its own: the transcript goes to the chat, whose classifier routes it
  assert.deepEqual(decideVoiceAction({ text: 'summarise this notebook', command: decision({ target: 'intent', intent: 'summarise' }) }, has), {
    kind: 'prompt',
    text: 'summarise this notebook'
  });
  assert.deepEqual(decideVoiceAction({ text: 'run it', command: decision({ lab_command: 'notebook:run-cell' }, 'none') }, () => true), { kind: 'prompt', text: 'run it' });
  assert.equal(decideVoiceAction({ text: '  ', command: null }, has).kind, 'nothing');
});

test('Enter sends a command typed in full; only a partial name is completed', () => {
  const commands = [
    { name: 'help', description: '', run: () => null },
    { name: 'explain', description: '', run: (r: string) => r }
  ];
  assert.equal(namesCommand('/help', commands), true);
  assert.equal(namesCommand('/HELP ', commands), true);
  assert.equal(namesCommand('/hel', commands), false);
  assert.equal(namesCommand('/help me', commands), false);
  assert.equal(namesCommand('help', commands), false);
});

const item = (kind: IContextItem['kind'], label: string, summary = '', preview = ''): IContextItem => ({
  kind,
  label,
  summary,
  preview,
  tokens: 10,
  source: null
});

test('context used: the server summary (variables and DataFrame columns, the cell), else the label', () => {
  const used = usedContext([
    item('cell', 'Current cell (code)', 'Cell 3', 'df.groupby("region").sales.sum()'),
    item('variables', 'Kernel variables', 'Kernel variables: df (DataFrame 3×2: sales, region), x', 'df: DataFrame shape=(3, 2)'),
    item('diagnostics', 'Diagnostics from pylsp', '', '')
  ]);
  assert.deepEqual(
    used.map(p => [p.kind, p.text, p.preview]),
    [
      ['cell', 'Cell 3', 'df.groupby("region").sales.sum()'],
      ['variables', 'Kernel variables: df (DataFrame 3×2: sales, region), x', 'df: DataFrame shape=(3, 2)'],
      ['diagnostics', 'Diagnostics from pylsp', 'Diagnostics from pylsp'] // no preview: the label is the tooltip
    ]
  );
  assert.deepEqual(usedContext([]), []);
});

test('context used is one line when short, collapsed when long', () => {
  const short = usedContext([item('cell', 'Current cell (code)', 'Cell 3'), item('file', 'Open file a.py')]);
  assert.ok(usedFitsInline(short));
  const four = usedContext(['a', 'b', 'c', 'd'].map(l => item('memories', l)));
  assert.ok(!usedFitsInline(four)); // more pieces than fit on a line
  const long = usedContext([item('variables', 'Kernel variables', `Kernel variables: ${'frame, '.repeat(12)}`)]);
  assert.ok(!usedFitsInline(long)); // one long piece
});

test('the conversation picker lists whole titles, each its own tooltip', () => {
  const long = 'Why does the monthly revenue chart drop to zero every December in the sales notebook?';
  const options = pickerOptions([
    { id: 'a', title: long },
    { id: 'b', title: '   ' }
  ]);
  assert.deepEqual(options[0], NEW_CONVERSATION);
  assert.deepEqual(options[1], { value: 'a', label: long, title: long });
  assert.deepEqual(options[2], { value: 'b', label: 'Untitled', title: 'Untitled' });
});
