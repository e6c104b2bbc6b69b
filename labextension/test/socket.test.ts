import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { ServerFrame } from '../src/api';
import { ISocketLike, NexusSocket } from '../src/socket';

class FakeSocket implements ISocketLike {
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({});
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const client = new NexusSocket({
    url: 'ws://x/nexus/api/v1/ws',
    factory: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => undefined
  });
  return { client, sockets, timers };
}

test('frames sent while connecting are queued and flushed on open', () => {
  const { client, sockets } = harness();
  client.request({ type: 'chat', id: 'a', text: 'hi' }, () => undefined);
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].sent, []);
  sockets[0].open();
  assert.deepEqual(sockets[0].sent.map(s => JSON.parse(s).id), ['a']);
  assert.equal(client.state, 'open');
});

test('frames reach the request with their id until the final frame', () => {
  const { client, sockets } = harness();
  const seen: ServerFrame[] = [];
  const others: ServerFrame[] = [];
  client.listen(f => others.push(f));
  client.connect();
  sockets[0].open();
  client.request({ type: 'chat', id: 'a', text: 'hi' }, f => seen.push(f));
  sockets[0].receive({ type: 'chat.delta', id: 'a', text: 'He' });
  sockets[0].receive({ type: 'chat.delta', id: 'b', text: 'not mine' });
  sockets[0].receive({ type: 'chat.done', id: 'a', conversation_id: 'c', message_id: 'm', model: 'x', provider: 'y', latency_ms: 1, tokens_out: 1, fallback_path: [], citations: [], cancelled: false });
  sockets[0].receive({ type: 'chat.delta', id: 'a', text: 'late' });
  assert.deepEqual(seen.map(f => f.type), ['chat.delta', 'chat.done']);
  assert.equal(others.length, 2, 'frames of unknown ids go to the listeners');
  assert.deepEqual(client.pending, []);
});

test('cancel sends a cancel frame only for a running request', () => {
  const { client, sockets } = harness();
  client.connect();
  sockets[0].open();
  client.cancel('nothing');
  client.request({ type: 'complete', id: 'k', prefix: 'def f(' }, () => undefined);
  client.cancel('k');
  assert.deepEqual(sockets[0].sent.map(s => JSON.parse(s)), [
    { type: 'complete', id: 'k', prefix: 'def f(' },
    { type: 'cancel', id: 'k' }
  ]);
});

test('a lost connection ends open requests and reconnects with back-off', () => {
  const { client, sockets, timers } = harness();
  const states: string[] = [];
  client.onStateChange(s => states.push(s));
  client.connect();
  sockets[0].open();
  const seen: ServerFrame[] = [];
  client.request({ type: 'chat', id: 'a', text: 'hi' }, f => seen.push(f));
  sockets[0].drop();
  assert.equal(seen.length, 1);
  assert.equal(seen[0].type, 'error');
  assert.equal((seen[0] as { error: string }).error, 'disconnected');
  assert.deepEqual(timers.map(t => t.ms), [500]);
  timers[0].fn();
  assert.equal(sockets.length, 2);
  sockets[1].drop();
  assert.deepEqual(timers.map(t => t.ms), [500, 1000]);
  timers[1].fn();
  sockets[2].open();
  assert.deepEqual(states, ['connecting', 'open', 'closed', 'connecting', 'closed', 'connecting', 'open']);
  // after a successful open the back-off starts again from the beginning
  sockets[2].drop();
  assert.equal(timers[2].ms, 500);
});

test('garbage from the server is ignored', () => {
  const { client, sockets } = harness();
  const seen: ServerFrame[] = [];
  client.listen(f => seen.push(f));
  client.connect();
  sockets[0].open();
  sockets[0].onmessage?.({ data: 'not json' });
  assert.equal(seen.length, 0);
});

test('dispose stops reconnecting', () => {
  const { client, sockets, timers } = harness();
  client.connect();
  sockets[0].open();
  client.dispose();
  sockets[0].drop();
  assert.equal(timers.length, 0);
  assert.equal(client.state, 'closed');
});

test('notebook chat frames wait for the connection and collaborators\' frames reach the listeners', () => {
  const { client, sockets } = harness();
  const heard: ServerFrame[] = [];
  client.listen(f => heard.push(f));
  client.send({ type: 'notebook.join', path: 'team.ipynb' });
  assert.deepEqual(sockets[0].sent, []);
  sockets[0].open();
  assert.deepEqual(JSON.parse(sockets[0].sent[0]), { type: 'notebook.join', path: 'team.ipynb' });
  // a collaborator's answer streams in under an id this tab never sent
  sockets[0].receive({ type: 'chat.started', id: 'bob1', conversation_id: 'c', intent: 'chat', context: [], author: 'Bob' });
  sockets[0].receive({ type: 'chat.delta', id: 'bob1', text: 'Hello' });
  assert.deepEqual(heard.map(f => f.type), ['chat.started', 'chat.delta']);
});
