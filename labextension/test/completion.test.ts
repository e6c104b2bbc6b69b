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
  send({ type: 'complete.done', id, text: 'return a + b', model: 'm', cancelled: false, suppressed: false });
  await consumer;
  assert.equal(seen[0], 'part:');
  assert.ok(seen.includes('part:return'));
  assert.equal(seen[seen.length - 1], 'done:return a + b');
  // a finished request is not cancelled again (only the prefetch it started, now pointless)
  await session.start('x = ', '', 'python', null);
  assert.ok(!t.sent.some(f => f.type === 'cancel' && f.id === id));
});

test('an empty prefix sends nothing', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  assert.equal(await session.start('   ', '', 'python', null), null);
  assert.equal(t.sent.length, 0);
});

function finish(t: ReturnType<typeof transport>, id: string, text: string, cancelled = false): void {
  t.handlers.get(id)!({ type: 'complete.done', id, text, model: 'm', cancelled, suppressed: false });
}

test('the cells above go with the request', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  await session.start('df.', '', 'python', 'a.ipynb', ['import pandas as pd']);
  assert.deepEqual((t.sent[0] as ICompleteFrame).cells, ['import pandas as pd']);
});

test('a shown suggestion prefetches the next one, and accepting it starts there at once', async () => {
  const t = transport();
  let slept = 0;
  const session = new CompletionSession(t, ids(), async () => void slept++);
  const cells = ['import numpy as np'];
  const first = (await session.start('def add(a, b):\n    return ', '', 'python', 'x.ipynb', cells)) as string;
  finish(t, first, 'a + b');
  // the suggestion is on screen: the completion after it is already asked for, with the same context
  const prefetch = t.sent[1] as ICompleteFrame;
  assert.equal(prefetch.type, 'complete');
  assert.equal(prefetch.prefix, 'def add(a, b):\n    return a + b');
  assert.deepEqual(prefetch.cells, cells);
  assert.equal(session.prefetched, 'def add(a, b):\n    return a + b');
  finish(t, prefetch.id, '\n\nprint(add(1, 2))');
  // the user accepts (Tab): the editor's new text is exactly the prefetched one
  const accepted = await session.start('def add(a, b):\n    return a + b', '', 'python', 'x.ipynb', cells);
  assert.equal(accepted, prefetch.id);
  assert.equal(slept, 1); // no debounce the second time
  const seen: string[] = [];
  for await (const u of session.updates(accepted as string)) {
    seen.push(`${u.done}:${u.text}`);
  }
  assert.deepEqual(seen, ['true:\n\nprint(add(1, 2))']);
  // and the one after that is prefetched in turn
  assert.equal((t.sent[t.sent.length - 1] as ICompleteFrame).prefix, 'def add(a, b):\n    return a + b\n\nprint(add(1, 2))');
});

test('a prefetched suggestion is never shown for other text', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  const first = (await session.start('x = ', ')', 'python', null)) as string;
  finish(t, first, '1');
  const prefetch = t.sent[1] as ICompleteFrame;
  // still running when the user types something else: it is cancelled, and a new request is made
  const other = await session.start('x = 2', ')', 'python', null);
  assert.notEqual(other, prefetch.id);
  assert.deepEqual(
    t.sent.slice(2).map(f => `${f.type}:${f.id}`),
    [`cancel:${prefetch.id}`, `complete:${other}`]
  );
  assert.equal(session.prefetched, null);
  // the same text before the cursor, but different text after it: not the same completion
  finish(t, other as string, '2');
  const next = t.sent[t.sent.length - 1] as ICompleteFrame;
  finish(t, next.id, '3');
  const elsewhere = await session.start('x = 22', '', 'python', null);
  assert.notEqual(elsewhere, next.id);
});

test('nothing is prefetched after an empty or cancelled suggestion, or when it is turned off', async () => {
  const t = transport();
  const session = new CompletionSession(t, ids(), async () => undefined);
  const a = (await session.start('x = ', '', 'python', null)) as string;
  finish(t, a, ''); // the server held a doubtful suggestion back
  const b = (await session.start('y = ', '', 'python', null)) as string;
  finish(t, b, '', true);
  session.prefetch = false;
  const c = (await session.start('z = ', '', 'python', null)) as string;
  finish(t, c, '3');
  assert.deepEqual(t.sent.map(f => f.type), ['complete', 'complete', 'complete']);
  assert.equal(session.prefetched, null);
});
