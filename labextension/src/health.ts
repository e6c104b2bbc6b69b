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
}

export function summarise(status: IStatusLike): IHealthSummary {
  const details: string[] = [`NEXUS ${status.version}`];
  details.push(`Storage: ${status.storage.backend} ${status.storage.healthy ? 'ok' : 'UNAVAILABLE'}`);
  const problems = status.components.filter(c => c.state !== 'ok');
  for (const c of status.components) {
    const hint = c.state !== 'ok' && c.install_hint ? ` (${c.install_hint})` : '';
    details.push(`${c.name}: ${c.state}${hint}`);
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
  const label =
    severity === 'ok' ? 'NEXUS ready' : severity === 'down' ? 'NEXUS offline' : `NEXUS (${problems.length} limited)`;
  return { severity, label, details };
}

export function unreachable(message: string): IHealthSummary {
  return { severity: 'down', label: 'NEXUS offline', details: [`The NEXUS server extension did not answer: ${message}`] };
}
