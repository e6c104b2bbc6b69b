/**
 * The agent inside the chat panel: the Chat | Agent controls, starting a turn
 * in the active notebook, and a card per turn in the chat's message list.
 * The panel calls ``start`` for ``/agent <goal>`` or anything sent in Agent
 * mode; the agent's edits reach the open notebook through the shared document,
 * so nothing here touches the notebook.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { getAgentRun, getAgentTools } from '../api';
import type { ICodeActions } from '../chat/message';
import { newRequestId } from '../socket';
import type { INexusClient } from '../tokens';
import { AgentTurnCard } from './card';
import { AgentControls } from './controls';
import type { AgentTurn } from './turn';
import { AgentTurns } from './turns';

export interface IAgentChatOptions {
  client: INexusClient;
  rendermime: IRenderMimeRegistry;
  actions: ICodeActions;
  /** The notebook active in JupyterLab, where a turn runs. */
  notebookPath: () => string | null;
  /** The chat's message list (cards go at its end). */
  log: HTMLElement;
  /** Add a node at the end of the message list. */
  append: (node: HTMLElement) => void;
  /** Chat | Agent was switched. */
  onToggle: (agentMode: boolean) => void;
}

/** Within this many pixels of the bottom, the list follows a growing card. */
const FOLLOW_PX = 60;

export class AgentChat {
  constructor(private options: IAgentChatOptions) {
    this.controls = new AgentControls(on => {
      this.controls.notice(null);
      if (on) {
        void this.loadTools();
      }
      options.onToggle(on);
    });
    this.turns = new AgentTurns({
      client: options.client,
      fetchRun: getAgentRun,
      newId: () => newRequestId('agent'),
      display: turn => this._display(turn)
    });
  }

  readonly controls: AgentControls;
  readonly turns: AgentTurns;

  get agentMode(): boolean {
    return this.controls.agentMode;
  }

  /** Start a turn for ``goal`` in the active notebook; false (with a notice saying why) when it cannot. */
  start(goal: string): boolean {
    if (!goal) {
      this.controls.notice('Say what the agent should do: /agent <goal>', true);
      return false;
    }
    const notebook = this.options.notebookPath();
    if (!notebook) {
      this.controls.notice('Open a notebook first: the agent works in the notebook that is active in JupyterLab.', true);
      return false;
    }
    this.controls.notice(null);
    void this.loadTools();
    this.turns.start(notebook, goal, this.controls.mode);
    return true;
  }

  /** Clear the notice (the user is typing again). */
  clearNotice(): void {
    this.controls.notice(null);
  }

  /** The message list was cleared (another conversation): put the cards of live turns back. */
  reattach(): void {
    for (const turn of this.turns.turns) {
      const card = this._cards.get(turn);
      if (card && !turn.ended && !card.node.isConnected) {
        this.options.append(card.node);
      }
    }
  }

  /** Ask the server which approval modes it allows (once it has answered). */
  async loadTools(): Promise<void> {
    if (this._tools) {
      return;
    }
    this._tools = true;
    try {
      const tools = await getAgentTools();
      this.controls.setAllowAuto(tools.allow_auto);
    } catch (err) {
      this._tools = false;
      this.controls.notice(`The agent is not available: ${(err as Error).message}`, true);
    }
  }

  private _display(turn: AgentTurn): { update(): void } {
    const card = new AgentTurnCard(turn, this.options.rendermime, this.options.actions, {
      decide: (stepId, decision, reason) => this.turns.decide(turn, stepId, decision, reason),
      stop: () => this.turns.stop(turn),
      undo: () => this.turns.undo(turn)
    });
    this._cards.set(turn, card);
    this.options.append(card.node);
    const log = this.options.log;
    return {
      update: () => {
        const follow = log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_PX;
        card.update();
        if (follow) {
          log.scrollTop = log.scrollHeight;
        }
      }
    };
  }

  private _cards = new Map<AgentTurn, AgentTurnCard>();
  private _tools = false;
}
