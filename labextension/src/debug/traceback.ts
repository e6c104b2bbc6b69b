/**
 * The part of a kernel traceback a user can act on: the frames in their own cells, then the error.
 * Library frames (pandas' indexing internals, say) are counted and named in one line, not shown:
 * the last twelve lines of a pandas traceback are all pandas, and the user's failing line is above them.
 */

const CELL_FRAME = /^(Cell In\[\d+\]|Input In \[\d+\]|File .*ipykernel_\d+.*), line \d+/;
const LIB_FRAME = /^File (.+?):\d+/;
const HEADER = /Traceback \(most recent call last\)/;

/** Where a library frame is: its package folder ("pandas") or the file's name. */
function libraryName(file: string): string {
  const inside = file.split(/site-packages\/|dist-packages\//)[1];
  if (inside) {
    return inside.split('/')[0];
  }
  return file.split('/').pop() ?? file;
}

/** The user's frames and the error of ``traceback`` (ANSI codes already stripped). */
export function userTraceback(traceback: string): string {
  const lines = traceback.replace(/\s+$/, '').split('\n');
  const headers = lines.map((l, i) => (HEADER.test(l) ? i : -1)).filter(i => i >= 0);
  const last = lines.slice(headers.length ? headers[headers.length - 1] + 1 : 0); // what the user saw last
  const blocks: string[][] = [];
  for (const line of last) {
    if (CELL_FRAME.test(line) || LIB_FRAME.test(line) || !blocks.length) {
      blocks.push([line]);
    } else {
      blocks[blocks.length - 1].push(line);
    }
  }
  const end = blocks.length ? blocks[blocks.length - 1] : [];
  // the error line(s) close the last block: everything after its last blank line
  const blank = end.map((l, i) => (l.trim() ? -1 : i)).filter(i => i >= 0);
  const error = blank.length ? end.splice(blank[blank.length - 1]).filter(l => l.trim()) : [];
  const out: string[] = [];
  const hidden: string[] = [];
  const flush = (): void => {
    if (hidden.length) {
      const names = [...new Set(hidden)].join(', ');
      out.push(`… ${hidden.length} frame${hidden.length > 1 ? 's' : ''} inside ${names} (not shown)`, '');
      hidden.length = 0;
    }
  };
  for (const block of blocks) {
    const head = block[0] ?? '';
    const lib = LIB_FRAME.exec(head);
    if (lib && !CELL_FRAME.test(head)) {
      hidden.push(libraryName(lib[1]));
      continue;
    }
    if (!CELL_FRAME.test(head)) {
      continue; // the "----- KeyError  Traceback" banner
    }
    flush();
    out.push(...block.filter((l, i) => i === 0 || l.trim()), '');
  }
  flush();
  if (!out.length && !error.length) {
    return lines.slice(-12).join('\n'); // not a format we know: its end, as before
  }
  return [...out, ...error].join('\n').trim();
}
