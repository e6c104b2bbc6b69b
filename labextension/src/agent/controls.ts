/**
 * The row above the chat input: Chat | Agent, the approval mode (in Agent
 * mode), and a one-line notice (why a goal was not sent, or that the agent is
 * unavailable here).
 */
import type { AgentMode } from '../api';
import { modeOptions } from './modes';

export class AgentControls {
  readonly node = document.createElement('div');

  constructor(private onToggle: (agentMode: boolean) => void) {
    this.node.className = 'jp-nexus-agent-controls';
    const group = document.createElement('div');
    group.className = 'jp-nexus-segmented';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', 'Chat or agent');
    this._chat = this._segment('Chat', 'Chat: ask NEXUS about your code', false);
    this._agent = this._segment('Agent', 'Agent: NEXUS edits and runs cells in the active notebook, asking you first', true);
    group.append(this._chat, this._agent);
    this._select.className = 'jp-nexus-agent-mode';
    this._select.setAttribute('aria-label', 'Approval mode of the agent');
    this._select.title = 'What the agent may do without asking you';
    this.setAllowAuto(false);
    this._notice.className = 'jp-nexus-agent-notice';
    this._notice.hidden = true;
    this.node.append(group, this._select, this._notice);
    this.agentMode = false;
  }

  get agentMode(): boolean {
    return this._agentMode;
  }

  set agentMode(on: boolean) {
    this._agentMode = on;
    this._chat.setAttribute('aria-pressed', String(!on));
    this._agent.setAttribute('aria-pressed', String(on));
    this._chat.classList.toggle('jp-mod-active', !on);
    this._agent.classList.toggle('jp-mod-active', on);
    this._select.hidden = !on;
  }

  /** The approval mode chosen for the next turn. */
  get mode(): AgentMode {
    return this._select.value as AgentMode;
  }

  /** Offer ``Auto`` only where the server allows it (``GET /agent/tools``). */
  setAllowAuto(allow: boolean): void {
    const current = this._select.value || 'ask';
    this._select.replaceChildren();
    for (const option of modeOptions(allow)) {
      const o = document.createElement('option');
      o.value = option.value;
      o.textContent = option.label;
      o.title = option.title;
      this._select.appendChild(o);
    }
    this._select.value = modeOptions(allow).some(o => o.value === current) ? current : 'ask';
  }

  /** Show ``text`` above the input (``null``: hide it); ``error`` colours it and announces it. */
  notice(text: string | null, error = false): void {
    this._notice.textContent = text ?? '';
    this._notice.hidden = !text;
    this._notice.classList.toggle('jp-mod-error', error);
    this._notice.setAttribute('role', error ? 'alert' : 'status');
  }

  private _segment(label: string, title: string, agent: boolean): HTMLButtonElement {
    const b = document.createElement('button');
    b.className = 'jp-nexus-segment';
    b.type = 'button';
    b.textContent = label;
    b.title = title;
    b.dataset.mode = agent ? 'agent' : 'chat';
    b.addEventListener('click', () => {
      if (this._agentMode !== agent) {
        this.agentMode = agent;
        this.onToggle(agent);
      }
    });
    return b;
  }

  private _agentMode = false;
  private _chat: HTMLButtonElement;
  private _agent: HTMLButtonElement;
  private _select = document.createElement('select');
  private _notice = document.createElement('div');
}
