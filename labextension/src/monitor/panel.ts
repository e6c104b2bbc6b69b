/**
 * The model dashboard in JupyterLab's right sidebar: the models to run here
 * (pull one from the Hub, use it: ``catalog.ts``), then latency, tokens per
 * second, fallbacks and queue depth over the last half hour, plotted from
 * ``/metrics/summary``'s series and refreshed while the panel is visible.
 */
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { fetchMetricsSummary, fetchStatus, IMetricsSummary } from '../api';
import { ModelCatalogView } from './catalog';
import { IMCPServer, mcpServerLine } from './mcp';
import { CHARTS, chartMax, IChartSpec, latest, linePath, Point } from './chart';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 280;
const HEIGHT = 90;
const REFRESH_MS = 5_000;

function round(v: number | null): string {
  return v === null ? '–' : String(Math.round(v * 10) / 10);
}

export function renderChart(points: Point[], spec: IChartSpec): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'jp-nexus-chart';
  const max = chartMax(points, spec.lines);
  const caption = document.createElement('figcaption');
  caption.textContent = `${spec.title}: ${spec.lines.map(l => `${l.label} ${round(latest(points, l.key))}`).join(', ')} (max ${round(max)})`;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('width', '100%'); // scales with the sidebar; the viewBox keeps the proportions
  spec.lines.forEach((line, i) => {
    const { d, drawn } = linePath(points, line.key, max, WIDTH, HEIGHT);
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d || 'M0,0');
    path.setAttribute('class', `jp-nexus-chart-line jp-mod-line${i}`);
    path.dataset.series = line.key;
    path.dataset.points = String(drawn);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = line.label;
    path.appendChild(title);
    svg.appendChild(path);
  });
  figure.append(caption, svg);
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
      `Last ${minutes} min, one point per ${summary.series_interval_s} s · ${summary.requests} requests, ` +
      `${summary.fallbacks} fallbacks, queue ${summary.queue_pending} waiting / ${summary.queue_running} running`;
    this._charts.replaceChildren(...CHARTS.map(spec => renderChart(points, spec)));
    this.node.dataset.points = String(points.length);
    await this._refreshMCP();
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
  private _mcp = document.createElement('div');
  private _models = new ModelCatalogView();
  private _timer: number | undefined;
}
