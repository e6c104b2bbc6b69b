import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IChatFrame, ServerFrame } from '../src/api';
import { ISocketLike, NexusSocket } from '../src/socket';
import { AnswerWatch, answerWarning, explainFailure, IAnswerRecord, SLOW_WAIT_MS } from '../src/status/warning';

const UNREACHABLE =
  'no model could answer the natural_language request (gateway/natural_language: gateway: cannot connect)';

function done(id: string, cancelled = false): ServerFrame {
  return {
    type: 'chat.done',
    id,
    conversation_id: 'c',
    message_id: 'm',
    model: 'natural_language',
    provider: 'gateway',
    latency_ms: 1,
    tokens_out: 1,
    fallback_path: [],
    citations: [],
    cancelled
  } as unknown as ServerFrame;
}

function failure(id: string, message = UNREACHABLE, error = 'no_model_available'): ServerFrame {
  return { type: 'error', id, error, message };
}

/** A watch on a clock the test moves, asked and answered the way the socket reports it. */
function harness() {
  let now = 1_000_000;
  let changes = 0;
  const watch = new AnswerWatch(
    () => (changes += 1),
    () => now
  );
  let n = 0;
  const ask = (frames: { after: number; frame: (id: string) => ServerFrame }[]) => {
    const request: IChatFrame = { type: 'chat', id: `q${(n += 1)}`, text: 'why?' };
    watch.sent(request);
    for (const { after, frame } of frames) {
      now += after;
      watch.received(request, frame(request.id));
    }
  };
  const answer = (waitS = 1) =>
    ask([
      { after: waitS * 1000, frame: id => ({ type: 'chat.delta', id, text: 'Because' }) },
      { after: 500, frame: id => done(id) }
    ]);
  const fail = (message = UNREACHABLE, error = 'no_model_available') =>
    ask([{ after: 800, frame: id => failure(id, message, error) }]);
  return { watch, answer, fail, ask, tick: (ms: number) => (now += ms), changes: () => changes };
}

test('three of the last five answers failing warns, naming the cause', () => {
  const h = harness();
  h.answer();
  h.fail();
  h.answer();
  h.fail();
  assert.equal(h.watch.warning(), null, 'two failures are not yet a pattern');
  h.fail();
  const warning = h.watch.warning();
  assert.ok(warning);
  assert.equal(warning.kind, 'failing');
  assert.equal(warning.label, 'NEXUS: 3 of the last 5 answers failed — the model server is unreachable');
  assert.match(warning.advice, /tell your administrator/);
  assert.equal(h.changes(), 5, 'every answer that ends re-evaluates the warning');
});

test('one good answer clears the failure warning', () => {
  const h = harness();
  h.fail();
  h.fail();
  h.fail();
  assert.equal(h.watch.warning()?.kind, 'failing');
  h.answer();
  assert.equal(h.watch.warning(), null);
});

test('failures older than 15 minutes are forgotten', () => {
  const h = harness();
  h.fail();
  h.fail();
  h.fail();
  assert.ok(h.watch.warning());
  h.tick(16 * 60_000);
  assert.equal(h.watch.warning(), null);
});

test('a stopped answer is neither a failure nor a success', () => {
  const h = harness();
  h.fail();
  h.fail();
  h.ask([{ after: 100, frame: id => done(id, true) }]);
  assert.equal(h.watch.answers.length, 2);
  h.fail();
  assert.equal(h.watch.warning()?.label, 'NEXUS: 3 of the last 3 answers failed — the model server is unreachable');
});

test('a lost connection fails the open answer', () => {
  let socket: (ISocketLike & { drop(): void; open(): void }) | null = null;
  const client = new NexusSocket({
    url: 'ws://x',
    factory: () => {
      const s = {
        readyState: 0,
        onopen: null as ((ev: unknown) => void) | null,
        onclose: null as ((ev: unknown) => void) | null,
        onmessage: null,
        onerror: null,
        send: () => undefined,
        close: () => undefined,
        open() {
          this.readyState = 1;
          this.onopen?.({});
        },
        drop() {
          this.readyState = 3;
          this.onclose?.({});
        }
      };
      socket = s;
      return s;
    },
    setTimer: () => undefined
  });
  const watch = new AnswerWatch();
  const stop = client.watch(watch);
  client.connect();
  socket!.open();
  for (const id of ['a', 'b', 'c']) {
    client.request({ type: 'chat', id, text: 'hi' }, () => undefined);
  }
  socket!.drop();
  assert.deepEqual(
    watch.answers.map(a => a.error),
    ['disconnected', 'disconnected', 'disconnected']
  );
  assert.equal(watch.warning()?.label, 'NEXUS: 3 of the last 3 answers failed — the connection to the NEXUS server was lost');
  stop();
  client.request({ type: 'chat', id: 'd', text: 'hi' }, () => undefined);
  assert.equal(watch.answers.length, 3, 'an unwatched socket reports nothing more');
});

