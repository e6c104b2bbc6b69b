import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { AgentClientFrame, IAgentRun, IAgentStep, NotebookClientFrame, ServerFrame } from '../src/api';
import { parseUnifiedDiff, unifiedSummary } from '../src/agent/diff';
import { agentGoal, modeOptions, parseAgentCommand } from '../src/agent/modes';
import { AgentTurn, isEnded, stateLabel, stateTone, stepStatusLabel, TurnState } from '../src/agent/turn';
import { AgentTurns } from '../src/agent/turns';

// -- diffs -------------------------------------------------------------------------------------------
test('a new cell is an all-added diff, numbered from 1, titled from the +++ header', () => {
  const d = parseUnifiedDiff('--- new cell (before)\n+++ new cell (after)\n@@ -0,0 +1,2 @@\n+x = 41 + 1\n+print(x)\n');
  assert.equal(d.title, 'new cell');
  assert.deepEqual(
    d.lines.map(l => [l.kind, l.text, l.newLine]),
    [
      ['hunk', '@@ -0,0 +1,2 @@', null],
      ['add', 'x = 41 + 1', 1],
      ['add', 'print(x)', 2]
    ]
  );
  assert.equal(unifiedSummary(d), '+2 −0');
});

test('an edit keeps context lines and numbers both sides', () => {
  const diff = [
    '--- cell #2 (before)',
    '+++ cell #2 (after)',
    '@@ -1,3 +1,3 @@',
    ' import math',
    '-x = 1 / 0',
    '+x = 1 / 1',
    ' print(x)',
    '\\ No newline at end of file',
    ''
  ].join('\n');
  const d = parseUnifiedDiff(diff);
  assert.equal(d.title, 'cell #2');
  assert.deepEqual(
    d.lines.map(l => [l.kind, l.oldLine, l.newLine]),
    [
      ['hunk', null, null],
      ['same', 1, 1],
      ['del', 2, null],
      ['add', null, 2],
      ['same', 3, 3],
      ['note', null, null]
    ]
  );
  assert.equal(unifiedSummary(d), '+1 −1');
});

test('a deleted cell is all removed; a "+++" line inside a hunk is an added line, not a header', () => {
  const d = parseUnifiedDiff('--- cell #0 (before)\n+++ cell #0 (after)\n@@ -1,2 +0,0 @@\n-a\n-b\n');
  assert.deepEqual(d.lines.slice(1).map(l => [l.kind, l.oldLine]), [['del', 1], ['del', 2]]);
  const added = parseUnifiedDiff('@@ -0,0 +1 @@\n+++ x\n');
  assert.deepEqual(added.lines.slice(1).map(l => [l.kind, l.text]), [['add', '++ x']]);
  assert.equal(added.title, '');
  assert.deepEqual(parseUnifiedDiff('').lines, []);
});

// -- labels, modes, /agent ------------------------------------------------------------------------------
test('every state has the label the badge shows', () => {
  const expected: [TurnState, string, boolean][] = [
    ['starting', 'Starting…', false],
    ['running', 'Working', false],
    ['waiting', 'Waiting for you', false],
    ['done', 'Done', true],
    ['stopped', 'Stopped', true],
    ['failed', 'Failed', true],
    ['undone', 'Undone', true],
    ['refused', 'Not started', true]
  ];
  for (const [state, label, ended] of expected) {
    assert.equal(stateLabel(state), label);
    assert.equal(isEnded(state), ended, state);
  }
  assert.equal(stateTone('waiting'), 'attention');
  assert.equal(stateTone('failed'), 'error');
  assert.equal(stepStatusLabel('pending'), 'Needs approval');
  assert.equal(stepStatusLabel('rejected'), 'Rejected');
});

test('Auto is offered only where the server allows it', () => {
  assert.deepEqual(modeOptions(false).map(o => o.value), ['ask', 'auto_edits']);
  assert.deepEqual(modeOptions(true).map(o => o.value), ['ask', 'auto_edits', 'auto']);
  assert.equal(modeOptions(false)[0].label, 'Ask every time');
  assert.equal(modeOptions(false)[1].label, 'Auto-accept edits, ask before running');
});

