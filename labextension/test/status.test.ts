import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IStatusReply } from '../src/api';
import {
  chainRows,
  componentRows,
  heading,
  listing,
  mcpLines,
  missingKeySentence,
  storageLine
} from '../src/status/model';

type Step = IStatusReply['models'][number]['chain'][number];

const LOCAL: Step = { provider: 'local', model: 'SmolLM2-135M-Instruct', hosting: 'local', setup: 'configured', blocked: null };
const GATEWAY: Step = { provider: 'gateway', model: 'nexus-local', hosting: 'gateway', setup: 'not_configured', blocked: null };
const OPENAI: Step = { provider: 'openai', model: 'gpt-4o-mini', hosting: 'paid_api', setup: 'no_key', blocked: null };
const ANTHROPIC: Step = { provider: 'anthropic', model: 'claude-3-5-haiku-latest', hosting: 'paid_api', setup: 'no_key', blocked: null };

/** The shipped routing file on a laptop with no keys and no gateway. */
function shipped(overrides: Partial<IStatusReply> = {}): IStatusReply {
  return {
    name: 'nexus',
    version: '0.1.0',
    user: 'anonymous',
    display_name: 'Ada',
    storage: { backend: 'sqlite', url: 'nexus.db', revision: '0007', healthy: true },
    components: [
      { name: 'local_model', state: 'ok', detail: 'loaded on cpu in 0.3 s; 0 queued', install_hint: null },
      { name: 'voice', state: 'unavailable', detail: 'faster_whisper is not installed', install_hint: 'pip install "nexus-jupyter[voice]"' }
    ],
    models: [
      { task: 'code_generation', chain: [GATEWAY, OPENAI, LOCAL] },
      { task: 'natural_language', chain: [GATEWAY, ANTHROPIC, LOCAL] },
      { task: 'completion', chain: [GATEWAY, LOCAL] },
      { task: 'agent', chain: [GATEWAY, OPENAI, ANTHROPIC, LOCAL] }
    ],
    mcp_servers: [],
    ...overrides
  };
}

test('paid providers without a key are named, with what answers instead and where to set keys', () => {
  assert.equal(
    missingKeySentence(shipped()),
    'OpenAI and Anthropic have no key: code generation, chat and the agent answer with the local model ' +
      '(SmolLM2-135M-Instruct). Set keys with NEXUS: Set provider API key.'
  );
});

test('no sentence once every paid provider has a key, or when a chain has none', () => {
  const keyed = (s: Step): Step => (s.hosting === 'paid_api' ? { ...s, setup: 'configured' } : s);
  const status = shipped();
  const all = shipped({ models: status.models.map(m => ({ ...m, chain: m.chain.map(keyed) })) });
  assert.equal(missingKeySentence(all), null);
  assert.equal(missingKeySentence(shipped({ models: [{ task: 'completion', chain: [GATEWAY, LOCAL] }] })), null);
  // a step the admin policy blocks would not be used with a key either
  const blocked = { ...OPENAI, blocked: 'provider blocked by policy' };
  assert.equal(missingKeySentence(shipped({ models: [{ task: 'code_generation', chain: [blocked, LOCAL] }] })), null);
});

test('one provider, one task, a gateway that answers, and a chain left with no model', () => {
  const gateway = { ...GATEWAY, setup: 'configured' as const };
  const s = shipped({
    models: [
      { task: 'natural_language', chain: [gateway, ANTHROPIC, LOCAL] },
      { task: 'code_analysis', chain: [ANTHROPIC] }
    ]
  });
  assert.equal(
    missingKeySentence(s),
    'Anthropic has no key: chat answers with gateway/nexus-local; code analysis gets no answer. ' +
      'Set keys with NEXUS: Set provider API key.'
  );
  const custom = shipped({ models: [{ task: 'agent', chain: [{ ...OPENAI, provider: 'azure' }, LOCAL] }] });
  assert.match(missingKeySentence(custom) ?? '', /^Azure has no key: the agent answers with the local model/);
});

test('each chain lists its steps in order, marked, with the one that answers', () => {
  const blocked = { ...OPENAI, setup: 'configured' as const, blocked: 'model blocked by policy' };
  const rows = chainRows(shipped({ models: [{ task: 'natural_language', chain: [GATEWAY, ANTHROPIC, blocked, LOCAL] }] }));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].label, 'Chat');
  assert.deepEqual(
    rows[0].steps.map(s => [s.label, s.markLabel, s.answers]),
    [
      ['gateway/nexus-local', 'not configured', false],
      ['anthropic/claude-3-5-haiku-latest', 'no key', false],
      ['openai/gpt-4o-mini', 'blocked', false],
      ['local/SmolLM2-135M-Instruct', 'configured', true]
    ]
  );
  assert.equal(rows[0].steps[1].title, 'paid API; skipped');
  assert.equal(rows[0].steps[2].title, 'paid API; model blocked by policy');
  assert.equal(rows[0].steps[3].title, 'runs in this server');
});

test('components read as name, state and detail, with the install hint of a missing one', () => {
  assert.deepEqual(componentRows(shipped()), [
    { name: 'local model', state: 'ok', stateLabel: 'ok', detail: 'loaded on cpu in 0.3 s; 0 queued' },
    {
      name: 'voice',
      state: 'unavailable',
      stateLabel: 'unavailable',
      detail: 'faster_whisper is not installed - pip install "nexus-jupyter[voice]"'
    }
  ]);
});

test('storage, MCP servers and who NEXUS serves, in one line each', () => {
  assert.equal(storageLine(shipped()), 'sqlite nexus.db, revision 0007: ok');
  const url = shipped({ storage: { backend: 'sqlite', url: 'sqlite:///.../nexus.db', revision: '0007', healthy: true } });
  assert.equal(storageLine(url), 'sqlite:///.../nexus.db, revision 0007: ok');
  const down = shipped({ storage: { backend: 'postgresql', url: 'postgresql://nexus:***@db/nexus', revision: null, healthy: false } });
  assert.equal(storageLine(down), 'postgresql://nexus:***@db/nexus: unavailable');
  assert.equal(heading(shipped()), 'NEXUS 0.1.0 for Ada');
  assert.equal(heading(shipped({ display_name: '' })), 'NEXUS 0.1.0 for anonymous');
  assert.deepEqual(mcpLines(shipped()), []);
  const server = {
    name: 'files',
    transport: 'stdio' as const,
    target: 'mcp-files',
    state: 'connected' as const,
    tools: [{ name: 'mcp__files__read', tool: 'read', kind: 'read' as const }],
    offered: 3,
    missing: [],
    last_error: null
  };
  assert.deepEqual(mcpLines(shipped({ mcp_servers: [server] })), ['files (stdio mcp-files): 1 tool: read (read-only)']);
  assert.equal(listing(['a']), 'a');
  assert.equal(listing(['a', 'b', 'c']), 'a, b and c');
});
