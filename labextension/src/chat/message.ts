/**
 * One message in the chat panel. Answers are Markdown from a model, so they
 * are rendered through rendermime as *untrusted* (no scripts, no event
 * handlers) into a detached node, neutralised (no command linkers, forms or
 * buttons from the model), and only then shown. Each code block gets Copy,
 * Insert below, Replace selection and Run; each citation of the ``Sources:``
 * line opens the cited file (``setSources``).
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';

import type { ICitation } from '../api';
import { citationTarget, citationText, citationTitle, ICitationTarget, isSourcesLine } from './citations';
import { neutralise } from './sanitize';

/** Where code came from: the answer (its interaction, null while it streams) and the model that wrote it. */
export interface ICodeOrigin {
  /** Using an answer's code is feedback on it (``accepted``). */
  interactionId?: number | null;
  /** Kept in the cell's ``metadata.nexus`` with who asked. */
  model?: string;
}

/** What code-block buttons do; the plugin implements them on the active notebook or editor. */
export interface ICodeActions {
  insertBelow(code: string, origin?: ICodeOrigin): Promise<void> | void;
  replaceSelection(code: string, origin?: ICodeOrigin): Promise<void> | void;
  run(code: string, origin?: ICodeOrigin): Promise<void> | void;
}

const CODE_BUTTONS: [string, string, keyof ICodeActions | 'copy'][] = [
  ['Copy', 'Copy the code', 'copy'],
  ['Insert below', 'Insert the code as a new cell below the active cell', 'insertBelow'],
  ['Replace selection', 'Replace the selection (or the active cell) with the code', 'replaceSelection'],
  ['Run', 'Insert the code below the active cell and run it', 'run']
];

/** How close to the bottom (px) the log must be for a growing answer to keep it scrolled there. */
const FOLLOW_PX = 48;

export class MessageView {
  readonly node: HTMLElement;
  readonly body: HTMLElement;
  readonly footer: HTMLElement;

  constructor(
    readonly role: 'user' | 'assistant',
    private rendermime: IRenderMimeRegistry,
    private actions: ICodeActions
  ) {
    this.node = document.createElement('div');
    this.node.className = `jp-nexus-message jp-nexus-message-${role}`;
    this.body = document.createElement('div');
    this.body.className = 'jp-nexus-message-body';
    this.footer = document.createElement('div');
    this.footer.className = 'jp-nexus-message-footer';
    this.node.append(this.body, this.footer);
  }

  /** Show ``markdown``; calls during a render coalesce into one more render of the latest text. */
  setMarkdown(markdown: string): Promise<void> {
    this._latest = markdown;
    if (!this._rendering) {
      this._rendering = this._renderLoop();
    }
    return this._rendering;
  }

  setPlain(text: string): void {
    this.body.textContent = text;
  }

  /** The answer's citations (``chat.done.citations``, or a stored answer's): its ``Sources:`` line is
   * drawn again with a link for each, now and after every later render. */
  setSources(citations: readonly ICitation[], open: (target: ICitationTarget) => void): void {
    this._sources = citations.length ? { citations, open } : null;
    this._linkSources(this.body);
  }

  private async _renderLoop(): Promise<void> {
    try {
      while (this._shown !== this._latest) {
        const text = this._latest;
        const renderer = this.rendermime.createRenderer('text/markdown');
        await renderer.renderModel(new MimeModel({ data: { 'text/markdown': text }, trusted: false }));
        neutralise(renderer.node);
        this._decorateCode(renderer.node);
        this._linkSources(renderer.node);
        // Follow the answer as it grows, unless the reader scrolled up to read something else.
        const log = this.node.parentElement;
        const follow = log !== null && log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_PX;
        this.body.replaceChildren(renderer.node);
        if (follow) {
          log.scrollTop = log.scrollHeight;
        }
        this._shown = text;
        if (text.trim() && this.firstPaint === null) {
          this.firstPaint = performance.now();
          this.node.dispatchEvent(new CustomEvent('nexus-first-paint', { bubbles: true }));
        }
      }
    } finally {
      this._rendering = null;
    }
  }

  private _decorateCode(root: HTMLElement): void {
    for (const pre of Array.from(root.querySelectorAll('pre'))) {
      const bar = document.createElement('div');
      bar.className = 'jp-nexus-code-toolbar';
      // code folded under "Unverified suggestion" failed NEXUS's check run: it can be copied, not applied
      const buttons = pre.closest('details') ? CODE_BUTTONS.filter(([, , action]) => action === 'copy') : CODE_BUTTONS;
      for (const [label, title, action] of buttons) {
        const button = document.createElement('button');
        button.className = `jp-nexus-code-button jp-mod-${action}`;
        button.textContent = label;
        button.title = title;
        button.addEventListener('click', () => {
          const code = (pre.textContent ?? '').replace(/\n$/, '');
          if (action === 'copy') {
            Clipboard.copyToSystem(code);
            button.textContent = 'Copied';
            setTimeout(() => (button.textContent = label), 1200);
          } else {
            void this.actions[action](code, { interactionId: this.interactionId });
          }
        });
        bar.appendChild(button);
      }
      const wrap = document.createElement('div');
      wrap.className = 'jp-nexus-code';
      pre.replaceWith(wrap);
      wrap.append(bar, pre);
    }
  }

  private _linkSources(root: HTMLElement): void {
    if (!this._sources) {
      return;
    }
    const { citations, open } = this._sources;
    const line = Array.from(root.querySelectorAll('p'))
      .reverse()
      .find(p => isSourcesLine(p.textContent ?? ''));
    if (!line) {
      return;
    }
    line.className = 'jp-nexus-sources';
    line.replaceChildren('Sources: ');
    citations.forEach((citation, i) => {
      const target = citationTarget(citation);
      const item = document.createElement(target ? 'button' : 'span');
      item.className = target ? 'jp-nexus-citation' : 'jp-nexus-citation jp-mod-text';
      item.textContent = `[${i + 1}] ${citationText(citation)}`;
      item.title = citationTitle(target);
      if (target) {
        item.addEventListener('click', () => open(target));
      }
      line.append(...(i ? ['; ', item] : [item]));
    });
  }

  /** The recorded interaction of this answer, once it is done. */
  interactionId: number | null = null;
  /** ``performance.now()`` when text first appeared on screen (the first-token latency the user sees). */
  firstPaint: number | null = null;
  private _sources: { citations: readonly ICitation[]; open: (target: ICitationTarget) => void } | null = null;
  private _latest = '';
  private _shown: string | null = null;
  private _rendering: Promise<void> | null = null;
}