test('/agent <goal> starts a turn in either mode; in Agent mode everything but chat commands does', () => {
  assert.equal(parseAgentCommand('/agent  make a plot\nof x '), 'make a plot\nof x');
  assert.equal(parseAgentCommand('/agent'), '');
  assert.equal(parseAgentCommand('/agents do'), null);
  assert.equal(parseAgentCommand('what is /agent'), null);
  assert.equal(agentGoal('/agent fix it', false), 'fix it');
  assert.equal(agentGoal('fix it', false), null);
  assert.equal(agentGoal('fix it', true), 'fix it');
  assert.equal(agentGoal('/new', true, true), null);
  assert.equal(agentGoal('   ', true), null);
});

// -- a turn from successive frames ----------------------------------------------------------------------
function step(over: Partial<IAgentStep>): IAgentStep {
  return {
    id: 's1',
    index: 0,
    tool: 'insert_cell',
    kind: 'edit',
    arguments: { source: 'x = 41 + 1\nprint(x)' },
    status: 'running',
    summary: 'insert a code cell at the end',
    cell_id: null,
    diff: null,
    code: null,
    result: null,
    reason: null,
    approved_by: null,
    ...over
  };
}

function run(over: Partial<IAgentRun>): IAgentRun {
  return {
    id: 'r1',
    notebook: 'work/agent.ipynb',
    goal: 'Compute x',
    mode: 'ask',
    state: 'running',
    owner: 'alice',
    request_id: null,
    client: null,
    model: null,
    message: '',
    reason: null,
    steps: [],
    pending: [],
    usage: { steps: 0, tokens_in: 0, tokens_out: 0, seconds: 0 },
    limits: { max_steps: 25, max_tokens: 60000, max_seconds: 600 },
    can_undo: false,
    undo: null,
    created_at: '2025-01-01T00:00:00Z',
    ended_at: null,
    ...over
  };
}

const DIFF = '--- new cell (before)\n+++ new cell (after)\n@@ -0,0 +1,2 @@\n+x = 41 + 1\n+print(x)\n';

test('a turn goes from starting to waiting for an approval to done, and its card follows', () => {
  const turn = new AgentTurn('agent1', 'work/agent.ipynb', 'Compute x', 'ask');
  assert.equal(turn.view().label, 'Starting…');
  assert.equal(turn.view().canStop, false, 'no run id yet: nothing to stop');
  assert.ok(turn.matches(run({})));
  assert.ok(!turn.matches(run({ goal: 'Something else' })));
  assert.ok(!turn.matches(run({ notebook: 'other.ipynb' })));

  assert.ok(turn.apply(run({ message: 'I will add a cell.' })));
  assert.equal(turn.view().label, 'Working');
  assert.equal(turn.view().canStop, true);

  const waiting = run({
    state: 'waiting',
    message: 'I will add a cell.',
    steps: [step({ status: 'pending', diff: DIFF })],
    pending: ['s1'],
    usage: { steps: 1, tokens_in: 10, tokens_out: 5, seconds: 0.4 }
  });
  turn.apply(waiting);
  let view = turn.view();
  assert.equal(view.label, 'Waiting for you');
  assert.deepEqual(view.segments.map(s => s.kind), ['text', 'step']);
  const pending = view.segments[1];
  assert.ok(pending.kind === 'step' && pending.step.awaiting && !pending.step.busy);
  assert.equal(pending.kind === 'step' && pending.step.diff?.added, 2);

  // Approve: in flight until the step moves on (the frame right after can still show it pending)
  assert.ok(turn.begin('step:s1'));
  assert.ok(!turn.begin('step:s1'), 'a double click sends once');
  turn.apply(waiting);
  view = turn.view();
  assert.ok(view.segments[1].kind === 'step' && view.segments[1].step.busy);
  turn.apply(run({ message: 'I will add a cell.', steps: [step({ status: 'running', diff: DIFF, approved_by: 'Alice' })] }));
  view = turn.view();
  assert.ok(view.segments[1].kind === 'step' && !view.segments[1].step.busy && !view.segments[1].step.awaiting);
  assert.equal(view.segments[1].kind === 'step' && view.segments[1].step.statusLabel, 'Running');

  // a run step, then the answer: the words come after the steps they followed
  const runStep = step({ id: 's2', index: 1, tool: 'run_cell', kind: 'run', summary: 'run cell #1', code: 'x = 41 + 1\nprint(x)' });
  const steps = [step({ status: 'done', diff: DIFF }), { ...runStep, status: 'done' as const, result: 'Ran: 42' }];
  turn.apply(run({ message: 'I will add a cell.\n', steps }));
  turn.apply(
    run({
      state: 'done',
      message: 'I will add a cell.\nDone: x is 42.',
      steps,
      model: 'scripted/scripted-model',
      can_undo: true,
      usage: { steps: 2, tokens_in: 30, tokens_out: 12, seconds: 1.25 }
    })
  );
  view = turn.view();
  assert.equal(view.label, 'Done');
  assert.deepEqual(
    view.segments.map(s => (s.kind === 'text' ? s.text : s.step.id)),
    ['I will add a cell.', 's1', 's2', 'Done: x is 42.']
  );
  assert.equal(view.canStop, false);
  assert.equal(view.canUndo, true);
  assert.equal(view.meta, 'scripted/scripted-model · 2 steps · 1.3 s');

  // Undo: in flight until the turn is undone; then its message
  assert.ok(turn.begin('undo'));
  assert.equal(turn.view().undoBusy, true);
  const undo = {
    cells_restored: 0,
    cells_removed: 1,
    cells_kept: [],
    variables_restored: [],
    variables_removed: ['x'],
    variables_not_restored: {},
    kernel_restored: true,
    message: 'Put back 0 cell(s) and removed 1 the turn had added.'
  };
  turn.apply(run({ state: 'undone', message: 'I will add a cell.\nDone: x is 42.', steps, undo }));
  view = turn.view();
  assert.equal(view.label, 'Undone');
  assert.equal(view.undoBusy, false);
  assert.equal(view.canUndo, false);
  assert.equal(view.undoMessage, undo.message);

  // an older state (a REST reply overtaken by frames) is not shown
  assert.equal(turn.apply(run({ state: 'done', steps, can_undo: true })), false);
  assert.equal(turn.view().label, 'Undone');
  assert.equal(turn.apply(run({ id: 'other' })), false);
});

