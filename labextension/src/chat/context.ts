/**
 * Context chips: what the chat would send along with a message (active cell,
 * selection, last error, file). The user can remove a chip before sending; the
 * removed kinds go to the server as ``exclude`` so its context manager leaves
 * them out too. The last error is sent only with a message about it (``aboutError``,
 * the server's rule too): an old error is not the subject of every later question.
 */
import type { ContextKind, IChatContext } from '../api';

export interface IChip {
  kind: ContextKind;
  label: string;
  preview: string;
}

export interface IEditorContext {
  notebookPath: string | null;
  cellId: string | null;
  cellSource: string | null;
  cellLabel: string | null;
  selection: string | null;
  lastError: string | null;
  kernelId: string | null;
  /** The cursor's line in the active cell or file (0-based): the language server is asked about its names. */
  cursorLine?: number | null;
}

export const EMPTY_CONTEXT: IEditorContext = {
  notebookPath: null,
  cellId: null,
  cellSource: null,
  cellLabel: null,
  selection: null,
  lastError: null,
  kernelId: null
};

function preview(text: string, max = 80): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// nexus_server_ext/chat/intent.py ``about_error``: the same words, so the chip shows what is sent.
const ABOUT_ERROR =
  /\b(errors?|exceptions?|traceback|raise[sd]?|raising|fail(s|ed|ing|ure)?|crash(es|ed|ing)?|broken|bugs?|fix(es|ed|ing)?|wrong|\w+(Error|Exception))\b|\b(does ?n[o']t|not) work/i;

/** Whether a message asks about an error: ``/fix``, ``/explain`` alone, or words that say so. */
export function aboutError(message: string): boolean {
  const text = message.trim();
  return text.startsWith('/fix') || text === '/explain' || ABOUT_ERROR.test(text);
}

/** The chips for the editor state and the message being typed, minus those the user removed. */
export function chipsFor(ctx: IEditorContext, removed: ReadonlySet<ContextKind>, message: string): IChip[] {
  const chips: IChip[] = [];
  if (ctx.notebookPath) {
    chips.push({ kind: 'file', label: ctx.notebookPath.split('/').pop() ?? ctx.notebookPath, preview: ctx.notebookPath });
  }
  if (ctx.selection && ctx.selection.trim()) {
    chips.push({ kind: 'selection', label: 'Selection', preview: preview(ctx.selection) });
  } else if (ctx.cellSource && ctx.cellSource.trim()) {
    chips.push({ kind: 'cell', label: ctx.cellLabel ?? 'Active cell', preview: preview(ctx.cellSource) });
  }
  if (ctx.lastError && aboutError(message)) {
    chips.push({ kind: 'error', label: 'Last error', preview: preview(ctx.lastError) });
  }
  return chips.filter(c => !removed.has(c.kind));
}

/** The ``context`` of a chat frame for ``message``: only what the visible chips allow. */
export function frameContext(ctx: IEditorContext, removed: ReadonlySet<ContextKind>, message: string): IChatContext {
  const kinds = new Set(chipsFor(ctx, removed, message).map(c => c.kind));
  let code: string | null = null;
  if (kinds.has('selection')) {
    code = ctx.selection;
  } else if (kinds.has('cell')) {
    code = ctx.cellSource;
  }
  if (kinds.has('error') && ctx.lastError) {
    const error = ctx.lastError
      .split('\n')
      .map(l => `# ${l}`)
      .join('\n');
    code = `${code ?? ''}\n# The last run raised:\n${error}`.trim();
  }
  return {
    notebook_path: kinds.has('file') ? ctx.notebookPath : null,
    cell_id: kinds.has('cell') || kinds.has('selection') ? ctx.cellId : null,
    selection: code ? code.slice(0, 20_000) : null,
    kernel_id: ctx.kernelId,
    cursor_line: kinds.has('cell') || kinds.has('selection') || kinds.has('file') ? (ctx.cursorLine ?? null) : null,
    exclude: kinds.has('error') ? [...removed] : [...new Set([...removed, 'error' as ContextKind])]
  };
}
