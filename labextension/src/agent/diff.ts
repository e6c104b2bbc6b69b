/**
 * The agent's edits come as unified diffs (``difflib.unified_diff`` on the
 * server). This reads one into rows the approval card colours: additions,
 * deletions, context, hunk headers, with the line numbers of both sides.
 */

export type UnifiedKind = 'add' | 'del' | 'same' | 'hunk' | 'note';

export interface IUnifiedLine {
  kind: UnifiedKind;
  text: string;
  /** The line's number before the change (null for additions and headers). */
  oldLine: number | null;
  /** The line's number after the change (null for deletions and headers). */
  newLine: number | null;
}

export interface IUnifiedDiff {
  /** What changes, from the ``+++`` header ("new cell", "cell #2"), or ''. */
  title: string;
  lines: IUnifiedLine[];
  added: number;
  removed: number;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/;

export function parseUnifiedDiff(diff: string): IUnifiedDiff {
  const out: IUnifiedDiff = { title: '', lines: [], added: 0, removed: 0 };
  const rows = diff.replace(/\r\n/g, '\n').split('\n');
  if (rows[rows.length - 1] === '') {
    rows.pop();
  }
  let oldNo = 0;
  let newNo = 0;
  let inHunk = false;
  for (const row of rows) {
    const hunk = HUNK.exec(row);
    if (hunk) {
      inHunk = true;
      oldNo = Number(hunk[1]);
      newNo = Number(hunk[2]);
      // "-0,0": nothing before (a new cell); the first added line is line 1 all the same
      oldNo = oldNo === 0 ? 1 : oldNo;
      newNo = newNo === 0 ? 1 : newNo;
      out.lines.push({ kind: 'hunk', text: row, oldLine: null, newLine: null });
      continue;
    }
    if (!inHunk) {
      if (row.startsWith('+++ ')) {
        out.title = row.slice(4).replace(/\s*\(after\)\s*$/, '').trim();
      }
      continue; // "--- a", "+++ b" and anything before the first hunk
    }
    const mark = row.charAt(0);
    const text = row.slice(1);
    if (mark === '+') {
      out.lines.push({ kind: 'add', text, oldLine: null, newLine: newNo++ });
      out.added += 1;
    } else if (mark === '-') {
      out.lines.push({ kind: 'del', text, oldLine: oldNo++, newLine: null });
      out.removed += 1;
    } else if (mark === '\\') {
      out.lines.push({ kind: 'note', text: row, oldLine: null, newLine: null });
    } else {
      out.lines.push({ kind: 'same', text, oldLine: oldNo++, newLine: newNo++ });
    }
  }
  return out;
}

/** "+2 −1": the size of the change, next to its title. */
export function unifiedSummary(diff: IUnifiedDiff): string {
  return `+${diff.added} −${diff.removed}`;
}
