/**
 * The progress bars in JupyterLab's status bar: one per operation the
 * ``ProgressTracker`` knows (learning a folder, building an environment,
 * loading a model), each with a Cancel button when the server can stop it.
 */
import { Widget } from '@lumino/widgets';

import type { IOperation, ProgressTracker } from './tracker';

export class ProgressArea extends Widget {
  constructor(tracker: ProgressTracker, cancel: (taskId: string) => Promise<unknown>) {
    super();
    this.addClass('jp-nexus-progress');
    this._tracker = tracker;
    this._cancel = cancel;
    this._unlisten = tracker.onChange(() => this.render());
    this.render();
  }

  dispose(): void {
    this._unlisten();
    super.dispose();
  }

  render(): void {
    const ops = this._tracker.operations;
    this.node.replaceChildren(...ops.map(op => this._row(op)));
    this.node.hidden = ops.length === 0;
  }

  private _row(op: IOperation): HTMLElement {
    const row = document.createElement('div');
    row.className = 'jp-nexus-progress-item';
    row.dataset.kind = op.kind;
    row.dataset.state = op.state;
    row.title = `${op.label}${op.message ? `: ${op.message}` : ''}`;

    const label = document.createElement('span');
    label.className = 'jp-nexus-progress-label';
    label.textContent = op.label;

    const bar = document.createElement('progress');
    bar.className = 'jp-nexus-progress-bar';
    bar.max = 1;
    if (op.progress !== null) {
      bar.value = op.progress; // no value: the browser draws an indeterminate bar
    }

    const message = document.createElement('span');
    message.className = 'jp-nexus-progress-message';
    message.textContent = op.message;

    row.append(label, bar, message);
    if (op.cancelId) {
      const id = op.cancelId;
      const button = document.createElement('button');
      button.className = 'jp-nexus-progress-cancel jp-mod-styled';
      button.textContent = 'Cancel';
      button.title = `Stop ${op.label.toLowerCase()}`;
      button.addEventListener('click', () => {
        button.disabled = true;
        void this._cancel(id).catch(() => (button.disabled = false));
      });
      row.append(button);
    }
    return row;
  }

  private _tracker: ProgressTracker;
  private _cancel: (taskId: string) => Promise<unknown>;
  private _unlisten: () => void;
}
