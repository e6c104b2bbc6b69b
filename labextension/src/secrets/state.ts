/**
 * How a provider's API keys read in the "set a key" picker: which key the user's requests use, in
 * words, never the key. Pure functions, unit-tested without a browser.
 */
import type { IProviderSecretState } from '../api';

const SOURCE: Record<NonNullable<IProviderSecretState['in_use']>, string> = {
  user: 'your own key',
  server: "the server's key",
  environment: 'the environment key'
};

/** "openai (openai): uses your own key, set 2026-01-02" or "claude (anthropic): no key". */
export function describeSecretState(state: IProviderSecretState): string {
  const name = state.provider === state.kind ? state.provider : `${state.provider} (${state.kind})`;
  if (state.in_use === null) {
    return `${name}: no key`;
  }
  const when =
    state.in_use === 'user'
      ? state.user_key_updated_at
      : state.in_use === 'server'
        ? state.server_key_updated_at
        : null;
  const since = when ? `, set ${when.slice(0, 10)}` : '';
  return `${name}: uses ${SOURCE[state.in_use]}${since}`;
}

/** The provider a picker label stands for (labels start with the provider's name). */
export function providerOfLabel(label: string): string {
  return label.split(/[ :]/, 1)[0];
}
