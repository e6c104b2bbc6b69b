import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IStatusReply } from '../src/api';
import { summarise } from '../src/health';
import { componentRows } from '../src/status/model';

/** /status with the active health probe on (nexus_server_ext/ai/probe.py): one component per probed
 * remote provider, `ok` while it answers, `degraded` while it is down and skipped. */
const STATUS: IStatusReply = {
  name: 'nexus',
  version: '0.1.0',
  user: 'ada',
  display_name: 'Ada',
  storage: { backend: 'sqlite', url: 'nexus.db', revision: '0007', healthy: true },
  components: [
    { name: 'provider_gateway', state: 'ok', detail: 'probe: ok 12 s ago', install_hint: null },
    {
      name: 'provider_openai',
      state: 'degraded',
      detail: 'down: connection refused (probed 3 s ago); skipped until a probe succeeds',
      install_hint: null
    }
  ],
  models: [],
  mcp_servers: []
};

test('the status dialog shows each probed provider: ok and when, or down and why', () => {
  assert.deepEqual(componentRows(STATUS), [
    { name: 'provider gateway', state: 'ok', stateLabel: 'ok', detail: 'probe: ok 12 s ago' },
    {
      name: 'provider openai',
      state: 'degraded',
      stateLabel: 'limited',
      detail: 'down: connection refused (probed 3 s ago); skipped until a probe succeeds'
    }
  ]);
});

test('a provider that is down counts as limited in the status bar', () => {
  const summary = summarise(STATUS);
  assert.equal(summary.severity, 'degraded');
  assert.equal(summary.label, 'NEXUS (1 limited)');
  assert.ok(summary.details.includes('provider_openai: degraded'));
});
