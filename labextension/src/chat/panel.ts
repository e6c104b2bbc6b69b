/**
 * The chat panel (right sidebar): conversation list, streamed answers, Stop,
 * context chips the user can remove, slash-command completion, the voice
 * button and thumbs up / down, and the agent (Chat | Agent, ``/agent``: ../agent/).
 * State per answer lives in ``AnswerState``; this file is the DOM.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon, usersIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { AgentChat } from '../agent/chat';
import { agentGoal } from '../agent/modes';
import { ContextKind, getConversation, ICitation } from '../api';
import { reportingUse } from '../feedback';
import { newRequestId } from '../socket';
import type { IContextProvider, INexusClient } from '../tokens';
import { AnswerState } from './answer';
import type { ICitationTarget } from './citations';
import { chipsFor, EMPTY_CONTEXT, IEditorContext, frameContext } from './context';
import { ConversationPicker } from './conversations';
import { ICodeActions, MessageView } from './message';
import { SharedChat } from './shared';
import { button, renderFooter } from './footer';
import { ISlashCommand, matchSlash, namesCommand, parseSlash } from './slash';

export interface IChatPanelOptions {
  client: INexusClient;
  rendermime: IRenderMimeRegistry;
  actions: ICodeActions;
  editorContext: () => IEditorContext;
  commands: ISlashCommand[];
  contextProviders: IContextProvider[];
  icon: LabIcon;
  /** The path of the active notebook (whose shared chat the Notebook toggle shows), or null. */
  notebookPath: () => string | null;
  /** Open a cited file at the cited lines or cell (an answer's ``Sources:`` links). */
  openSource: (target: ICitationTarget) => Promise<void> | void;
}

export class ChatPanel extends Widget {
  constructor(private options: IChatPanelOptions) {
    super();
    this._actions = reportingUse(options.actions);
    this.id = 'nexus-chat';
    this.addClass('jp-nexus-chat');
    this.title.icon = options.icon;
    this.title.caption = 'NEXUS chat';

    const header = document.createElement('div');
    header.className = 'jp-nexus-chat-header';
    this._picker = new ConversationPicker({
      current: () => this._conversationId,
      open: id => this.open(id)
    });
    this._sharedToggle = button('Notebook', 'Notebook chat: shared with everyone who can open this notebook', 'jp-mod-shared', usersIcon);
    this._sharedToggle.setAttribute('aria-pressed', 'false');
    this._sharedToggle.addEventListener('click', () => void this.setShared(!this.sharedMode));
    header.append(this._picker.node, this._sharedToggle);
    this._banner.className = 'jp-nexus-shared-banner';
    this._banner.hidden = true;

    this._connection.className = 'jp-nexus-connection';
    this._log.className = 'jp-nexus-chat-log';
    this._empty.className = 'jp-nexus-chat-empty';
    this._empty.innerHTML =
      '<p><strong>Ask NEXUS</strong> about your code, or type <code>/</code> for commands.</p>' +
      '<p>The active cell, your selection and the last error are sent along; remove a chip to leave it out.</p>';
    this._log.appendChild(this._empty);

    this._chips.className = 'jp-nexus-chips';
    this._slash.className = 'jp-nexus-slash';
    this._slash.setAttribute('role', 'listbox');

    const inputRow = document.createElement('div');
    inputRow.className = 'jp-nexus-input-row';
    this._input.className = 'jp-nexus-input';
    this._input.rows = 3;
    this._input.placeholder = 'Ask NEXUS…  (Enter to send, Shift+Enter for a new line)';
    this._input.addEventListener('keydown', ev => this._onKey(ev));
    this._input.addEventListener('input', () => {
      this._updateSlash();
      this._agent.clearNotice();
      this._drawChips(); // the "Last error" chip follows what the message is about
    });
    this._input.addEventListener('focus', () => this.refreshContext());
    this._send = button('Send', 'Send (Enter)', 'jp-mod-send jp-mod-accept');
    this._send.addEventListener('click', () => void this.send());
    this._stop = button('Stop', 'Stop the answer', 'jp-mod-stop jp-mod-warn');
    this._stop.addEventListener('click', () => this.stop());
    this._stop.hidden = true;
    this.toolbar.className = 'jp-nexus-input-buttons';
    this.toolbar.append(this._send, this._stop);
    inputRow.append(this._input, this.toolbar);

    this._agent = new AgentChat({
      client: options.client,
      rendermime: options.rendermime,
      actions: this._actions,
      notebookPath: options.notebookPath,
      log: this._log,
      append: node => {
        this._empty.remove();
        this._log.appendChild(node);
        this._log.scrollTop = this._log.scrollHeight;
      },
      onToggle: () => this._showMode()
    });
    this.node.append(
      header,
      this._banner,
      this._connection,
      this._log,
      this._chips,
      this._slash,
      this._agent.controls.node,
      inputRow
    );
    this.shared = new SharedChat(options.client, {
      addMessage: (role, author) => this._addMessage(role, author),
      addNote: text => {
        const note = document.createElement('div');
        note.className = 'jp-nexus-note';
        note.textContent = text;
        this._log.appendChild(note);
        this._log.scrollTop = this._log.scrollHeight;
      },
      footer: (view, model, state, citations) => this._footer(view, model, state, citations),
      clear: () => this._log.replaceChildren(),
      setBanner: text => (this._banner.textContent = text)
    });
    options.client.onStateChange(state => this._showConnection(state));
    // The user's other tabs: a message added there appears here live (the server's room broadcast).
    options.client.listen(frame => {
      if (frame.type === 'conversation.message' && !this.sharedMode) {
        if (frame.conversation_id === this._conversationId && frame.message.role !== 'system') {
          this._empty.remove();
          const view = this._addMessage(frame.message.role);
          if (frame.message.role === 'user') {
            view.setPlain(frame.message.content);
          } else {
            void view.setMarkdown(frame.message.content);
            const model = frame.message.provider ? `${frame.message.provider}/${frame.message.model}` : '';
            this._footer(view, model, null, frame.message.citations);
          }
        } else {
          void this.refreshConversations();
        }
      }
    });
    this._showConnection(options.client.state);
    this._showMode();
  }