test('a rejected step shows its reason; a failed turn its reason; an error re-enables the buttons', () => {
  const turn = new AgentTurn('agent2', 'a.ipynb', 'Delete everything', 'ask');
  turn.apply(run({ notebook: 'a.ipynb', goal: 'Delete everything', state: 'waiting', steps: [step({ status: 'pending' })], pending: ['s1'] }));
  turn.begin('step:s1');
  turn.fail('Only the person who started this agent turn can do that.');
  let view = turn.view();
  assert.equal(view.error, 'Only the person who started this agent turn can do that.');
  assert.ok(view.segments[0].kind === 'step' && !view.segments[0].step.busy && view.segments[0].step.awaiting);
  assert.equal(view.label, 'Waiting for you', 'an error about an approval does not end the turn');

  turn.begin('step:s1');
  assert.equal(turn.view().error, null, 'asking again clears the old error');
  turn.apply(run({ notebook: 'a.ipynb', goal: 'Delete everything', steps: [step({ status: 'rejected', reason: 'keep my data' })] }));
  turn.apply(
    run({
      notebook: 'a.ipynb',
      goal: 'Delete everything',
      state: 'failed',
      reason: 'The turn reached its limit of 25 steps.',
      steps: [step({ status: 'rejected', reason: 'keep my data' })]
    })
  );
  view = turn.view();
  const rejected = view.segments[0];
  assert.ok(rejected.kind === 'step' && rejected.step.reason === 'keep my data' && rejected.step.statusLabel === 'Rejected');
  assert.equal(view.label, 'Failed');
  assert.equal(view.reason, 'The turn reached its limit of 25 steps.');

  // the server could undo it, but it changed nothing: no Undo button
  turn.apply(run({ notebook: 'a.ipynb', goal: 'Delete everything', state: 'failed', can_undo: true, steps: [step({ status: 'rejected' })] }));
  assert.equal(turn.view().canUndo, false);

  const refused = new AgentTurn('agent3', 'b.ipynb', 'x', 'auto');
  refused.fail("b.ipynb has no running kernel: open it in JupyterLab (or start its kernel) and try again.");
  assert.equal(refused.view().label, 'Not started');
  assert.ok(!refused.matches(run({ notebook: 'b.ipynb', goal: 'x' })), 'a refused start takes no later frame');
});

