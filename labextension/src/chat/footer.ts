/**
 * Small DOM pieces of the chat panel: its buttons, and the footer under an
 * answer (the model and first-text time with the thumbs up / down at its right
 * end, fallbacks, the context the answer used).
 */
import type { LabIcon } from '@jupyterlab/ui-components';

import { sendFeedback } from '../api';
import { thumbDownIcon, thumbUpIcon } from '../icons';
import { footerPlan, type AnswerState } from './answer';
import { type IUsedPiece, usedFitsInline } from './context';
import type { MessageView } from './message';

export function button(label: string, title: string, cls: string, icon?: LabIcon): HTMLButtonElement {
  const b = document.createElement('button');
  b.className = `jp-nexus-button ${cls}`;
  b.title = title;
  if (icon) {
    b.appendChild(icon.element({ tag: 'span', className: 'jp-nexus-button-icon' }));
  } else {
    b.textContent = label;
  }
  b.setAttribute('aria-label', title);
  return b;
}

/** The footer under an answer (``footerPlan``): model line and thumbs, notes, context used. */
export function renderFooter(view: MessageView, model: string, state: AnswerState | null): void {
  const footer = view.footer;
  const waited = view.node.dataset.firstTokenMs;
  const plan = footerPlan(model, state, waited === undefined ? null : Number(waited));
  const row = document.createElement('div');
  row.className = 'jp-nexus-footer-row';
  const meta = document.createElement('span');
  meta.className = 'jp-nexus-model';
  meta.textContent = plan.meta;
  row.appendChild(meta);
  view.interactionId = plan.interactionId;
  if (plan.interactionId !== null) {
    row.appendChild(thumbs(plan.interactionId));
  }
  footer.replaceChildren(...(plan.meta || plan.interactionId !== null ? [row] : []));
  for (const line of plan.notes) {
    const f = document.createElement('div');
    f.className = 'jp-nexus-fallback';
    f.textContent = line;
    footer.appendChild(f);
  }
  if (plan.context.length) {
    footer.appendChild(contextUsed(plan.context));
  }
}

function thumbs(interaction: number): HTMLElement {
  const group = document.createElement('span');
  group.className = 'jp-nexus-thumbs';
  for (const [icon, kind] of [[thumbUpIcon, 'up'], [thumbDownIcon, 'down']] as const) {
    const b = button('', kind === 'up' ? 'Good answer' : 'Bad answer', 'jp-nexus-thumb', icon);
    b.addEventListener('click', async () => {
      group.querySelectorAll('.jp-nexus-thumb').forEach(t => t.classList.remove('jp-mod-active'));
      b.classList.add('jp-mod-active');
      try {
        await sendFeedback({ interaction_id: interaction, kind });
      } catch (err) {
        b.classList.remove('jp-mod-active');
        b.title = `Feedback was not recorded: ${(err as Error).message}`;
      }
    });
    group.appendChild(b);
  }
  return group;
}

/** "Context used: Kernel variables: df (…), x · Cell 3": one line when it is short; else collapsed to
 * "Context used (N)", one piece a line when opened. Each piece's tooltip is what was sent. */
function contextUsed(pieces: IUsedPiece[]): HTMLElement {
  const inline = (): HTMLElement => {
    const line = document.createElement('span');
    line.className = 'jp-nexus-used-pieces';
    pieces.forEach((p, i) => {
      const piece = document.createElement('span');
      piece.className = `jp-nexus-used-piece jp-mod-${p.kind}`;
      piece.textContent = p.text;
      piece.title = p.preview;
      line.append(...(i ? [' · ', piece] : [piece]));
    });
    return line;
  };
  if (usedFitsInline(pieces)) {
    const row = document.createElement('div');
    row.className = 'jp-nexus-context-used';
    row.append('Context used: ', inline());
    return row;
  }
  const details = document.createElement('details');
  details.className = 'jp-nexus-context-used';
  const summary = document.createElement('summary');
  const line = inline();
  line.prepend(': '); // hidden with the pieces when the list is open
  summary.append(`Context used (${pieces.length})`, line);
  const list = document.createElement('ul');
  for (const p of pieces) {
    const item = document.createElement('li');
    item.className = `jp-nexus-used-piece jp-mod-${p.kind}`;
    item.textContent = p.text;
    item.title = p.preview;
    list.appendChild(item);
  }
  details.append(summary, list);
  return details;
}
