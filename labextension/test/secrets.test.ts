import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import type { IProviderSecretState } from '../src/api';
import { describeSecretState, providerOfLabel } from '../src/secrets/state';

const none: IProviderSecretState = {
  provider: 'claude',
  kind: 'anthropic',
  user_key_set: false,
  user_key_updated_at: null,
  server_key_set: false,
  server_key_updated_at: null,
  environment_key_set: false,
  in_use: null
};

test('a provider without any key says so', () => {
  assert.equal(describeSecretState(none), 'claude (anthropic): no key');
});

test('the key in use is named with the day it was set, never shown', () => {
  const own = { ...none, user_key_set: true, user_key_updated_at: '2026-03-04T05:06:07Z', in_use: 'user' as const };
  assert.equal(describeSecretState(own), 'claude (anthropic): uses your own key, set 2026-03-04');
  const env = { ...none, provider: 'openai', kind: 'openai', environment_key_set: true, in_use: 'environment' as const };
  assert.equal(describeSecretState(env), 'openai: uses the environment key');
});

test('a picker label leads back to its provider', () => {
  assert.equal(providerOfLabel(describeSecretState(none)), 'claude');
  assert.equal(providerOfLabel('openai: uses the environment key'), 'openai');
});