// -- the websocket traffic ------------------------------------------------------------------------------
function fakeClient() {
  const sent: (NotebookClientFrame | AgentClientFrame)[] = [];
  const listeners: ((frame: ServerFrame) => void)[] = [];
  const states: ((state: 'connecting' | 'open' | 'closed') => void)[] = [];
  return {
    sent,
    client: {
      send: (frame: NotebookClientFrame | AgentClientFrame) => void sent.push(frame),
      listen: (l: (frame: ServerFrame) => void) => (listeners.push(l), () => undefined),
      onStateChange: (l: (state: 'connecting' | 'open' | 'closed') => void) => (states.push(l), () => undefined)
    },
    receive: (frame: ServerFrame) => listeners.forEach(l => l(frame)),
    state: (s: 'connecting' | 'open' | 'closed') => states.forEach(l => l(s))
  };
}

test('turns: start, frames matched to the turn, approvals, errors by id, catching up after a reconnect', async () => {
  const fake = fakeClient();
  const updates: string[] = [];
  const fetched: string[] = [];
  let latest = run({});
  const turns = new AgentTurns({
    client: fake.client,
    fetchRun: async id => (fetched.push(id), latest),
    newId: () => `agent${fake.sent.length}`,
    display: turn => ({ update: () => updates.push(turn.state) })
  });
  const turn = turns.start('work/agent.ipynb', 'Compute x', 'auto_edits');
  assert.deepEqual(fake.sent[0], { type: 'agent.start', id: 'agent0', notebook: 'work/agent.ipynb', goal: 'Compute x', mode: 'auto_edits' });

  // someone else's turn in the same notebook is not ours; ours is matched by goal
  fake.receive({ type: 'agent.run', run: run({ id: 'r0', goal: 'Another goal' }), delta: null });
  assert.equal(turn.id, null);
  const waiting = run({ state: 'waiting', steps: [step({ status: 'pending', kind: 'run', code: 'print(1)' })], pending: ['s1'] });
  fake.receive({ type: 'agent.run', run: waiting, delta: null });
  assert.equal(turn.id, 'r1');
  assert.equal(updates[updates.length - 1], 'waiting');

  turns.decide(turn, 's1', 'reject', 'not now');
  turns.decide(turn, 's1', 'reject', 'not now');
  assert.deepEqual(fake.sent.slice(1), [
    { type: 'agent.approval', run_id: 'r1', step_id: 's1', decision: 'reject', reason: 'not now' }
  ]);
  // the server refuses it: the error frame names the run
  fake.receive({ type: 'error', error: 'not_pending', message: 'Step s1 is not waiting for approval.', id: 'r1' });
  assert.equal(turn.error, 'Step s1 is not waiting for approval.');
  assert.equal(turn.inFlight('step:s1'), false);

  turns.stop(turn);
  assert.deepEqual(fake.sent[fake.sent.length - 1], { type: 'agent.stop', run_id: 'r1' });
  assert.ok(turn.inFlight('stop'));

  // the socket dropped: what came meanwhile is fetched; the turn ended while we were away
  latest = run({ state: 'stopped', reason: 'Stopped by Alice.', steps: [step({ status: 'skipped' })], can_undo: true });
  fake.state('closed');
  fake.state('connecting');
  fake.state('open');
  await new Promise(resolve => setTimeout(resolve, 0));
  assert.deepEqual(fetched, ['r1']);
  assert.equal(turn.state, 'stopped');
  assert.equal(turn.inFlight('stop'), false);
  assert.equal(turn.view().reason, 'Stopped by Alice.');

  turns.undo(turn);
  assert.deepEqual(fake.sent[fake.sent.length - 1], { type: 'agent.undo', run_id: 'r1' });

  // a refused start: the error comes back with the start frame's id
  const second = turns.start('other.ipynb', 'y', 'ask');
  const id = (fake.sent[fake.sent.length - 1] as { id: string }).id;
  fake.receive({ type: 'error', error: 'agent_busy', message: 'An agent turn is already working in other.ipynb.', id });
  assert.equal(second.state, 'refused');
  assert.equal(second.view().error, 'An agent turn is already working in other.ipynb.');
  assert.equal(turns.turns.length, 2);
});
