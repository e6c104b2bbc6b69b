/**
 * Turning a /status reply into what the status bar shows: one word and a
 * tooltip a person can act on. Pure functions, unit-tested without a browser.
 */

export type Severity = 'ok' | 'degraded' | 'down';

export interface IStatusLike {
  version: string;
  storage: { backend: string; healthy: boolean };
  components: { name: string; state: 'ok' | 'degraded' | 'unavailable'; detail: string; install_hint?: string | null }[];
  models: { task: string; chain: { provider: string; model: string }[] }[];
}

export interface IHealthSummary {
  severity: Severity;
  label: string;
  details: string[];
  /** The local model is loading in the background: poll until it is ready. */
  loading: boolean;
}

export const LOADING_LABEL = 'NEXUS: loading model...';

/**
 * The server's `local_model` detail starts with the engine's state (`loading`,
 * `loaded on ...`, `not loaded; ...`, `failed to load: ...`); see
 * nexus_server_ext/ai/engine_status.py.
 */
export function modelLoading(status: IStatusLike): boolean {
  return status.components.some(c => c.name === 'local_model' && c.state === 'ok' && c.detail.startsWith('loading'));
}

export function summarise(status: IStatusLike): IHealthSummary {
  const details: string[] = [`NEXUS ${status.version}`];
  details.push(`Storage: ${status.storage.backend} ${status.storage.healthy ? 'ok' : 'UNAVAILABLE'}`);
  const problems = status.components.filter(c => c.state !== 'ok');
  for (const c of status.components) {
    const hint = c.state !== 'ok' && c.install_hint ? ` (${c.install_hint})` : '';
    const shown = c.name === 'local_model' && c.state === 'ok' ? ` - ${c.detail}` : '';
    details.push(`${c.name}: ${c.state}${hint}${shown}`);
  }
  for (const route of status.models) {
    details.push(`${route.task}: ${route.chain.map(m => `${m.provider}/${m.model}`).join(' -> ')}`);
  }
  let severity: Severity = 'ok';
  if (!status.storage.healthy) {
    severity = 'down';
  } else if (problems.length > 0) {
    severity = 'degraded';
  }
  const loading = severity !== 'down' && modelLoading(status);
  const label = loading
    ? LOADING_LABEL
    : severity === 'ok'
      ? 'NEXUS ready'
      : severity === 'down'
        ? 'NEXUS offline'
        : `NEXUS (${problems.length} limited)`;
  return { severity, label, details, loading };
}

export function unreachable(message: string): IHealthSummary {
  return {
    severity: 'down',
    label: 'NEXUS offline',
    details: [`The NEXUS server extension did not answer: ${message}`],
    loading: false
  };
}
