/**
 * Citations: an answer that used learned memories ends with the server's
 * ``Sources: [1] utils.py (lines 12-40); [2] analysis.ipynb (cell 3f2a)`` line
 * (``chat.done.citations``). Each citation the panel can open becomes a link
 * to the cited file at the cited lines or cell; a path JupyterLab cannot open
 * (outside the server's root folder) stays text. Pure so the rules are
 * unit-tested; ``MessageView`` draws the links and the workspace opens them.
 */
import type { ICitation } from '../api';

/** Lines as the server counts them: from 1, the last one included. */
export interface ILineRange {
  first: number;
  last: number;
}

/** Where a citation leads: a path relative to the server's root, and the cited lines or cell. */
export interface ICitationTarget {
  path: string;
  lines: ILineRange | null;
  cellId: string | null;
}

/** A citation as the server writes it in the ``Sources:`` line (``Hit.citation``). */
export function citationText(c: ICitation): string {
  const where = c.cell_id ? `cell ${c.cell_id}` : c.lines ? `lines ${c.lines}` : '';
  return where ? `${c.source} (${where})` : c.source;
}

/** Whether a paragraph of a rendered answer is its ``Sources:`` line (Markdown may have changed the
 * paths' text, ``__init__.py`` in bold: the line is drawn again from the citations). */
export function isSourcesLine(text: string): boolean {
  return /^Sources: \[1\] /.test(text.trim());
}

/** ``source`` as a path relative to the server's root, or null where it is not one: absolute, in the
 * home folder, a URL or drive (``C:``), or leaving the root with ``..``. */
export function rootPath(source: string): string | null {
  const path = source.trim();
  if (!path || path.startsWith('/') || path.startsWith('~') || path.includes('\\') || /^[a-z][a-z0-9+.-]*:/i.test(path)) {
    return null;
  }
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') {
      if (!parts.length) {
        return null;
      }
      parts.pop();
    } else if (part && part !== '.') {
      parts.push(part);
    }
  }
  return parts.length ? parts.join('/') : null;
}

/** ``12-40`` (or ``12``) as a line range; null for anything else. */
export function parseLines(lines: string | null | undefined): ILineRange | null {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(lines ?? '');
  if (!match) {
    return null;
  }
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  return first >= 1 && last >= first ? { first, last } : null;
}

/** Where the citation leads, or null when JupyterLab cannot open it (shown as text). */
export function citationTarget(c: ICitation): ICitationTarget | null {
  const path = rootPath(c.source);
  if (path === null) {
    return null;
  }
  return { path, lines: c.cell_id ? null : parseLines(c.lines), cellId: c.cell_id ?? null };
}

/** The ``docmanager:open`` arguments: cited lines open in the text editor (a Markdown file too, where
 * the preview has no lines to select); a notebook or a whole file opens as it usually does. */
export function openArgs(target: ICitationTarget): { path: string; factory?: string } {
  return target.lines && !target.path.endsWith('.ipynb') ? { path: target.path, factory: 'Editor' } : { path: target.path };
}

/** The editor selection of the cited lines in ``text``: 0-based positions, from the start of the first
 * line to the end of the last, clamped to the lines the file has now (it may have shrunk since). */
export function lineSelection(
  lines: ILineRange,
  text: string
): { start: { line: number; column: number }; end: { line: number; column: number } } {
  const all = text.split(/\r\n|\r|\n/);
  const first = Math.min(lines.first, all.length) - 1;
  const last = Math.min(lines.last, all.length) - 1;
  return { start: { line: first, column: 0 }, end: { line: last, column: all[last].length } };
}

/** The tooltip of a citation: what clicking it does, or why it cannot be opened. */
export function citationTitle(target: ICitationTarget | null): string {
  if (target === null) {
    return 'Outside the server’s root folder: JupyterLab cannot open it';
  }
  if (target.cellId) {
    return `Open ${target.path} at the cited cell`;
  }
  if (target.lines) {
    return `Open ${target.path} at lines ${target.lines.first}–${target.lines.last}`;
  }
  return `Open ${target.path}`;
}
