import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { LOADING_LABEL, summarise, unreachable } from '../src/health';

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

test('a model loading in the background reads as loading, then ready', () => {
  const loading = summarise({
    ...base,
    components: [{ name: 'local_model', state: 'ok', detail: 'loading' }, base.components[1]]
  });
  assert.equal(loading.label, LOADING_LABEL);
  assert.equal(loading.label, 'NEXUS: loading model...');
  assert.equal(loading.loading, true);
  assert.equal(loading.severity, 'ok');
  assert.ok(loading.details.includes('local_model: ok - loading'));

  const loaded = summarise({
    ...base,
    components: [
      { name: 'local_model', state: 'ok', detail: 'loaded on cpu in 0.3 s; 0 queued' },
      base.components[1]
    ]
  });
  assert.equal(loaded.label, 'NEXUS ready');
  assert.equal(loaded.loading, false);
});

test('a model not loaded yet (no background load asked) is not polled for', () => {
  const s = summarise({
    ...base,
    components: [{ name: 'local_model', state: 'ok', detail: 'not loaded; loads on first use' }]
  });
  assert.equal(s.loading, false);
  assert.equal(s.label, 'NEXUS ready');
});

test('offline storage wins over a loading model', () => {
  const s = summarise({
    ...base,
    storage: { backend: 'sqlite', healthy: false },
    components: [{ name: 'local_model', state: 'ok', detail: 'loading' }]
  });
  assert.equal(s.label, 'NEXUS offline');
  assert.equal(s.loading, false);
  assert.equal(unreachable('x').loading, false);
});
