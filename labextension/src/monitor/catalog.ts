/**
 * The model dashboard's "Models to run here": the bundled model and the catalogue of coder models,
 * each with what hardware it fits and why, a Pull button (progress bar, Cancel, Resume) and Use.
 * A pull runs on the server (in a child process); this view polls its progress while it runs.
 */
import {
  cancelModelPull,
  fetchModelCatalog,
  ICatalogModel,
  IModelCatalog,
  NexusAPIError,
  startModelPull,
  useModel
} from '../api';
import { ACTION_LABELS, isRunning, ModelAction, modelActions, modelLine, pullOf, pullProgress } from './models';

const POLL_MS = 1_000;

interface IMessage {
  text: string;
  error: boolean;
}

/** An error in plain words: the server's own sentence when it sent one. */
function say(err: unknown): string {
  if (err instanceof NexusAPIError && err.reply) {
    return err.reply.message;
  }
  return `NEXUS did not answer: ${(err as Error).message}`;
}

export class ModelCatalogView {
  readonly node = document.createElement('section');

  constructor() {
    this.node.className = 'jp-nexus-dashboard-models';
  }

  async refresh(): Promise<void> {
    let catalog: IModelCatalog;
    try {
      catalog = await fetchModelCatalog();
    } catch (err) {
      this._render(null, { text: say(err), error: true });
      return;
    }
    this._render(catalog, this._message);
    const running = catalog.pulls.some(isRunning);
    if (running && this._poll === undefined) {
      this._poll = window.setInterval(() => void this.refresh(), POLL_MS);
    } else if (!running && this._poll !== undefined) {
      this.stopPolling();
    }
  }

  stopPolling(): void {
    window.clearInterval(this._poll);
    this._poll = undefined;
  }

  private _render(catalog: IModelCatalog | null, message: IMessage | null): void {
    const heading = document.createElement('h4');
    heading.textContent = 'Models to run here (chat, code generation, completion)';
    const parts: HTMLElement[] = [heading];
    if (catalog?.note) {
      const note = document.createElement('p');
      note.className = 'jp-nexus-models-note';
      note.textContent = catalog.note;
      parts.push(note);
    }
    if (message) {
      const said = document.createElement('p');
      said.className = message.error ? 'jp-nexus-models-error' : 'jp-nexus-models-note';
      said.setAttribute('role', message.error ? 'alert' : 'status');
      said.textContent = message.text;
      parts.push(said);
    }
    if (catalog) {
      const list = document.createElement('ul');
      list.append(...catalog.models.map(model => this._item(model, catalog)));
      parts.push(list);
    }
    this.node.replaceChildren(...parts);
  }

  private _item(model: ICatalogModel, catalog: IModelCatalog): HTMLElement {
    const item = document.createElement('li');
    item.dataset.model = model.name;
    item.classList.toggle('jp-mod-active', model.in_use);
    const line = document.createElement('div');
    line.className = 'jp-nexus-models-line';
    line.textContent = modelLine(model);
    const why = document.createElement('div');
    why.className = 'jp-nexus-models-why';
    why.textContent = model.bundled ? model.why : `${model.why} (${model.license}, ${model.memory})`;
    item.append(line, why);
    const pull = pullOf(catalog, model.name);
    if (pull) {
      const { percent, text } = pullProgress(pull);
      if (percent !== null) {
        const bar = document.createElement('progress');
        bar.max = 100;
        bar.value = percent;
        bar.setAttribute('aria-label', `Pulling ${model.name}`);
        item.append(bar);
      }
      const status = document.createElement('div');
      status.className = 'jp-nexus-models-progress';
      status.dataset.state = pull.state;
      status.textContent = text;
      item.append(status);
    }
    const buttons = modelActions(model, catalog).map(action => this._button(action, model, catalog));
    if (buttons.length) {
      const row = document.createElement('div');
      row.className = 'jp-nexus-models-actions';
      row.append(...buttons);
      item.append(row);
    }
    return item;
  }

  private _button(action: ModelAction, model: ICatalogModel, catalog: IModelCatalog): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-mod-reject';
    if (action !== 'cancel') {
      button.classList.replace('jp-mod-reject', 'jp-mod-accept');
    }
    button.textContent = ACTION_LABELS[action];
    button.dataset.action = action;
    button.addEventListener('click', () => {
      button.disabled = true;
      void this._act(action, model, catalog);
    });
    return button;
  }

  private async _act(action: ModelAction, model: ICatalogModel, catalog: IModelCatalog): Promise<void> {
    this._message = null;
    try {
      if (action === 'pull' || action === 'resume') {
        await startModelPull(model.name);
      } else if (action === 'cancel') {
        const pull = pullOf(catalog, model.name);
        if (pull) {
          await cancelModelPull(pull.id);
        }
      } else {
        this._message = { text: (await useModel(model.name)).note, error: false };
      }
    } catch (err) {
      this._message = { text: say(err), error: true };
    }
    await this.refresh();
  }

  private _message: IMessage | null = null;
  private _poll: number | undefined;
}
