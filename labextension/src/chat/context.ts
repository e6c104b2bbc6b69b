/**
 * Context chips: what the chat would send along with a message (active cell,
 * selection, last error, file). The user can remove a chip before sending; the
 * removed kinds go to the server as ``exclude`` so its context manager leaves
 * them out too. The last error is sent only with a message about it (``aboutError``,
 * the server's rule too): an old error is not the subject of every later question.
 * Under an answer, "Context used" lists what the server actually gave the model
 * (``chat.started.context``): ``usedContext``.
 */
import type { ContextKind, IChatContext, IContextItem } from '../api';

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

/** One piece of context an answer used, as the "Context used" row under it shows it. */
export interface IUsedPiece {
  kind: ContextKind;
  /** A few words: the server's summary ("Kernel variables: df (DataFrame 3×2: sales, region), x",
   * "Cell 3"), else the piece's label ("Diagnostics from pylsp"). */
  text: string;
  /** The start of what was sent (the tooltip). */
  preview: string;
}

/** The pieces of context an answer used, in the server's order (what the user pointed at first). */
export function usedContext(items: readonly IContextItem[]): IUsedPiece[] {
  return items.map(item => ({
    kind: item.kind,
    text: (item.summary ?? '').trim() || item.label,
    preview: item.preview.trim() || item.label
  }));
}

/** More pieces than this, or a longer line, and the row starts collapsed to "Context used (N)". */
export const USED_INLINE_PIECES = 3;
export const USED_INLINE_CHARS = 90;

/** Whether the pieces fit on the row as they are, or it starts collapsed (the user opens it). */
export function usedFitsInline(pieces: readonly IUsedPiece[]): boolean {
  const chars = pieces.reduce((n, p) => n + p.text.length + 3, 0);
  return pieces.length <= USED_INLINE_PIECES && chars <= USED_INLINE_CHARS;
}
