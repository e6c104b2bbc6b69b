/**
 * A line diff (longest common subsequence) for showing an AI change before
 * the user accepts it. Cells are small, so the O(n*m) table is fine; past
 * ``MAX_CELLS`` lines squared it degrades to "replace everything", which is
 * still a correct diff.
 */

export type DiffKind = 'same' | 'add' | 'del';

export interface IDiffLine {
  kind: DiffKind;
  text: string;
}

const MAX_CELLS = 4_000_000;

export function splitLines(text: string): string[] {
  return text === '' ? [] : text.replace(/\r\n/g, '\n').split('\n');
}

export function diffLines(before: string, after: string): IDiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  if (a.length * b.length > MAX_CELLS) {
    return [...a.map(text => ({ kind: 'del' as const, text })), ...b.map(text => ({ kind: 'add' as const, text }))];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..]
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: IDiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ kind: 'del', text: a[i++] });
    } else {
      out.push({ kind: 'add', text: b[j++] });
    }
  }
  while (i < a.length) {
    out.push({ kind: 'del', text: a[i++] });
  }
  while (j < b.length) {
    out.push({ kind: 'add', text: b[j++] });
  }
  return out;
}

/** "+3 −1": what the change does, for the dialog title. */
export function diffSummary(lines: readonly IDiffLine[]): string {
  const added = lines.filter(l => l.kind === 'add').length;
  const removed = lines.filter(l => l.kind === 'del').length;
  return `+${added} −${removed}`;
}
