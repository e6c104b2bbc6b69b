/**
 * The NEXUS JupyterLab extension. This plugin shows NEXUS's health in the
 * status bar and offers "NEXUS: Show status" and the provider API key commands
 * (./secrets/) in the command palette; the websocket client, chat, AI actions,
 * debug panel and inline completion are the plugins in ./plugins.ts.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, showDialog, Dialog } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { fetchStatus } from './api';
import { IHealthSummary, summarise, unreachable } from './health';
import { panelPlugins, workspacePlugin } from './plugins';
import { addSecretCommands } from './secrets/commands';
import { progressPlugin } from './progress/plugin';

export namespace CommandIDs {
  export const showStatus = 'nexus:show-status';
}

const REFRESH_MS = 30_000;
// While the local model loads in the background (it starts when this page first asks for the
// status), the item polls quickly so it turns to "ready" as soon as the model is.
const LOADING_REFRESH_MS = 1_000;

async function readHealth(): Promise<IHealthSummary> {
  try {
    return summarise(await fetchStatus());
  } catch (err) {
    return unreachable((err as Error).message);
  }
}

class HealthItem extends Widget {
  constructor() {
    super();
    this.addClass('jp-nexus-health');
    this.node.textContent = 'NEXUS …';
  }

  display(summary: IHealthSummary): void {
    this.node.textContent = summary.label;
    this.node.title = summary.details.join('\n');
    this.node.dataset.severity = summary.severity;
    this.node.dataset.loading = String(summary.loading);
  }
}

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:status',
  description: 'Shows NEXUS health in the status bar and the command palette.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null, palette: ICommandPalette | null) => {
    const item = new HealthItem();
    let timer: number | undefined;
    const refresh = async () => {
      const summary = await readHealth();
      item.display(summary);
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void refresh(), summary.loading ? LOADING_REFRESH_MS : REFRESH_MS);
      return summary;
    };
    app.commands.addCommand(CommandIDs.showStatus, {
      label: 'NEXUS: Show status',
      execute: async () => {
        const summary = await refresh();
        const body = new Widget();
        const list = document.createElement('pre');
        list.className = 'jp-nexus-status-details';
        list.textContent = summary.details.join('\n');
        body.node.appendChild(list);
        await showDialog({ title: summary.label, body, buttons: [Dialog.okButton()] });
      }
    });
    palette?.addItem({ command: CommandIDs.showStatus, category: 'NEXUS' });
    addSecretCommands(app, palette);
    if (statusBar) {
      statusBar.registerStatusItem('nexus-jupyterlab:health', {
        item,
        align: 'left',
        rank: 100
      });
      item.node.addEventListener('click', () => void app.commands.execute(CommandIDs.showStatus));
    }
    void refresh();
  }
};

export default [statusPlugin, progressPlugin, workspacePlugin, ...panelPlugins];
