import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { EventSchemas } from '../src/events';
import { ProgressTracker } from '../src/progress/tracker';

function manual() {
  const timers: (() => void)[] = [];
  const tracker = new ProgressTracker({ lingerMs: 10, setTimer: fn => timers.push(fn) });
  return { tracker, flush: () => timers.splice(0).forEach(fn => fn()) };
}

const task = (state: string, progress: number, message = '') => ({
  schema_id: EventSchemas.task,
  task_id: 't1',
  kind: 'learn',
  state,
  progress,
  message,
  username: 'ann'
});

test('a learn task shows a cancellable bar named after its folder, and goes when done', () => {
  const { tracker, flush } = manual();
  tracker.handle(task('running', 0));
  tracker.handle({ schema_id: EventSchemas.learn, task_id: 't1', trigger: 'request', target: 'proj', state: 'running', files_total: 40, files_done: 0 });
  tracker.handle(task('running', 0.25, '10/40 files: proj/a.py'));
  const [op] = tracker.operations;
  assert.equal(op.label, 'Learning proj');
  assert.equal(op.progress, 0.25);
  assert.equal(op.message, '10/40 files: proj/a.py');
  assert.equal(op.cancelId, 't1');
  tracker.handle(task('succeeded', 1, 'done'));
  assert.equal(tracker.operations[0].state, 'succeeded');
  assert.equal(tracker.operations[0].cancelId, null);
  flush();
  assert.deepEqual(tracker.operations, []);
});

test('a model load is an indeterminate bar without cancel', () => {
  const { tracker, flush } = manual();
  tracker.handle({ schema_id: EventSchemas.model, model: 'bundled:SmolLM2.gguf', backend: 'llama_cpp', state: 'loading' });
  const [op] = tracker.operations;
  assert.equal(op.progress, null);
  assert.equal(op.cancelId, null);
  assert.match(op.label, /SmolLM2\.gguf/);
  tracker.handle({ schema_id: EventSchemas.model, model: 'bundled:SmolLM2.gguf', backend: 'llama_cpp', state: 'loaded', device: 'cpu', seconds: 0.3 });
  assert.equal(tracker.operations[0].message, 'loaded on cpu in 0.3 s');
  flush();
  assert.equal(tracker.operations.length, 0);
});

test("other users' events, unknown schemas and tasks that ended unseen are ignored", () => {
  const { tracker } = manual();
  tracker.user = 'bob';
  assert.equal(tracker.handle(task('running', 0.5)), false);
  tracker.user = 'ann';
  assert.equal(tracker.handle({ schema_id: 'https://example.org/other/v1', x: 1 }), false);
  assert.equal(tracker.handle(task('succeeded', 1)), false);
  assert.equal(tracker.operations.length, 0);
});

test('a model load that began before the page subscribed is seeded from /status and ended by the event', () => {
  const { tracker, flush } = manual();
  tracker.modelLoading(true);
  assert.equal(tracker.operations[0].label, 'Loading the model');
  tracker.handle({ schema_id: EventSchemas.model, model: 'bundled:SmolLM2.gguf', backend: 'llama_cpp', state: 'loaded', device: 'cpu', seconds: 0.2 });
  assert.deepEqual(tracker.operations.map(op => [op.id, op.state]), [['model:bundled:SmolLM2.gguf', 'succeeded']]);
  flush();
  tracker.modelLoading(true);
  tracker.modelLoading(false); // the loaded event was missed too: the next status ends it
  assert.equal(tracker.operations[0].state, 'succeeded');
  flush();
  assert.equal(tracker.operations.length, 0);
});
