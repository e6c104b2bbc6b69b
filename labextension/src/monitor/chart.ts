/**
 * Line charts for the model dashboard, as SVG path data: pure, so the scaling
 * and the gaps (an interval without an answer has no latency) are unit-tested.
 */

export interface IChartLine {
  key: string;
  label: string;
}

export interface IChartSpec {
  title: string;
  lines: IChartLine[];
}

export const CHARTS: IChartSpec[] = [
  { title: 'Latency p50 (ms)', lines: [{ key: 'latency_ms_p50', label: 'answer' }, { key: 'ttft_ms_p50', label: 'first token' }] },
  { title: 'Tokens per second', lines: [{ key: 'tokens_per_s', label: 'speed' }] },
  { title: 'Fallbacks', lines: [{ key: 'fallbacks', label: 'fallbacks' }] },
  { title: 'Queue depth', lines: [{ key: 'queue_pending', label: 'waiting' }, { key: 'queue_running', label: 'running' }] }
];

export type Point = Record<string, unknown>;

function value(p: Point, key: string): number | null {
  const v = p[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The largest value of ``lines`` (at least 1, so a flat zero line sits on the axis). */
export function chartMax(points: Point[], lines: IChartLine[]): number {
  let max = 1;
  for (const line of lines) {
    for (const p of points) {
      const v = value(p, line.key);
      if (v !== null && v > max) {
        max = v;
      }
    }
  }
  return max;
}

/** SVG path data for one line; a missing value starts a new segment. */
export function linePath(points: Point[], key: string, max: number, width: number, height: number, pad = 6): { d: string; drawn: number } {
  const x = (i: number) => (points.length > 1 ? pad + (i * (width - 2 * pad)) / (points.length - 1) : width / 2);
  const y = (v: number) => height - pad - (v / max) * (height - 2 * pad);
  const parts: string[] = [];
  let pen = 'M';
  let drawn = 0;
  points.forEach((p, i) => {
    const v = value(p, key);
    if (v === null) {
      pen = 'M';
      return;
    }
    parts.push(`${pen}${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    pen = 'L';
    drawn += 1;
  });
  return { d: parts.join(' '), drawn };
}

/** The newest value of ``key``, or null. */
export function latest(points: Point[], key: string): number | null {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = value(points[i], key);
    if (v !== null) {
      return v;
    }
  }
  return null;
}