  /** Buttons next to Send (the voice button adds itself here). */
  readonly toolbar = document.createElement('div');

  get conversationId(): string | null {
    return this._conversationId;
  }

  get busy(): boolean {
    return this._running !== null;
  }

  /** The active notebook's shared chat (shown while ``sharedMode``). */
  readonly shared: SharedChat;

  get sharedMode(): boolean {
    return this._sharedMode;
  }

  /** Switch between the user's private conversations and the active notebook's shared chat. */
  async setShared(on: boolean): Promise<void> {
    this.stop();
    this._sharedMode = on;
    this.node.classList.toggle('jp-mod-shared-chat', on);
    this._sharedToggle.classList.toggle('jp-mod-active', on);
    this._sharedToggle.setAttribute('aria-pressed', String(on));
    this._banner.hidden = !on;
    this._picker.node.hidden = on;
    if (on) {
      await this.shared.open(this.options.notebookPath());
    } else {
      await this.shared.open(null);
      await this.open(this._conversationId);
    }
    this._agent.reattach();
  }

  /** The active notebook changed: the notebook chat follows it (and the agent works there). */
  async notebookChanged(): Promise<void> {
    this._showMode();
    if (this._sharedMode) {
      await this.shared.open(this.options.notebookPath());
      this._agent.reattach();
    }
  }

  /** Put text into the prompt (voice transcript, "Explain" from a cell). */
  setPrompt(text: string): void {
    this._input.value = text;
    this._input.focus();
    this._updateSlash();
  }

  /** Re-read the active cell / selection / error into the chips. */
  refreshContext(): void {
    this._context = this.options.editorContext();
    this._drawChips();
  }

  /** The chips: exactly what the message being typed would be sent with. */
  private _drawChips(): void {
    this._chips.replaceChildren();
    for (const chip of chipsFor(this._context, this._removed, this._input.value)) {
      const el = document.createElement('span');
      el.className = `jp-nexus-chip jp-mod-${chip.kind}`;
      el.title = chip.preview;
      const label = document.createElement('span');
      label.textContent = chip.label;
      const x = document.createElement('button');
      x.className = 'jp-nexus-chip-remove';
      x.textContent = '×';
      x.title = `Do not send ${chip.label.toLowerCase()}`;
      x.addEventListener('click', () => {
        this._removed.add(chip.kind as ContextKind);
        this._drawChips();
      });
      el.append(label, x);
      this._chips.appendChild(el);
    }
  }

  async refreshConversations(): Promise<void> {
    await this._picker.refresh();
  }

