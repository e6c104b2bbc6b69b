/**
 * Small DOM pieces of the chat panel: its buttons, and the footer under an
 * answer (fallbacks, the model, first-token time, thumbs up / down feedback).
 */
import type { LabIcon } from '@jupyterlab/ui-components';

import { sendFeedback } from '../api';
import { thumbDownIcon, thumbUpIcon } from '../icons';
import { footerText, type AnswerState } from './answer';
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

export function renderFooter(view: MessageView, model: string, state: AnswerState | null): void {
  const footer = view.footer;
  footer.replaceChildren();
  for (const line of state?.fallbacks ?? []) {
    const f = document.createElement('div');
    f.className = 'jp-nexus-fallback';
    f.textContent = line;
    footer.appendChild(f);
  }
  const meta = document.createElement('span');
  meta.className = 'jp-nexus-model';
  const waited = view.node.dataset.firstTokenMs;
  meta.textContent = footerText(model, state, waited === undefined ? null : Number(waited));
  footer.appendChild(meta);
  const interaction = state?.done?.interaction_id;
  view.interactionId = interaction ?? null;
  if (interaction) {
    for (const [icon, kind] of [[thumbUpIcon, 'up'], [thumbDownIcon, 'down']] as const) {
      const b = button('', kind === 'up' ? 'Good answer' : 'Bad answer', 'jp-nexus-thumb', icon);
      b.addEventListener('click', async () => {
        footer.querySelectorAll('.jp-nexus-thumb').forEach(t => t.classList.remove('jp-mod-active'));
        b.classList.add('jp-mod-active');
        try {
          await sendFeedback({ interaction_id: interaction, kind });
        } catch (err) {
          b.classList.remove('jp-mod-active');
          b.title = `Feedback was not recorded: ${(err as Error).message}`;
        }
      });
      footer.appendChild(b);
    }
  }
}
