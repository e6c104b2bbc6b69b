import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IRouteStep } from '../src/api';
import { AnswerState, codeBlocks, footerPlan, footerText } from '../src/chat/answer';

const done = {
  type: 'chat.done' as const,
  id: 'a',
  conversation_id: 'c1',
  message_id: 'm1',
  interaction_id: 7,
  model: 'SmolLM2-135M-Instruct',
  provider: 'local',
  ttft_ms: 120,
  latency_ms: 900,
  tokens_out: 12,
  fallback_path: [] as IRouteStep[],
  citations: [],
  cancelled: false
};

/** A RouteStep as the server sends it (error and retry_after_s are null unless given). */
const step = (provider: string, model: string, outcome: IRouteStep['outcome'], error: string | null = null): IRouteStep => ({
  provider,
  model,
  outcome,
  error,
  retry_after_s: null
});

test('deltas assemble into the answer', () => {
  const s = new AnswerState('a');
  assert.ok(s.apply({ type: 'chat.started', id: 'a', conversation_id: 'c1', intent: 'chat', context: [], author: null }));
  s.apply({ type: 'chat.delta', id: 'a', text: 'Hel' });
  assert.equal(s.status, 'streaming');
  s.apply({ type: 'chat.delta', id: 'a', text: 'lo' });
  assert.equal(s.text, 'Hello');
  s.apply(done);
  assert.equal(s.status, 'done');
  assert.equal(s.model, 'local/SmolLM2-135M-Instruct');
  assert.equal(s.conversationId, 'c1');
});

test('a restart discards the failed model text and says who answers instead', () => {
  const s = new AnswerState('a');
  s.apply({ type: 'chat.delta', id: 'a', text: 'half an ans' });
  s.apply({ type: 'chat.restart', id: 'a', reason: 'openai: HTTP 500', failed_model: 'openai/gpt-4o-mini', next_model: 'local/SmolLM2' });
  assert.equal(s.text, '');
  assert.equal(s.status, 'waiting');
  s.apply({ type: 'chat.delta', id: 'a', text: 'Fine' });
  s.apply({
    ...done,
    fallback_path: [
      step('openai', 'gpt-4o-mini', 'error', 'openai: HTTP 500'),
      step('local', 'SmolLM2', 'ok')
    ]
  });
  assert.equal(s.text, 'Fine');
  assert.deepEqual(s.fallbacks, ['Fallback: openai/gpt-4o-mini failed (openai: HTTP 500); local/SmolLM2 answers instead']);
});

test('a repair by the same model is said once, as a repair, with why', () => {
  const s = new AnswerState('a');
  s.apply({ type: 'chat.restart', id: 'a', reason: 'line 2: invalid syntax', failed_model: 'local/SmolLM2', next_model: 'local/SmolLM2' });
  s.apply({ type: 'chat.delta', id: 'a', text: 'Fixed' });
  s.apply({ ...done, fallback_path: [step('local', 'SmolLM2', 'invalid', 'line 2: invalid syntax'), step('local', 'SmolLM2', 'repaired')] });
  assert.deepEqual(s.fallbacks, ['Repair: local/SmolLM2 wrote code that did not work (line 2: invalid syntax); it tries again']);
});

test('a fallback before the first token is shown from the done frame', () => {
  const s = new AnswerState('a');
  s.apply({ ...done, fallback_path: [step('gateway', 'nexus', 'circuit_open'), step('gateway2', 'x', 'unconfigured')] });
  assert.deepEqual(s.fallbacks, ['Fallback: gateway/nexus failed (circuit open)']);
});

test('frames for other requests and after the end change nothing', () => {
  const s = new AnswerState('a');
  assert.equal(s.apply({ type: 'chat.delta', id: 'b', text: 'x' }), false);
  s.apply({ ...done, cancelled: true });
  assert.equal(s.status, 'cancelled');
  assert.equal(s.apply({ type: 'chat.delta', id: 'a', text: 'late' }), false);
  assert.equal(s.text, '');
});

test('an error frame ends the answer with its message', () => {
  const s = new AnswerState('a');
  s.apply({ type: 'error', error: 'no_model_available', message: 'no model could answer', id: 'a' });
  assert.equal(s.status, 'error');
  assert.equal(s.error, 'no model could answer');
  assert.ok(s.finished);
});

test('code blocks are extracted with their language', () => {
  const md = 'Here:\n```python\ndef f():\n    return 1\n```\nand\n```\nplain\n```\n';
  assert.deepEqual(codeBlocks(md), [
    { language: 'python', code: 'def f():\n    return 1' },
    { language: '', code: 'plain' }
  ]);
  assert.deepEqual(codeBlocks('```python\nunfinished'), []);
});

test('a stopped answer names no model when none answered, never "/"', () => {
  const stopped = { status: 'cancelled', done: null } as unknown as AnswerState;
  assert.equal(footerText('/', stopped), 'stopped');
  assert.equal(footerText('local/SmolLM2', stopped), 'local/SmolLM2 · stopped');
  assert.equal(footerText('', null), '');
});

test('the footer says how long the user waited for the first text, not the model first token', () => {
  const s = new AnswerState('a');
  s.apply({ type: 'chat.delta', id: 'a', text: 'Hi' });
  s.apply({ ...done, ttft_ms: 300 });
  assert.equal(footerText('local/SmolLM2', s, 5200), 'local/SmolLM2 · first text after 5.2 s');
  assert.equal(footerText('local/SmolLM2', s, null), 'local/SmolLM2');
});

test('the thumbs have one place: the first row, after the model line, whatever else the footer holds', () => {
  const s = new AnswerState('a');
  s.apply({ type: 'chat.started', id: 'a', conversation_id: 'c1', intent: 'chat', context: [], author: null });
  s.apply({ type: 'chat.restart', id: 'a', reason: 'timeout', failed_model: 'local/A', next_model: 'openai/B' });
  s.apply({ type: 'chat.delta', id: 'a', text: 'Hi' });
  s.apply(done);
  const plan = footerPlan('local/SmolLM2', s, 800);
  // the notes come after the first row: they never push the thumbs down or sideways
  assert.deepEqual(plan, {
    meta: 'local/SmolLM2 · first text after 0.8 s',
    interactionId: 7,
    notes: ['Fallback: local/A failed (timeout); openai/B answers instead'],
    context: []
  });
  // a stored answer (no state) or one stopped before it was recorded has no thumbs, only its model line
  assert.deepEqual(footerPlan('local/SmolLM2', null), { meta: 'local/SmolLM2', interactionId: null, notes: [], context: [] });
  const stopped = new AnswerState('b');
  stopped.apply({ ...done, id: 'b', interaction_id: null, cancelled: true });
  assert.equal(footerPlan('', stopped).interactionId, null);
});

test('the footer lists the context the answer used, from chat.started', () => {
  const s = new AnswerState('a');
  s.apply({
    type: 'chat.started',
    id: 'a',
    conversation_id: 'c1',
    intent: 'chat',
    author: null,
    context: [
      { kind: 'cell', label: 'Current cell (code)', preview: 'df.head()', summary: 'Cell 3', tokens: 3, source: 'x' },
      { kind: 'diagnostics', label: 'Diagnostics from pylsp', preview: 'line 1: unused import', summary: '', tokens: 5, source: null }
    ]
  });
  assert.deepEqual(
    footerPlan('local/SmolLM2', s).context.map(p => p.text),
    ['Cell 3', 'Diagnostics from pylsp']
  );
});
