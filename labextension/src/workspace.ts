/**
 * Where the user is: the active notebook cell or file editor, its selection,
 * and the last error a cell raised. The chat's context chips, the code-block
 * buttons, the AI actions and the debug panel all act through this one place;
 * an answer's citations open their file here (``openSource``).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { CodeEditor } from '@jupyterlab/codeeditor';
import { FileEditor, IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, Notebook, NotebookActions } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import { ICitationTarget, lineSelection, openArgs } from './chat/citations';
import type { IEditorContext } from './chat/context';
import type { ICodeActions, ICodeOrigin } from './chat/message';

/** ``metadata.nexus`` of a cell NEXUS wrote or changed: who asked for it (seen by every collaborator). */
export interface INexusCellMeta {
  generated: true;
  requested_by: string;
  at: string;
  model?: string;
  /** Written by an agent turn: ``nexus`` (NEXUS's agent) or the outside agent's name (MCP client). */
  agent?: string;
  agent_run?: string;
}

/** What NEXUS did to a notebook on the user's behalf (the notebook chat tells collaborators). */
export interface INotebookEdit {
  path: string;
  action: 'inserted' | 'replaced' | 'ran';
  cellId: string | null;
}

export interface ICellError {
  notebookPath: string;
  cellId: string;
  code: string;
  ename: string;
  evalue: string;
  traceback: string;
}

