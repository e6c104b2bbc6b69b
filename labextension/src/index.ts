/**
 * The NEXUS JupyterLab extension. This plugin shows NEXUS's health in the
 * status bar (beside it, a warning while the user's own answers fail or wait long:
 * ./status/warning.ts) and offers "NEXUS: Show status" (its dialog: ./status/) and the provider API key
 * commands (./secrets/) in the command palette; the websocket client, chat, AI actions,
 * debug panel and inline completion are the plugins in ./plugins.ts.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, showDialog, Dialog } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { fetchStatus, IStatusReply } from './api';
import { IHealthSummary, summarise, unreachable } from './health';
import { panelPlugins, workspacePlugin } from './plugins';
import { addSecretCommands, SecretCommandIDs } from './secrets/commands';
import { progressPlugin } from './progress/plugin';
import { statusBody, unreachableBody } from './status/dialog';
import { missingKeySentence, SET_KEY_LABEL } from './status/model';
import { AnswerWatch, CLICK_HINT, IAnswerWarning } from './status/warning';
import { INexusClient } from './tokens';

export namespace CommandIDs {
  export const showStatus = 'nexus:show-status';
}

const REFRESH_MS = 30_000;
// While the local model loads in the background (it starts when this page first asks for the
// status), the item polls quickly so it turns to "ready" as soon as the model is.
const LOADING_REFRESH_MS = 1_000;

/** The status bar's summary, and the reply it came from (null when the server did not answer). */
async function readHealth(): Promise<{ summary: IHealthSummary; status: IStatusReply | null }> {
  try {
    const status = await fetchStatus();
    return { summary: summarise(status), status };
  } catch (err) {
    return { summary: unreachable((err as Error).message), status: null };
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

/** The answer warning: hidden (inactive) while the user's answers work. */
class AnswerWarningItem extends Widget {
  readonly activeChanged = new Signal<this, void>(this);
  warning: IAnswerWarning | null = null;

  constructor() {
    super();
    this.addClass('jp-nexus-answer-warning');
  }

  display(warning: IAnswerWarning | null): void {
    const changed = (warning === null) !== (this.warning === null);
    this.warning = warning;
    this.node.textContent = warning?.label ?? '';
    this.node.title = warning ? `${warning.advice} ${CLICK_HINT}` : '';
    this.node.dataset.kind = warning?.kind ?? '';
    if (changed) {
      this.activeChanged.emit();
    }
  }
}

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nexus-jupyterlab:status',
  description: 'Shows NEXUS health in the status bar and the command palette.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette, INexusClient],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    client: INexusClient | null
  ) => {
    const item = new HealthItem();
    const warningItem = new AnswerWarningItem();
    const answers = new AnswerWatch(() => warningItem.display(answers.warning()));
    client?.watch(answers);
    let timer: number | undefined;
    const refresh = async () => {
      const health = await readHealth();
      item.display(health.summary);
      warningItem.display(answers.warning()); // old answers are forgotten as time passes
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void refresh(), health.summary.loading ? LOADING_REFRESH_MS : REFRESH_MS);
      return health;
    };
    app.commands.addCommand(CommandIDs.showStatus, {
      label: 'NEXUS: Show status',
      execute: async () => {
        const { summary, status } = await refresh();
        const setKey = status !== null && missingKeySentence(status) !== null;
        const body = status ? statusBody(status) : unreachableBody(summary.details.join(' '));
        const warning = answers.warning();
        if (warning) {
          const line = document.createElement('p');
          line.className = 'jp-nexus-status-warning';
          line.textContent = `${warning.label.replace(/^NEXUS: /, '')}. ${warning.advice}`;
          body.node.prepend(line);
        }
        const result = await showDialog({
          title: summary.label,
          body,
          buttons: [
            ...(setKey ? [Dialog.createButton({ label: SET_KEY_LABEL, accept: false })] : []),
            Dialog.okButton()
          ]
        });
        if (setKey && result.button.label === SET_KEY_LABEL) {
          await app.commands.execute(SecretCommandIDs.setKey);
        }
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
      statusBar.registerStatusItem('nexus-jupyterlab:answer-warning', {
        item: warningItem,
        align: 'left',
        rank: 101,
        isActive: () => warningItem.warning !== null,
        activeStateChanged: warningItem.activeChanged
      });
      warningItem.node.addEventListener('click', () => void app.commands.execute(CommandIDs.showStatus));
    }
    void refresh();
  }
};

export default [statusPlugin, progressPlugin, workspacePlugin, ...panelPlugins];