  /** Show a stored conversation, or a fresh one for ``null``. */
  async open(id: string | null): Promise<void> {
    this.stop();
    this._conversationId = id;
    this._log.replaceChildren();
    if (id === null) {
      this._log.appendChild(this._empty);
    } else {
      const detail = await getConversation(id);
      for (const m of detail.messages) {
        if (m.role === 'system') {
          continue;
        }
        const view = this._addMessage(m.role);
        if (m.role === 'user') {
          view.setPlain(m.content);
        } else {
          await view.setMarkdown(m.content);
          this._footer(view, m.provider && m.model ? `${m.provider}/${m.model}` : '', null, m.citations);
        }
      }
    }
    this._agent.reattach();
    await this.refreshConversations();
  }

  /**
   * Send the prompt (or ``text``) with the visible context chips. A goal goes to the agent instead:
   * ``/agent <goal>``, or what the user typed in Agent mode (``text`` from other features, such as
   * Explain, always goes to the chat).
   */
  async send(text?: string): Promise<void> {
    let prompt = (text ?? this._input.value).trim();
    const typedForAgent = text === undefined && this._agent.agentMode;
    const goal = agentGoal(prompt, typedForAgent, parseSlash(prompt, this.options.commands) !== null);
    if (goal !== null) {
      if (this._agent.start(goal)) {
        this._input.value = '';
        this._updateSlash();
        this._agent.clearNotice();
      }
      return;
    }
    if (!prompt || this._running) {
      return;
    }
    const notebook = this._sharedMode ? this.shared.path : null;
    if (this._sharedMode && (!notebook || this.shared.error)) {
      return; // the banner says why (no notebook open, or no access)
    }
    const parsed = parseSlash(prompt, this.options.commands);
    if (parsed) {
      const result = await parsed.command.run(parsed.rest);
      if (result === null) {
        this._input.value = '';
        this._updateSlash();
        return;
      }
      prompt = result;
    }
    this._input.value = '';
    this._updateSlash();
    this._context = this.options.editorContext();
    const context = frameContext(this._context, this._removed, prompt);
    this._removed.clear(); // chips come back for the next message, and the row shows them again
    this._drawChips();
    const extra = await this._providedContext();
    if (extra) {
      context.selection = [context.selection, extra].filter(Boolean).join('\n\n').slice(0, 20_000);
    }
    this._empty.remove();
    this._addMessage('user', this._sharedMode ? 'You' : null).setPlain(prompt);
    const view = this._addMessage('assistant');
    view.node.classList.add('jp-mod-streaming');
    view.setPlain('…');
    const id = newRequestId('chat');
    const state = new AnswerState(id);
    const sentAt = performance.now();
    view.node.dataset.requestId = id;
    view.node.dataset.sentAt = String(sentAt);
    this._running = { id, state, view };
    this._setBusy(true);
    view.node.addEventListener('nexus-first-paint', () => {
      view.node.dataset.firstTokenMs = String(Math.round((view.firstPaint ?? sentAt) - sentAt));
    });
    this.options.client.request(
      notebook
        ? { type: 'chat', id, text: prompt, context, notebook }
        : { type: 'chat', id, conversation_id: this._conversationId, text: prompt, context },
      frame => {
        if (!state.apply(frame)) {
          return;
        }
        if (frame.type === 'chat.delta' || frame.type === 'chat.restart') {
          void view.setMarkdown(state.text);
        }
        if (state.finished) {
          void this._finish(state, view);
        }
      }
    );
  }

  /** Stop the running answer; the server keeps what was said so far. */
  stop(): void {
    if (this._running) {
      this.options.client.cancel(this._running.id);
    }
  }

  private async _finish(state: AnswerState, view: MessageView): Promise<void> {
    view.node.classList.remove('jp-mod-streaming');
    if (state.status === 'error') {
      view.node.classList.add('jp-mod-error');
      view.setPlain(state.error ?? 'The answer failed.');
    } else {
      await view.setMarkdown(state.text || (state.status === 'cancelled' ? '_Stopped before the first word._' : ''));
    }
    const sentAt = Number(view.node.dataset.sentAt ?? performance.now());
    view.node.dataset.doneMs = String(Math.round(performance.now() - sentAt));
    const done = state.done;
    if (done) {
      view.node.dataset.ttftMs = String(Math.round(done.ttft_ms ?? -1));
      view.node.dataset.model = state.model;
    }
    this._footer(view, state.model, state);
    this._running = null;
    this._setBusy(false);
    if (!this._sharedMode && state.conversationId && state.conversationId !== this._conversationId) {
      this._conversationId = state.conversationId;
      await this.refreshConversations();
    }
  }