/** ANSI colour codes out of a kernel traceback. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

export class Workspace implements ICodeActions {
  constructor(
    private app: JupyterFrontEnd,
    readonly notebooks: INotebookTracker | null,
    private editors: IEditorTracker | null
  ) {
    NotebookActions.executed.connect((_, args) => {
      const { cell, notebook, success, error } = args;
      const panel = this.notebooks?.find(p => p.content === notebook);
      if (success || cell.model.type !== 'code') {
        if (this.lastError && this.lastError.cellId === cell.model.id) {
          this.lastError = null;
          this.errorChanged.emit(null);
        }
        return;
      }
      const outputs = (cell.model as unknown as { outputs: { toJSON(): { output_type: string; ename?: string; evalue?: string; traceback?: string[] }[] } }).outputs.toJSON();
      const out = outputs.find(o => o.output_type === 'error');
      this.lastError = {
        notebookPath: panel?.context.path ?? '',
        cellId: cell.model.id,
        code: cell.model.sharedModel.getSource(),
        ename: out?.ename ?? error?.errorName ?? 'Error',
        evalue: out?.evalue ?? error?.errorValue ?? '',
        traceback: stripAnsi((out?.traceback ?? error?.traceback ?? []).join('\n'))
      };
      this.errorChanged.emit(this.lastError);
    });
  }

  lastError: ICellError | null = null;
  /** The server's name for the user (``/status`` ``display_name``), once known. */
  ownerName = '';
  readonly errorChanged = new Signal<this, ICellError | null>(this);
  readonly edited = new Signal<this, INotebookEdit>(this);

  /** The signed-in user's name, for attribution: as the server names them (a single-user server's
   * owner, not "Anonymous Orthosie"), else JupyterLab's user identity; "you" without one. */
  userName(): string {
    if (this.ownerName) {
      return this.ownerName;
    }
    const identity = this.app.serviceManager.user?.identity;
    return identity?.display_name || identity?.name || 'you';
  }

  attribution(model?: string): INexusCellMeta {
    const meta: INexusCellMeta = { generated: true, requested_by: this.userName(), at: new Date().toISOString() };
    if (model) {
      meta.model = model;
    }
    return meta;
  }

  /** The editor with focus, else the active cell's editor, else the current file editor. */
  activeEditor(): CodeEditor.IEditor | null {
    const current = this.app.shell.currentWidget;
    const nb = this.notebooks?.currentWidget;
    if (nb && (!current || current === nb || !this.editors?.currentWidget || current !== this.editors.currentWidget)) {
      return nb.content.activeCell?.editor ?? null;
    }
    return this.editors?.currentWidget?.content.editor ?? null;
  }

  selectionText(editor: CodeEditor.IEditor | null): string {
    if (!editor) {
      return '';
    }
    const sel = editor.getSelection();
    const start = editor.getOffsetAt(sel.start);
    const end = editor.getOffsetAt(sel.end);
    return start === end ? '' : editor.model.sharedModel.getSource().slice(Math.min(start, end), Math.max(start, end));
  }

  editorContext(): IEditorContext {
    const nb = this.notebooks?.currentWidget ?? null;
    const cell = nb?.content.activeCell ?? null;
    const fileEditor = this.editors?.currentWidget ?? null;
    const editor = this.activeEditor();
    const error = this.lastError;
    return {
      notebookPath: nb?.context.path ?? fileEditor?.context.path ?? null,
      cellId: cell?.model.id ?? null,
      cellSource: cell ? cell.model.sharedModel.getSource() : fileEditor ? fileEditor.content.model.sharedModel.getSource() : null,
      cellLabel: cell ? `Cell ${(nb?.content.activeCellIndex ?? 0) + 1}` : fileEditor ? 'File' : null,
      selection: this.selectionText(editor) || null,
      // another notebook's error is not this one's context
      lastError: error && error.notebookPath === nb?.context.path ? `${error.ename}: ${error.evalue}` : null,
      kernelId: nb?.sessionContext.session?.kernel?.id ?? null,
      cursorLine: editor ? editor.getCursorPosition().line : null
    };
  }

  /** Make the cell a context menu was opened on the active one, so its command acts on that cell
   * (JupyterLab does not move the active cell on right-click). Does nothing outside a context menu. */
  activateContextMenuCell(app: JupyterFrontEnd): void {
    const node = app.contextMenuHitTest(n => n.classList.contains('jp-Cell'));
    const notebook = this.notebooks?.currentWidget?.content;
    const index = node && notebook ? notebook.widgets.findIndex(cell => cell.node === node) : -1;
    if (notebook && index >= 0 && notebook.activeCellIndex !== index) {
      notebook.activeCellIndex = index;
    }
  }

  // -- ICodeActions ------------------------------------------------------------------------------
  async insertBelow(code: string, origin?: ICodeOrigin): Promise<void> {
    const nb = this.notebooks?.currentWidget;
    if (nb) {
      // One change to the notebook's shared model (with real-time collaboration, the shared
      // document): collaborators see the cell at once, with who asked for it, and one undo removes it.
      const shared = nb.content.model?.sharedModel;
      if (!shared) {
        return;
      }
      const index = Math.min(nb.content.activeCellIndex + 1, shared.cells.length);
      const cell = shared.insertCell(index, {
        cell_type: 'code',
        source: code,
        metadata: { nexus: this.attribution(origin?.model) } as unknown as Record<string, never>
      });
      nb.content.activeCellIndex = index;
      this.app.shell.activateById(nb.id);
      this.edited.emit({ path: nb.context.path, action: 'inserted', cellId: cell.id });
      return;
    }
    const editor = this.editors?.currentWidget?.content.editor;
    if (editor) {
      const source = editor.model.sharedModel;
      const pos = editor.getOffsetAt(editor.getCursorPosition());
      const text = source.getSource();
      const lineEnd = text.indexOf('\n', pos);
      const at = lineEnd === -1 ? text.length : lineEnd + 1;
      source.updateSource(at, at, `${lineEnd === -1 ? '\n' : ''}${code}\n`);
    }
  }

  async replaceSelection(code: string, origin?: ICodeOrigin): Promise<void> {
    const editor = this.activeEditor();
    if (!editor) {
      return;
    }
    const sel = editor.getSelection();
    const start = editor.getOffsetAt(sel.start);
    const end = editor.getOffsetAt(sel.end);
    const source = editor.model.sharedModel;
    if (start === end) {
      source.setSource(code); // no selection: the whole cell
    } else {
      source.updateSource(Math.min(start, end), Math.max(start, end), code);
    }
    const nb = this.notebooks?.currentWidget;
    const cell = nb?.content.activeCell;
    if (nb && cell && cell.editor === editor) {
      cell.model.setMetadata('nexus', this.attribution(origin?.model));
      this.edited.emit({ path: nb.context.path, action: 'replaced', cellId: cell.model.id });
    }
  }

  async run(code: string): Promise<void> {
    const nb = this.notebooks?.currentWidget;
    if (!nb) {
      await this.insertBelow(code);
      return;
    }
    await this.insertBelow(code);
    await NotebookActions.run(nb.content, nb.sessionContext);
    this.edited.emit({ path: nb.context.path, action: 'ran', cellId: nb.content.activeCell?.model.id ?? null });
  }

  /** Open a cited file (``docmanager:open``) and show what it cites: a file editor selects the lines
   * and scrolls to them, a notebook makes the cell the active one. A file gone since it was learned
   * is said in a notification. */
  async openSource(target: ICitationTarget): Promise<void> {
    let widget: { content?: unknown; context?: { ready: Promise<void> }; revealed?: Promise<void> } | undefined;
    try {
      widget = await this.app.commands.execute('docmanager:open', openArgs(target));
    } catch (err) {
      const gone = (err as { response?: { status?: number } }).response?.status === 404;
      const why = gone ? 'it is no longer there' : (err as Error).message;
      Notification.error(`Cannot open ${target.path}: ${why}`, { autoClose: 6000 });
      return;
    }
    await widget?.context?.ready;
    await widget?.revealed;
    const content = widget?.content;
    if (content instanceof Notebook && target.cellId) {
      const index = content.widgets.findIndex(cell => cell.model.id === target.cellId);
      if (index >= 0) {
        content.activeCellIndex = index;
        await content.scrollToCell(content.widgets[index], 'start');
      }
    } else if (content instanceof FileEditor && target.lines) {
      const editor = content.editor;
      const selection = lineSelection(target.lines, editor.model.sharedModel.getSource());
      editor.setSelection(selection);
      editor.revealSelection(selection);
      editor.focus();
    }
  }

  /** Set a cell's source by id (Apply / Accept); never runs it. */
  setCellSource(cellId: string, code: string): boolean {
    for (const panel of this.notebooks ? [this.notebooks.currentWidget, ...this._all()] : []) {
      const cell = panel?.content.widgets.find(c => c.model.id === cellId);
      if (cell && panel) {
        cell.model.sharedModel.transact(() => {
          cell.model.sharedModel.setSource(code);
          cell.model.setMetadata('nexus', this.attribution());
        });
        this.edited.emit({ path: panel.context.path, action: 'replaced', cellId });
        return true;
      }
    }
    return false;
  }

  private _all() {
    const out: NonNullable<INotebookTracker['currentWidget']>[] = [];
    this.notebooks?.forEach(p => out.push(p));
    return out;
  }
}
