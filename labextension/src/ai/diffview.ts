/**
 * Show a proposed change as a line diff and let the user Accept or Reject
 * it. Nothing is applied (and nothing runs) unless Accept is pressed.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { diffLines, diffSummary } from './diff';

/** A ``<div>`` with one row per diff line (also used inside the debug panel). */
export function renderDiff(before: string, after: string): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-nexus-diff';
  for (const line of diffLines(before, after)) {
    const row = document.createElement('div');
    row.className = `jp-nexus-diff-line jp-mod-${line.kind}`;
    const mark = document.createElement('span');
    mark.className = 'jp-nexus-diff-mark';
    mark.textContent = line.kind === 'add' ? '+' : line.kind === 'del' ? '−' : ' ';
    const text = document.createElement('span');
    text.textContent = line.text || ' ';
    row.append(mark, text);
    node.appendChild(row);
  }
  return node;
}

/** Ask the user; resolves true on Accept. ``note`` is plain text shown above the diff. */
export async function reviewChange(title: string, before: string, after: string, note = ''): Promise<boolean> {
  const body = new Widget();
  body.addClass('jp-nexus-review');
  if (note) {
    const p = document.createElement('p');
    p.className = 'jp-nexus-review-note';
    p.textContent = note;
    body.node.appendChild(p);
  }
  body.node.appendChild(renderDiff(before, after));
  const result = await showDialog({
    title: `${title} (${diffSummary(diffLines(before, after))})`,
    body,
    buttons: [Dialog.cancelButton({ label: 'Reject' }), Dialog.okButton({ label: 'Accept' })]
  });
  return result.button.accept;
}
