/**
 * The model dashboard in JupyterLab's right sidebar: the models to run here
 * (pull one from the Hub, use it: ``catalog.ts``), then latency, tokens per
 * second, fallbacks and repairs, and queue depth over the last half hour,
 * plotted from ``/metrics/summary``'s series (axes, clock times and legend from
 * ``chart.ts``) and refreshed while the panel is visible.
 */
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { fetchMetricsSummary, fetchStatus, IMetricsSummary } from '../api';
import { ModelCatalogView } from './catalog';
import { IMCPServer, mcpServerLine } from './mcp';
import {
  CHARTS,
  chartMax,
  clockTime,
  formatTick,
  IChartSpec,
  IPlotArea,
  latest,
  linePath,
  niceTicks,
  Point,
  timeTicks,
  total,
  xAt,
  yAt
} from './chart';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 124;
const CHAR_WIDTH = 5.5; // of the 10 px axis font, for fitting the time labels
const REFRESH_MS = 5_000;

/** The plot inside a chart ``width`` px wide: room for the y axis's values on the left, its unit
 * above, the clock times below. */
function plotArea(width: number): IPlotArea {
  return { left: 36, top: 16, width: width - 36 - 12, height: HEIGHT - 16 - 22 };
}

function round(v: number | null): string {
  return v === null ? '–' : String(Math.round(v * 10) / 10);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, v] of Object.entries(attrs)) {
    node.setAttribute(name, String(v));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function unitOf(spec: IChartSpec, intervalS: number): string {
  return spec.perInterval ? `per ${intervalS} s` : spec.unit;
}

/** The y axis (grid lines, values, unit) and the x axis (clock times), behind the lines. */
function axes(times: number[], ticks: number[], unit: string, width: number): SVGGElement[] {
  const area = plotArea(width);
  const top = ticks[ticks.length - 1];
  const bottom = area.top + area.height;
  const y = svg('g', { class: 'jp-nexus-chart-yaxis' });
  y.append(svg('text', { x: 2, y: 10, class: 'jp-nexus-chart-unit' }, unit));
  for (const tick of ticks) {
    const at = yAt(tick, top, area);
    y.append(
      svg('line', { x1: area.left, x2: area.left + area.width, y1: at, y2: at, class: 'jp-nexus-chart-grid' }),
      svg('text', { x: area.left - 5, y: at + 3.5, 'text-anchor': 'end' }, formatTick(tick))
    );
  }
  const x = svg('g', { class: 'jp-nexus-chart-xaxis' });
  x.append(svg('line', { x1: area.left, x2: area.left + area.width, y1: bottom, y2: bottom }));
  for (const { index, label } of timeTicks(times, area.width, CHAR_WIDTH)) {
    const at = xAt(index, times.length, area);
    const half = (label.length * CHAR_WIDTH) / 2;
    const anchor = at + half > width - 1 ? 'end' : at - half < 1 ? 'start' : 'middle';
    x.append(
      svg('line', { x1: at, x2: at, y1: bottom, y2: bottom + 3 }),
      svg('text', { x: at, y: bottom + 15, 'text-anchor': anchor }, label)
    );
  }
  return [y, x];
}

/** One chart ``width`` px wide: a title, the plot with its axes, and a legend naming each line in its
 * colour with its newest value (or, for events per interval, their total over the series). */
export function renderChart(points: Point[], spec: IChartSpec, intervalS = 10, width = 300): HTMLElement {
  const area = plotArea(width);
  const figure = document.createElement('figure');
  figure.className = 'jp-nexus-chart';
  const caption = document.createElement('figcaption');
  caption.textContent = spec.title;
  const times = points.map(p => Date.parse(String(p.at)));
  const ticks = niceTicks(chartMax(points, spec.lines), spec.counts);
  const top = ticks[ticks.length - 1];
  const unit = unitOf(spec, intervalS);
  const plot = svg('svg', { viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img' });
  plot.append(...axes(times, ticks, unit, width));
  if (points.length === 0) {
    const middle = { x: area.left + area.width / 2, y: area.top + area.height / 2, 'text-anchor': 'middle' };
    plot.append(svg('text', { ...middle, class: 'jp-nexus-chart-empty' }, 'No numbers yet'));
  }
  const legend = document.createElement('ul');
  legend.className = 'jp-nexus-chart-legend';
  const minutes = Math.max(1, Math.round((points.length * intervalS) / 60));
  spec.lines.forEach((line, i) => {
    const colour = `jp-mod-line${i}`;
    const { d, drawn, dots } = linePath(points, line.key, top, area);
    const path = svg('path', { d: d || 'M0,0', class: `jp-nexus-chart-line ${colour}` });
    path.dataset.series = line.key;
    path.dataset.points = String(drawn);
    path.append(svg('title', {}, line.label));
    plot.append(path);
    for (const dot of dots) {
      const circle = svg('circle', { cx: dot.x, cy: dot.y, r: 3, class: `jp-nexus-chart-dot ${colour}` });
      circle.dataset.series = line.key;
      const v = points[dot.index][line.key] as number;
      circle.append(svg('title', {}, `${line.label}: ${round(v)} at ${clockTime(times[dot.index], true)}`));
      plot.append(circle);
    }
    const item = document.createElement('li');
    item.dataset.series = line.key;
    const swatch = svg('svg', { viewBox: '0 0 18 8', width: 18, height: 8, 'aria-hidden': 'true' });
    swatch.append(svg('line', { x1: 0, x2: 18, y1: 4, y2: 4, class: `jp-nexus-chart-line ${colour}` }));
    const name = document.createElement('span');
    name.textContent = line.label;
    const reading = document.createElement('b');
    reading.textContent = spec.perInterval
      ? `${total(points, line.key)} in ${minutes} min`
      : `${round(latest(points, line.key))}${spec.unit ? ` ${spec.unit}` : ''}`;
    item.append(swatch, ' ', name, ' ', reading);
    if (line.hint) {
      const hint = document.createElement('span');
      hint.className = 'jp-nexus-chart-hint';
      hint.textContent = ` (${line.hint})`;
      item.append(hint);
    }
    legend.append(item);
  });
  plot.setAttribute('aria-label', `${spec.title} (${unit}): ${legend.textContent}`);
  figure.append(caption, plot, legend);
  return figure;
}

export class DashboardPanel extends Widget {
  constructor(icon: LabIcon) {
    super();
    this.id = 'nexus-dashboard';
    this.addClass('jp-nexus-dashboard');
    this.title.icon = icon;
    this.title.caption = 'NEXUS model dashboard';
    this._status.className = 'jp-nexus-dashboard-status';
    this._charts.className = 'jp-nexus-dashboard-charts';
    const heading = document.createElement('h3');
    heading.textContent = 'NEXUS models';
    this._mcp.className = 'jp-nexus-dashboard-mcp';
    this.node.append(heading, this._status, this._models.node, this._charts, this._mcp);
  }

  async refresh(): Promise<void> {
    void this._models.refresh(); // the models to pull and use, with a running pull's progress
    let summary: IMetricsSummary;
    try {
      summary = await fetchMetricsSummary();
    } catch (err) {
      this._status.textContent = `The numbers are not available: ${(err as Error).message}`;
      return;
    }
    const points = summary.series as unknown as Point[];
    const minutes = Math.round((points.length * summary.series_interval_s) / 60);
    this._status.textContent =
      `Last ${minutes} min, one point per ${summary.series_interval_s} s · ${plural(summary.requests, 'request')}, ` +
      `${plural(summary.fallbacks, 'fallback')}, ${plural(summary.repairs, 'repair')}, ` +
      `queue ${summary.queue_pending} waiting / ${summary.queue_running} running`;
    this._series = { points, interval: summary.series_interval_s };
    this._drawCharts();
    this.node.dataset.points = String(points.length);
    await this._refreshMCP();
  }

  /** The charts at the sidebar's width in pixels, so their text stays the theme's size. */
  private _drawCharts(): void {
    if (this._series === null) {
      return; // nothing fetched yet
    }
    const width = Math.max(220, Math.floor(this._charts.clientWidth || 300));
    const { points, interval } = this._series;
    this._charts.replaceChildren(...CHARTS.map(spec => renderChart(points, spec, interval, width)));
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (this.isVisible) {
      this._drawCharts();
    }
  }

  private async _refreshMCP(): Promise<void> {
    let servers: IMCPServer[];
    try {
      servers = (await fetchStatus()).mcp_servers ?? [];
    } catch {
      return; // the charts above already say NEXUS is unreachable
    }
    if (servers.length === 0) {
      this._mcp.replaceChildren();
      return;
    }
    const heading = document.createElement('h4');
    heading.textContent = 'MCP servers (tools for the agent)';
    const list = document.createElement('ul');
    for (const server of servers) {
      const item = document.createElement('li');
      item.dataset.state = server.state;
      item.textContent = mcpServerLine(server);
      list.append(item);
    }
    this._mcp.replaceChildren(heading, list);
  }

  protected onAfterShow(): void {
    void this.refresh();
    this._timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  protected onAfterHide(): void {
    window.clearInterval(this._timer);
    this._models.stopPolling();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this._models.stopPolling();
    super.dispose();
  }

  private _status = document.createElement('div');
  private _charts = document.createElement('div');
  private _series: { points: Point[]; interval: number } | null = null;
  private _mcp = document.createElement('div');
  private _models = new ModelCatalogView();
  private _timer: number | undefined;
}