  /** The footer under an answer, and its ``Sources:`` links (a stored answer's ``citations``). */
  private _footer(view: MessageView, model: string, state: AnswerState | null, citations?: ICitation[]): void {
    renderFooter(view, model, state);
    view.setSources(citations ?? state?.done?.citations ?? [], target => void this.options.openSource(target));
  }

  private _addMessage(role: 'user' | 'assistant', author?: string | null): MessageView {
    const view = new MessageView(role, this.options.rendermime, this._actions);
    if (author) {
      const label = document.createElement('div');
      label.className = 'jp-nexus-author';
      label.textContent = author;
      view.node.prepend(label);
    }
    this._log.appendChild(view.node);
    this._log.scrollTop = this._log.scrollHeight;
    return view;
  }

  private async _providedContext(): Promise<string> {
    const parts: string[] = [];
    for (const p of this.options.contextProviders) {
      try {
        const text = await p.provide();
        if (text) {
          parts.push(`# ${p.name}:\n${text}`);
        }
      } catch {
        // a broken provider must not block sending
      }
    }
    return parts.join('\n\n');
  }

  private _setBusy(busy: boolean): void {
    this._send.hidden = busy;
    this._stop.hidden = !busy;
    this.node.classList.toggle('jp-mod-busy', busy);
  }

  /** Chat or Agent: what Enter does, and what the input says it does. */
  private _showMode(): void {
    const agent = this._agent.agentMode;
    this.node.classList.toggle('jp-mod-agent', agent);
    const notebook = this.options.notebookPath();
    this._input.placeholder = !agent
      ? 'Ask NEXUS…  (Enter to send, Shift+Enter for a new line)'
      : notebook
        ? `Tell the agent what to do in ${notebook.split('/').pop()}…  (Enter to start)`
        : 'Open a notebook: the agent works in the active notebook.';
    this._input.setAttribute('aria-label', agent ? 'Goal for the agent' : 'Message to NEXUS');
  }

  private _showConnection(state: string): void {
    this._connection.textContent = state === 'open' ? '' : state === 'connecting' ? 'Connecting to NEXUS…' : 'Reconnecting to NEXUS…';
    this._connection.hidden = state === 'open';
  }

  private _onKey(ev: KeyboardEvent): void {
    const items = Array.from(this._slash.children) as HTMLElement[];
    const enter = ev.key === 'Enter' && !ev.shiftKey;
    const complete = ev.key === 'Tab' || (enter && !namesCommand(this._input.value, this.options.commands));
    if (items.length && complete) {
      ev.preventDefault();
      const active = items.find(i => i.classList.contains('jp-mod-active')) ?? items[0];
      this.setPrompt(`/${active.dataset.name} `);
      return;
    }
    if (items.length && (ev.key === 'ArrowDown' || ev.key === 'ArrowUp')) {
      ev.preventDefault();
      const index = items.findIndex(i => i.classList.contains('jp-mod-active'));
      const next = (index + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      items.forEach((item, i) => item.classList.toggle('jp-mod-active', i === next));
      return;
    }
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      void this.send();
    }
  }

  private _updateSlash(): void {
    this._slash.replaceChildren();
    matchSlash(this._input.value, this.options.commands).forEach((c, i) => {
      const item = document.createElement('div');
      item.className = `jp-nexus-slash-item${i === 0 ? ' jp-mod-active' : ''}`;
      item.dataset.name = c.name;
      item.setAttribute('role', 'option');
      const name = document.createElement('strong');
      name.textContent = `/${c.name}`;
      const desc = document.createElement('span');
      desc.textContent = c.description;
      item.append(name, desc);
      item.addEventListener('mousedown', ev => {
        ev.preventDefault();
        this.setPrompt(`/${c.name} `);
      });
      this._slash.appendChild(item);
    });
  }

  private _picker: ConversationPicker;
  private _sharedToggle: HTMLButtonElement;
  private _banner = document.createElement('div');
  private _sharedMode = false;
  private _connection = document.createElement('div');
  private _log = document.createElement('div');
  private _empty = document.createElement('div');
  private _chips = document.createElement('div');
  private _slash = document.createElement('div');
  private _input = document.createElement('textarea');
  private _send: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _conversationId: string | null = null;
  private _context: IEditorContext = EMPTY_CONTEXT;
  private _removed = new Set<ContextKind>();
  private _running: { id: string; state: AnswerState; view: MessageView } | null = null;
  private _actions: ICodeActions;
  private _agent: AgentChat;
}
