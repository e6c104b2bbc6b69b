/**
 * The agent turns this chat started, and the websocket traffic for them:
 * ``agent.start`` / ``.approval`` / ``.stop`` / ``.undo`` out, ``agent.run``
 * (the whole turn after every change) and ``error`` frames in. A turn's first
 * frame carries no request id, so a started turn is matched by notebook and
 * goal. After a reconnect, frames sent meanwhile are lost: the live turns are
 * fetched again.
 *
 * No JupyterLab imports: the client, the fetch and the card are injected, so
 * node:test drives it with fakes.
 */
import type { AgentDecision, AgentMode, IAgentRun, ServerFrame } from '../api';
import type { INexusClient } from '../tokens';
import { AgentTurn } from './turn';

/** What draws a turn (the card): told to redraw after every change. */
export interface ITurnDisplay {
  update(): void;
}

export interface IAgentTurnsOptions {
  client: Pick<INexusClient, 'send' | 'listen' | 'onStateChange'>;
  /** ``GET /agent/runs/{id}``. */
  fetchRun: (id: string) => Promise<IAgentRun>;
  /** A request id for ``agent.start`` (unique in this tab). */
  newId: () => string;
  /** Make the display of a new turn. */
  display: (turn: AgentTurn) => ITurnDisplay;
}

export class AgentTurns {
  constructor(private options: IAgentTurnsOptions) {
    this._unlisten = options.client.listen(frame => this._onFrame(frame));
    this._unwatch = options.client.onStateChange(state => {
      if (state === 'closed') {
        this._lost = true;
      } else if (state === 'open' && this._lost) {
        this._lost = false;
        void this.catchUp();
      }
    });
  }

  /** Every turn started here, oldest first. */
  get turns(): readonly AgentTurn[] {
    return this._turns;
  }

  displayOf(turn: AgentTurn): ITurnDisplay | undefined {
    return this._displays.get(turn);
  }

  /** Ask the server to start a turn in ``notebook``; its card shows "Starting…" until the first frame. */
  start(notebook: string, goal: string, mode: AgentMode): AgentTurn {
    const id = this.options.newId();
    const turn = new AgentTurn(id, notebook, goal, mode);
    this._turns.push(turn);
    this._displays.set(turn, this.options.display(turn));
    this.options.client.send({ type: 'agent.start', id, notebook, goal, mode });
    return turn;
  }

  decide(turn: AgentTurn, stepId: string, decision: AgentDecision, reason: string | null = null): void {
    const runId = turn.id;
    if (!runId || !turn.begin(`step:${stepId}`)) {
      return;
    }
    this.options.client.send({ type: 'agent.approval', run_id: runId, step_id: stepId, decision, reason: reason || null });
    this._update(turn);
  }

  stop(turn: AgentTurn): void {
    const runId = turn.id;
    if (runId && !turn.ended && turn.begin('stop')) {
      this.options.client.send({ type: 'agent.stop', run_id: runId });
      this._update(turn);
    }
  }

  undo(turn: AgentTurn): void {
    const runId = turn.id;
    if (runId && turn.run?.can_undo && turn.begin('undo')) {
      this.options.client.send({ type: 'agent.undo', run_id: runId });
      this._update(turn);
    }
  }

  /** Fetch the turns that are still live (frames sent while the socket was down are lost). */
  async catchUp(): Promise<void> {
    const live = this._turns.filter(t => t.id && (!t.ended || t.inFlight('undo')));
    await Promise.all(
      live.map(async turn => {
        try {
          const run = await this.options.fetchRun(turn.id as string);
          turn.settle();
          turn.apply(run);
        } catch {
          turn.settle(); // the buttons work again; the next frame brings the rest
        }
        this._update(turn);
      })
    );
  }

  dispose(): void {
    this._unlisten();
    this._unwatch();
  }

  private _onFrame(frame: ServerFrame): void {
    if (frame.type === 'agent.run') {
      const run = frame.run;
      const turn =
        this._turns.find(t => t.id === run.id) ?? this._turns.find(t => t.state === 'starting' && t.matches(run));
      if (turn && turn.apply(run)) {
        this._update(turn);
      }
    } else if (frame.type === 'error' && frame.id) {
      const turn = this._turns.find(t => t.id === frame.id || (!t.run && t.requestId === frame.id));
      if (turn) {
        turn.fail(frame.message);
        this._update(turn);
      }
    }
  }

  private _update(turn: AgentTurn): void {
    this._displays.get(turn)?.update();
  }

  private _turns: AgentTurn[] = [];
  private _displays = new Map<AgentTurn, ITurnDisplay>();
  private _unlisten: () => void;
  private _unwatch: () => void;
  private _lost = false;
}
