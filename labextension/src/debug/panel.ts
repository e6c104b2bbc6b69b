/**
 * The debug panel: when a cell raises, it shows the error with "Explain /
 * Fix"; the answer is an explanation and a proposed fix as a diff, and Apply
 * changes the cell without running it. While JupyterLab's debugger is paused
 * it can explain the current frame from its variables.
 */
import { Notification } from '@jupyterlab/apputils';
import { IDebugger } from '@jupyterlab/debugger';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { generate, NexusAPIError } from '../api';
import { renderDiff } from '../ai/diffview';
import { reportFeedback } from '../feedback';
import { neutralise } from '../chat/sanitize';
import type { INexusChat } from '../tokens';
import type { ICellError, Workspace } from '../workspace';
import { explainPausedFrame } from './frame';
import { userTraceback } from './traceback';

const FIX_PROMPT =
  'This code raised the error below. Explain the cause in one or two sentences, then give the corrected code.';

export class DebugPanel extends Widget {
  constructor(
    private workspace: Workspace,
    private rendermime: IRenderMimeRegistry,
    private chat: INexusChat | null,
    private debuggerService: IDebugger | null,
    icon: LabIcon
  ) {
    super();
    this.id = 'nexus-debug';
    this.addClass('jp-nexus-debug');
    this.title.icon = icon;
    this.title.caption = 'NEXUS debug';
    const heading = document.createElement('h3');
    heading.className = 'jp-nexus-debug-heading';
    heading.textContent = 'NEXUS Debug';
    this._error.className = 'jp-nexus-debug-error';
    this._result.className = 'jp-nexus-debug-result';
    this._frame.className = 'jp-nexus-button jp-nexus-debug-frame';
    this._frame.textContent = 'Explain the paused frame';
    this._frame.addEventListener('click', () => void this.explainFrame());
    this.node.append(heading, this._error, this._frame, this._result);
    workspace.errorChanged.connect((_, error) => this.showError(error));
    debuggerService?.model.callstack.currentFrameChanged.connect(() => this._updateFrameButton());
    this.showError(workspace.lastError);
    this._updateFrameButton();
  }

  showError(error: ICellError | null): void {
    this._error.replaceChildren();
    if (!error) {
      const p = document.createElement('p');
      p.className = 'jp-nexus-debug-empty';
      p.textContent = 'No errors. When a cell raises, NEXUS can explain it and propose a fix here.';
      this._error.appendChild(p);
      return;
    }
    const title = document.createElement('div');
    title.className = 'jp-nexus-debug-ename';
    title.textContent = `${error.ename}: ${error.evalue}`;
    const tb = document.createElement('pre');
    tb.className = 'jp-nexus-debug-traceback';
    tb.textContent = userTraceback(error.traceback); // the user's lines, not the library's
    const fix = document.createElement('button');
    fix.className = 'jp-nexus-button jp-mod-accept jp-nexus-explain-fix';
    fix.textContent = 'Explain / Fix';
    fix.addEventListener('click', () => void this.explainFix(error));
    this._error.append(title, tb, fix);
  }

  async explainFix(error: ICellError): Promise<void> {
    dismissErrorToast();
    this._result.replaceChildren(this._status('Asking NEXUS for an explanation and a fix…'));
    let reply;
    try {
      reply = await generate({
        task: 'code_generation',
        prompt: FIX_PROMPT,
        context: { code: error.code, error: `${error.ename}: ${error.evalue}\n${error.traceback}`.slice(-20_000), notebook_path: error.notebookPath }
      });
    } catch (err) {
      const message = err instanceof NexusAPIError ? err.message : (err as Error).message;
      this._result.replaceChildren(this._status(`NEXUS could not answer: ${message}`));
      return;
    }
    const explanation = document.createElement('div');
    explanation.className = 'jp-nexus-debug-explanation';
    const renderer = this.rendermime.createRenderer('text/markdown');
    await renderer.renderModel(
      new MimeModel({ data: { 'text/markdown': reply.explanation || '_No explanation was given._' }, trusted: false })
    );
    neutralise(renderer.node);
    explanation.appendChild(renderer.node);
    const model = document.createElement('div');
    model.className = 'jp-nexus-model';
    model.textContent = `${reply.provider}/${reply.model}${reply.valid ? '' : ' · the proposed code did not pass validation'}`;
    const nodes: HTMLElement[] = [explanation];
    if (reply.code.trim() && reply.code.trim() !== error.code.trim()) {
      const actions = document.createElement('div');
      actions.className = 'jp-nexus-debug-actions';
      const apply = document.createElement('button');
      apply.className = 'jp-nexus-button jp-mod-accept jp-nexus-apply';
      apply.textContent = 'Apply to cell';
      apply.title = 'Replace the cell with the fix (the cell is not run)';
      const discard = document.createElement('button');
      discard.className = 'jp-nexus-button jp-nexus-discard';
      discard.textContent = 'Discard';
      apply.addEventListener('click', () => {
        void reportFeedback(reply.interaction_id, 'accepted');
        if (this.workspace.setCellSource(error.cellId, reply.code)) {
          this._result.replaceChildren(this._status('Applied. Run the cell when you are ready.'));
        } else {
          this._result.replaceChildren(this._status('The cell is gone; nothing was changed.'));
        }
      });
      discard.addEventListener('click', () => {
        void reportFeedback(reply.interaction_id, 'rejected');
        this._result.replaceChildren();
      });
      actions.append(apply, discard);
      nodes.push(renderDiff(error.code, reply.code), actions);
    } else if (reply.check && reply.check.status !== 'verified') {
      // a fix that failed its check run (or could not be run) is never offered to apply
      nodes.push(this._status('No fix is offered to apply: it did not pass NEXUS\'s check (see above).'));
    } else {
      nodes.push(this._status('No code change was proposed.'));
    }
    nodes.push(model);
    this._result.replaceChildren(...nodes);
  }

  /** The paused frame's variables, explained in the chat (``frame.ts`` words the question). */
  async explainFrame(): Promise<void> {
    const chat = this.chat;
    await explainPausedFrame(this.debuggerService?.model, chat ? text => chat.ask(text) : null);
  }

  private _updateFrameButton(): void {
    this._frame.hidden = !this.debuggerService?.model.callstack.frame;
  }

  private _status(text: string): HTMLElement {
    const p = document.createElement('p');
    p.className = 'jp-nexus-debug-status';
    p.textContent = text;
    return p;
  }

  private _error = document.createElement('div');
  private _result = document.createElement('div');
  private _frame = document.createElement('button');
}

/** A notification with "Explain / Fix" when a cell raises: it stays until it is used or dismissed,
 * or the error is gone (the cell ran fine, or a newer error replaced it). */
export function notifyErrors(workspace: Workspace, open: (error: ICellError) => void): void {
  workspace.errorChanged.connect((_, error) => {
    dismissErrorToast();
    if (!error) {
      return;
    }
    errorToast = Notification.error(`${error.ename}: ${error.evalue}`.slice(0, 140), {
      autoClose: false,
      actions: [{ label: 'Explain / Fix', callback: () => open(error) }]
    });
  });
}

let errorToast: string | null = null;

/** The error's toast has done its job once its Explain / Fix is under way (it would cover the panel). */
function dismissErrorToast(): void {
  if (errorToast) {
    Notification.dismiss(errorToast);
    errorToast = null;
  }
}
