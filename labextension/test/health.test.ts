import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { summarise, unreachable } from '../src/health';

const base = {
  version: '0.1.0',
  storage: { backend: 'sqlite', healthy: true },
  components: [
    { name: 'local_model', state: 'ok' as const, detail: 'installed' },
    { name: 'voice', state: 'ok' as const, detail: 'installed' }
  ],
  models: [{ task: 'completion', chain: [{ provider: 'local', model: 'SmolLM2-135M-Instruct' }] }]
};

test('all components ok reads as ready', () => {
  const s = summarise(base);
  assert.equal(s.severity, 'ok');
  assert.equal(s.label, 'NEXUS ready');
  assert.ok(s.details.includes('completion: local/SmolLM2-135M-Instruct'));
});

test('a missing extra is shown with its install hint', () => {
  const s = summarise({
    ...base,
    components: [
      { name: 'voice', state: 'unavailable', detail: 'missing', install_hint: 'pip install "nexus-jupyter[voice]"' }
    ]
  });
  assert.equal(s.severity, 'degraded');
  assert.equal(s.label, 'NEXUS (1 limited)');
  assert.ok(s.details.some(d => d.includes('nexus-jupyter[voice]')));
});

test('unhealthy storage means offline', () => {
  const s = summarise({ ...base, storage: { backend: 'postgresql', healthy: false } });
  assert.equal(s.severity, 'down');
  assert.ok(s.details.includes('Storage: postgresql UNAVAILABLE'));
});

test('an unreachable server says so', () => {
  const s = unreachable('HTTP 404');
  assert.equal(s.label, 'NEXUS offline');
  assert.match(s.details[0], /HTTP 404/);
});
