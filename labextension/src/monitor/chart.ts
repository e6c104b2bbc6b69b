/**
 * Line charts for the model dashboard, as pure geometry: the y axis's ticks, the x axis's clock
 * times, each line's SVG path and the dots for values with no neighbour (a single answer in the
 * half hour, or one between quiet intervals: a path of one point draws nothing), so all of it is
 * unit-tested without a browser; ``panel.ts`` turns them into SVG elements.
 *
 * Why no charting library: JupyterLab shares no charting package with its extensions (the d3 in
 * node_modules is mermaid's own copy; Vega is bundled inside its renderer extension), so a library
 * would ship inside this extension, on every page load: d3's scale, axis, shape, selection and
 * time-format modules, tree-shaken, are 60 KB minified (21 KB gzipped). Four small line charts need
 * round ticks, clock labels and a legend: the few functions below, unit-tested, drawn with
 * JupyterLab's theme variables (so dark themes work without a library theme).
 */

export interface IChartLine {
  key: string;
  label: string;
  /** What the name means, after the value in the legend. */
  hint?: string;
}

export interface IChartSpec {
  title: string;
  /** The y axis's unit; ``perInterval``: events per point of the series ("per 10 s"), whose legend
   * gives their total over the series rather than the newest value. */
  unit: string;
  perInterval?: boolean;
  /** Whole-number ticks (counts). */
  counts?: boolean;
  lines: IChartLine[];
}

export const CHARTS: IChartSpec[] = [
  {
    title: 'Latency p50',
    unit: 'ms',
    lines: [
      { key: 'latency_ms_p50', label: 'answer' },
      { key: 'ttft_ms_p50', label: 'first token' }
    ]
  },
  { title: 'Tokens per second', unit: 'tok/s', lines: [{ key: 'tokens_per_s', label: 'speed' }] },
  {
    title: 'Fallbacks and repairs',
    unit: '',
    perInterval: true,
    counts: true,
    lines: [
      { key: 'fallbacks', label: 'fallbacks', hint: 'another model answered' },
      { key: 'repairs', label: 'repairs', hint: 'the same model asked again' }
    ]
  },
  {
    title: 'Queue depth',
    unit: 'tasks',
    counts: true,
    lines: [
      { key: 'queue_pending', label: 'waiting' },
      { key: 'queue_running', label: 'running' }
    ]
  }
];

/** Where the lines go inside the SVG's viewBox (the axes' labels sit outside it). */
export interface IPlotArea {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type Point = Record<string, unknown>;

export function value(p: Point, key: string): number | null {
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

/** Round y-axis values from 0 to at least ``max``, about ``count`` steps of 1, 2 or 5 x 10^n
 * (whole numbers for counts); the last one is the top of the chart. */
export function niceTicks(max: number, counts = false, count = 4): number[] {
  const top = max > 0 ? max : 1;
  const raw = top / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = ([1, 2, 5, 10].find(m => m * magnitude >= raw) ?? 10) * magnitude;
  if (counts) {
    step = Math.max(1, Math.round(step));
  }
  const ticks: number[] = [];
  for (let i = 0; i <= Math.ceil(top / step - 1e-9); i++) {
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return ticks;
}

/** A tick's label: 0.25, 40, 850, 1.2k, 12k. */
export function formatTick(v: number): string {
  if (Math.abs(v) >= 10_000) {
    return `${Math.round(v / 1000)}k`;
  }
  if (Math.abs(v) >= 1000) {
    return `${Number((v / 1000).toFixed(1))}k`;
  }
  return String(Number(v.toFixed(2)));
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** A clock time in the browser's time zone: 14:05, or 14:05:30 with ``seconds``. */
export function clockTime(ms: number, seconds = false): string {
  const d = new Date(ms);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return seconds ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

const TIME_STEPS_S = [10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]; // the series: every 10 s

/**
 * The x axis's labels: the points that fall on round clock times (every 5 min over half an hour:
 * 14:05 ... 14:30; every 10 s over the first minute), as many as fit ``width`` at ``charWidth``
 * per character. ``times``: each point's start, in ms. A series whose points miss every round time
 * labels its first point.
 */
export function timeTicks(times: number[], width: number, charWidth = 5): { index: number; label: string }[] {
  if (times.length === 0) {
    return [];
  }
  for (const step of TIME_STEPS_S) {
    const seconds = step < 60;
    const fits = Math.max(1, Math.floor(width / ((seconds ? 8 : 5) * charWidth + 10)));
    const at = times
      .map((t, index) => ({ index, d: new Date(t) }))
      .filter(({ d }) => (d.getHours() * 3600 + d.getMinutes() * 60 + d.getSeconds()) % step === 0);
    if (at.length > 0 && at.length <= fits) {
      return at.map(({ index }) => ({ index, label: clockTime(times[index], seconds) }));
    }
  }
  return [{ index: 0, label: clockTime(times[0], true) }];
}

/** Where point ``i`` of ``count`` sits across the plot (one point: the middle). */
export function xAt(i: number, count: number, area: IPlotArea): number {
  return count > 1 ? area.left + (i * area.width) / (count - 1) : area.left + area.width / 2;
}

/** Where ``v`` sits on a y axis from 0 (bottom) to ``top``. */
export function yAt(v: number, top: number, area: IPlotArea): number {
  return area.top + area.height - (v / top) * area.height;
}

/** One line: SVG path data (a missing value starts a new segment), how many values it has, and a
 * dot for each value without a neighbour on either side, which a path alone would not show. */
export function linePath(
  points: Point[],
  key: string,
  top: number,
  area: IPlotArea
): { d: string; drawn: number; dots: { index: number; x: number; y: number }[] } {
  const parts: string[] = [];
  const dots: { index: number; x: number; y: number }[] = [];
  let pen = 'M';
  let drawn = 0;
  points.forEach((p, i) => {
    const v = value(p, key);
    if (v === null) {
      pen = 'M';
      return;
    }
    const x = xAt(i, points.length, area);
    const y = yAt(v, top, area);
    parts.push(`${pen}${x.toFixed(1)},${y.toFixed(1)}`);
    const before = i > 0 ? value(points[i - 1], key) : null;
    const after = i + 1 < points.length ? value(points[i + 1], key) : null;
    if (before === null && after === null) {
      dots.push({ index: i, x, y });
    }
    pen = 'L';
    drawn += 1;
  });
  return { d: parts.join(' '), drawn, dots };
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

/** The sum of ``key`` over the series (a count's total for the legend). */
export function total(points: Point[], key: string): number {
  return points.reduce((sum, p) => sum + (value(p, key) ?? 0), 0);
}
