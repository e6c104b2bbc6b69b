/**
 * The notebook chat: one conversation per notebook, shared live by everyone
 * who can open the notebook. The server checks access for every frame; here we
 * join the active notebook's chat, show who is there, render the questions and
 * streaming answers of collaborators as they come, and tell the others what
 * this user did with an answer (inserted or ran its code).
 */
import type { ICitation, IMessage, NotebookAction, ServerFrame } from '../api';
import { getNotebookChat } from '../api';
import type { INexusClient } from '../tokens';
import { AnswerState } from './answer';
import type { MessageView } from './message';

/** What the chat panel lends the notebook chat to draw with. */
export interface ISharedChatHost {
  addMessage(role: 'user' | 'assistant', author?: string | null): MessageView;
  addNote(text: string): void;
  /** The footer under an answer; ``citations``: a stored answer's (a live one's are in its state). */
  footer(view: MessageView, model: string, state: AnswerState | null, citations?: ICitation[]): void;
  clear(): void;
  setBanner(text: string): void;
}

/** A collaborator's answer streaming in. */
interface IRemoteAnswer {
  state: AnswerState;
  question: MessageView;
  view: MessageView;
  asked: boolean;
}

export class SharedChat {
  constructor(
    private client: INexusClient,
    private host: ISharedChatHost
  ) {
    client.listen(frame => this._onFrame(frame));
    client.onStateChange(state => {
      if (state === 'open' && this.path) {
        this.client.send({ type: 'notebook.join', path: this.path }); // a new socket: join again
      }
    });
  }

  /** The notebook whose chat is shown, or null. */
  path: string | null = null;
  conversationId: string | null = null;
  members: string[] = [];
  /** Set when the server refused the notebook's chat (no access). */
  error: string | null = null;

  /** Show ``path``'s chat and follow it live (``null``: leave). */
  async open(path: string | null): Promise<void> {
    if (path === this.path) {
      return;
    }
    if (this.path) {
      this.client.send({ type: 'notebook.leave', path: this.path });
    }
    this.path = path;
    this.conversationId = null;
    this.members = [];
    this.error = null;
    this._remote.clear();
    this.host.clear();
    if (!path) {
      this.host.setBanner('Open a notebook to chat with everyone working on it.');
      return;
    }
    this._banner();
    try {
      const detail = await getNotebookChat(path);
      if (path !== this.path) {
        return;
      }
      this.conversationId = detail.id;
      for (const m of detail.messages) {
        await this._show(m);
      }
    } catch (err) {
      this.error = (err as Error).message;
      this.host.setBanner(this.error);
      return;
    }
    this.client.send({ type: 'notebook.join', path });
  }

  /** Tell the notebook's collaborators what this user did with an answer. */
  report(path: string, action: NotebookAction, cellId: string | null): void {
    if (path === this.path && this.conversationId) {
      this.client.send({ type: 'notebook.activity', path, action, cell_id: cellId });
    }
  }

  private async _show(m: IMessage): Promise<void> {
    if (m.role === 'system') {
      return;
    }
    const view = this.host.addMessage(m.role, m.role === 'user' ? m.author : null);
    if (m.role === 'user') {
      view.setPlain(m.content);
    } else {
      await view.setMarkdown(m.content);
      this.host.footer(view, m.provider && m.model ? `${m.provider}/${m.model}` : '', null, m.citations);
    }
  }

  private _banner(): void {
    const here = this.members.length ? ` · here: ${this.members.join(', ')}` : '';
    this.host.setBanner(`${this.path}${here}`);
  }

  private _onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'notebook.joined':
      case 'notebook.members':
        if (frame.path === this.path) {
          this.members = frame.members;
          if (frame.type === 'notebook.joined') {
            this.conversationId = frame.conversation_id;
          }
          this._banner();
        }
        return;
      case 'notebook.activity':
        if (frame.path === this.path) {
          const what = { inserted: 'inserted code from NEXUS into', replaced: 'replaced code in', ran: 'ran code from NEXUS in' };
          this.host.addNote(`${frame.author} ${what[frame.action]} the notebook.`);
        }
        return;
      case 'chat.started':
        if (frame.conversation_id === this.conversationId && !this._remote.has(frame.id)) {
          const question = this.host.addMessage('user', frame.author);
          question.setPlain('…');
          const view = this.host.addMessage('assistant');
          view.node.classList.add('jp-mod-streaming');
          view.setPlain('…');
          const state = new AnswerState(frame.id);
          state.apply(frame);
          this._remote.set(frame.id, { state, question, view, asked: false });
        }
        return;
      case 'conversation.message':
        if (frame.conversation_id === this.conversationId) {
          this._message(frame.message);
        }
        return;
      case 'chat.delta':
      case 'chat.restart':
      case 'chat.done': {
        const remote = this._remote.get(frame.id);
        if (remote && remote.state.apply(frame)) {
          if (frame.type === 'chat.done') {
            remote.view.node.classList.remove('jp-mod-streaming');
            void remote.view.setMarkdown(remote.state.text);
            this.host.footer(remote.view, remote.state.model, remote.state);
            this._remote.delete(frame.id);
          } else {
            void remote.view.setMarkdown(remote.state.text);
          }
        }
        return;
      }
      default:
        return;
    }
  }

  /** A stored message a collaborator's request produced: fill the question, or the final answer. */
  private _message(m: IMessage): void {
    const pending = [...this._remote.values()];
    if (m.role === 'user') {
      const remote = pending.find(r => !r.asked);
      if (remote) {
        remote.question.setPlain(m.content);
        remote.asked = true;
        return;
      }
    } else if (m.role === 'assistant' && pending.length) {
      pending[0].state.text = m.content; // the stored answer is the whole one (facts and sources included)
      void pending[0].view.setMarkdown(m.content);
      return;
    }
    void this._show(m);
  }

  private _remote = new Map<string, IRemoteAnswer>();
}