test('the socket reports chat frames to watchers, after the request handler', () => {
  const order: string[] = [];
  let receive: (frame: unknown) => void = () => undefined;
  const client = new NexusSocket({
    url: 'ws://x',
    factory: () => {
      const s: ISocketLike = {
        readyState: 1,
        onopen: null,
        onclose: null,
        onmessage: null,
        onerror: null,
        send: () => undefined,
        close: () => undefined
      };
      receive = frame => s.onmessage?.({ data: JSON.stringify(frame) });
      return s;
    }
  });
  client.watch({
    sent: request => order.push(`sent ${request.id}`),
    received: (request, frame) => order.push(`watch ${request.id} ${frame.type}`)
  });
  client.connect();
  client.request({ type: 'chat', id: 'a', text: 'hi' }, frame => order.push(`handler ${frame.type}`));
  receive({ type: 'chat.delta', id: 'a', text: 'He' });
  receive(done('a'));
  assert.deepEqual(order, [
    'sent a',
    'handler chat.delta',
    'watch a chat.delta',
    'handler chat.done',
    'watch a chat.done'
  ]);
});

test('answers that wait long for their first words warn about the queue', () => {
  const h = harness();
  h.answer(2);
  h.answer(45);
  assert.equal(h.watch.warning(), null, 'one slow answer (a cold start) does not warn');
  h.answer(35);
  const warning = h.watch.warning();
  assert.ok(warning);
  assert.equal(warning.kind, 'slow');
  assert.equal(warning.label, 'NEXUS: answers wait ~40 s for their first words — the models are busy');
  assert.match(warning.advice, /try again in a few minutes/);
  h.answer(3);
  assert.equal(h.watch.warning(), null, 'a quick answer clears it');
});

test('the wait is counted from Send to the first words shown, not to the end of the answer', () => {
  const h = harness();
  for (let i = 0; i < 3; i++) {
    h.ask([
      { after: 2000, frame: id => ({ type: 'chat.delta', id, text: 'A long' }) },
      { after: 60_000, frame: id => done(id) }
    ]);
  }
  assert.deepEqual(
    h.watch.answers.map(a => a.waitedMs),
    [2000, 2000, 2000]
  );
  assert.equal(h.watch.warning(), null);
});

test('just under the wait threshold does not warn', () => {
  const now = 10_000_000;
  const answers: IAnswerRecord[] = [1, 2, 3].map(i => ({ at: now - i, ok: true, waitedMs: SLOW_WAIT_MS - 1 }));
  assert.equal(answerWarning(answers, now), null);
  answers[2].waitedMs = SLOW_WAIT_MS;
  answers[1].waitedMs = SLOW_WAIT_MS;
  assert.equal(answerWarning(answers, now)?.kind, 'slow');
});

test('failures win over slowness, and completions are not answers', () => {
  const h = harness();
  h.answer(40);
  h.answer(40);
  h.fail('no model could answer (local/SmolLM2: the local model is busy (8 requests queued))');
  h.fail('no model could answer (local/SmolLM2: the local model is busy (8 requests queued))');
  h.fail('no model could answer (local/SmolLM2: the local model is busy (8 requests queued))');
  assert.equal(h.watch.warning()?.label, 'NEXUS: 3 of the last 5 answers failed — the models are busy');
  const completion = { type: 'complete' as const, id: 'k1', prefix: 'x', suffix: '', language: 'python' };
  h.watch.sent(completion as never);
  h.watch.received(completion as never, failure('k1'));
  assert.equal(h.watch.answers.length, 5);
});

test('each failure reads as its cause with what to do', () => {
  assert.equal(explainFailure('rate_limited', 'Too many requests: try again in 4 s.').reason,
    'you sent too many requests in a short time');
  assert.match(
    explainFailure('no_model_available', 'no model could answer (gateway/x: gateway: HTTP 429 (rate limited))').advice,
    /token quota/
  );
  assert.equal(explainFailure('no_model_available', 'no model could answer (openai/gpt: timed out (ReadTimeout))').reason,
    'the model server is unreachable');
  assert.equal(explainFailure('storage_unavailable', 'The database is unreachable.').reason,
    'NEXUS cannot reach its storage or settings');
  assert.equal(explainFailure('no_model_available', 'no model could answer (the chain is empty)').reason,
    'no model could answer');
});
