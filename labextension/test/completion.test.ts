import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { ICompleteFrame, ServerFrame } from '../src/api';
import { CompletionSession } from '../src/completion/session';

function transport() {
  const sent: (ICompleteFrame | { type: 'cancel'; id: string })[] = [];
  const handlers = new Map<string, (f: ServerFrame) => void>();
  return {
    sent,
    handlers,
    request(frame: ICompleteFrame, onFrame: (f: ServerFrame) => void) {
      sent.push(frame);
      handlers.set(frame.id, onFrame);
    },
    cancel(id: string) {
      sent.push({ type: 'cancel', id });
    }
  };
}

function ids() {
  let n = 0;
  return () => `k${++n}`;
}

test('keystrokes within the debounce start only the last request', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), ms => new Promise(r => setTimeout(r, ms)));
  session.debounceMs = 20;
  const first = session.start('def f(', '', 'python', null);
  const second = session.start('def fi(', '', 'python', null);
  assert.equal(await first, null);
  assert.equal(await second, 'k1');
  assert.deepEqual(t.sent.map(f => f.type), ['complete']);
});

test('a newer request cancels the running one on the server', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  const a = await session.start('import o', '', 'python', 'x.py');
  const b = await session.start('import os', '', 'python', 'x.py');
  assert.deepEqual(t.sent.map(f => `${f.type}:${f.id}`), ['complete:k1', 'cancel:k1', 'complete:k2']);
  assert.equal(a, 'k1');
  assert.equal(session.current, b);
});

test('updates stream the text and end with the server cleaned version', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  const id = (await session.start('def add(a, b):\n    ', '', 'python', null)) as string;
  const seen: string[] = [];
  const consumer = (async () => {
    for await (const u of session.updates(id)) {
      seen.push(`${u.done ? 'done' : 'part'}:${u.text}`);
    }
  })();
  const send = t.handlers.get(id)!;
  await new Promise(r => setTimeout(r, 1));
  send({ type: 'complete.delta', id, text: 'return' });
  await new Promise(r => setTimeout(r, 1));
  send({ type: 'complete.delta', id, text: ' a + b\n```' });
  await new Promise(r => setTimeout(r, 1));
  send({ type: 'complete.done', id, text: 'return a + b', model: 'm', cancelled: false });
  await consumer;
  assert.equal(seen[0], 'part:');
  assert.ok(seen.includes('part:return'));
  assert.equal(seen[seen.length - 1], 'done:return a + b');
  // a finished request is not cancelled again
  await session.start('x = ', '', 'python', null);
  assert.ok(!t.sent.some(f => f.type === 'cancel'));
});

test('an empty prefix sends nothing', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  assert.equal(await session.start('   ', '', 'python', null), null);
  assert.equal(t.sent.length, 0);
});
