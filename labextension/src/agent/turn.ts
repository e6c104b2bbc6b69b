/**
 * One agent turn as the chat shows it, built from the server's ``agent.run``
 * frames (each holds the whole turn) and from what this tab has asked and not
 * yet seen answered (an approval, Stop, Undo in flight). ``view()`` describes
 * what the card draws, so the card is a thin DOM layer and this is unit-tested.
 */
import type { AgentMode, AgentRunState, AgentStepStatus, AgentToolKind, IAgentRun, IAgentStep } from '../api';
import { IUnifiedDiff, parseUnifiedDiff } from './diff';

/** ``starting``: asked for, no frame yet; ``refused``: the server would not start it. */
export type TurnState = AgentRunState | 'starting' | 'refused';

/** How a state looks: its badge colour. */
export type Tone = 'busy' | 'attention' | 'success' | 'neutral' | 'error';

const STATES: Record<TurnState, [string, Tone]> = {
  starting: ['Starting…', 'busy'],
  running: ['Working', 'busy'],
  waiting: ['Waiting for you', 'attention'],
  done: ['Done', 'success'],
  stopped: ['Stopped', 'neutral'],
  failed: ['Failed', 'error'],
  undone: ['Undone', 'neutral'],
  refused: ['Not started', 'error']
};

const STEP_STATUSES: Record<AgentStepStatus, string> = {
  pending: 'Needs approval',
  running: 'Running',
  done: 'Done',
  failed: 'Failed',
  rejected: 'Rejected',
  skipped: 'Skipped'
};

export function stateLabel(state: TurnState): string {
  return STATES[state][0];
}

export function stateTone(state: TurnState): Tone {
  return STATES[state][1];
}

export function stepStatusLabel(status: AgentStepStatus): string {
  return STEP_STATUSES[status];
}

/** Whether nothing more will happen in a turn in this state (Undo aside). */
export function isEnded(state: TurnState): boolean {
  return state !== 'starting' && state !== 'running' && state !== 'waiting';
}

/** Something this tab asked of the server and has not seen answered. */
export type TurnAction = 'stop' | 'undo' | `step:${string}`;

export interface IStepView {
  id: string;
  index: number;
  tool: string;
  kind: AgentToolKind;
  arguments: Record<string, unknown>;
  summary: string;
  status: AgentStepStatus;
  statusLabel: string;
  /** Waiting for this user's approval: the card shows the approval card. */
  awaiting: boolean;
  /** An approval for it is in flight: its buttons are disabled. */
  busy: boolean;
  diff: IUnifiedDiff | null;
  code: string | null;
  result: string | null;
  reason: string | null;
  approvedBy: string | null;
}

export type Segment = { kind: 'text'; key: string; text: string } | { kind: 'step'; key: string; step: IStepView };

export interface ITurnView {
  goal: string;
  notebook: string;
  mode: AgentMode;
  state: TurnState;
  label: string;
  tone: Tone;
  /** The model's words between the steps, and the steps, in the order they came. */
  segments: Segment[];
  canStop: boolean;
  stopBusy: boolean;
  canUndo: boolean;
  undoBusy: boolean;
  /** What undo restored and what it could not. */
  undoMessage: string | null;
  /** Why the turn ended early (a limit, a failure, who stopped it). */
  reason: string | null;
  /** The server refused something this tab asked (start, an approval, undo). */
  error: string | null;
  /** "scripted/model · 2 steps · 1.4 s" */
  meta: string;
}

export class AgentTurn {
  constructor(
    /** The ``agent.start`` frame's id: errors about the start come back with it. */
    readonly requestId: string,
    readonly notebook: string,
    readonly goal: string,
    readonly mode: AgentMode
  ) {}

  run: IAgentRun | null = null;
  error: string | null = null;

  get id(): string | null {
    return this.run?.id ?? null;
  }

  get state(): TurnState {
    if (this.run) {
      return this.run.state;
    }
    return this.error ? 'refused' : 'starting';
  }

  get ended(): boolean {
    return isEnded(this.state);
  }

  /** Whether ``run`` is the turn this tab asked for (its first frame carries no request id). */
  matches(run: IAgentRun): boolean {
    if (this.run) {
      return run.id === this.run.id;
    }
    return !this.error && samePath(run.notebook, this.notebook) && run.goal.trim() === this.goal.trim();
  }

  /** Take the turn as the server has it now; false when ``run`` is older than what is shown. */
  apply(run: IAgentRun): boolean {
    if (this.run && (run.id !== this.run.id || isOlder(this.run, run))) {
      return false;
    }
    for (const step of run.steps) {
      if (!this._offsets.has(step.id)) {
        // The model's words so far come before this step (it speaks, then calls tools).
        this._offsets.set(step.id, run.message.length);
      }
    }
    this.run = run;
    for (const action of [...this._inFlight]) {
      if (settled(action, run)) {
        this._inFlight.delete(action);
      }
    }
    return true;
  }

  /** The server refused what this tab asked (an ``error`` frame): show why, enable the buttons again. */
  fail(message: string): void {
    this.error = message;
    this._inFlight.clear();
  }

  /** Mark ``action`` as sent; false when it is already in flight (a double click). */
  begin(action: TurnAction): boolean {
    if (this._inFlight.has(action)) {
      return false;
    }
    this._inFlight.add(action);
    this.error = null;
    return true;
  }

  /** Forget what is in flight (the connection dropped: its answer may never come). */
  settle(): void {
    this._inFlight.clear();
  }

  inFlight(action: TurnAction): boolean {
    return this._inFlight.has(action);
  }

  view(): ITurnView {
    const run = this.run;
    const state = this.state;
    const live = state === 'running' || state === 'waiting';
    return {
      goal: this.goal,
      notebook: run?.notebook ?? this.notebook,
      mode: run?.mode ?? this.mode,
      state,
      label: stateLabel(state),
      tone: stateTone(state),
      segments: this.segments(),
      canStop: live && run !== null,
      stopBusy: this.inFlight('stop'),
      canUndo: !!run?.can_undo && changedSomething(run),
      undoBusy: this.inFlight('undo'),
      undoMessage: run?.undo?.message ?? null,
      reason: run?.reason ?? null,
      error: this.error,
      meta: run ? meta(run) : ''
    };
  }

  /** The model's words split where each step came, then the steps between them. */
  segments(): Segment[] {
    const run = this.run;
    if (!run) {
      return [];
    }
    const out: Segment[] = [];
    let from = 0;
    for (const step of run.steps) {
      const at = Math.min(run.message.length, Math.max(from, this._offsets.get(step.id) ?? run.message.length));
      const text = run.message.slice(from, at).trim();
      if (text) {
        out.push({ kind: 'text', key: `text:${step.id}`, text });
      }
      from = at;
      out.push({ kind: 'step', key: step.id, step: this._stepView(run, step) });
    }
    const rest = run.message.slice(from).trim();
    if (rest) {
      out.push({ kind: 'text', key: 'text:end', text: rest });
    }
    return out;
  }

  private _stepView(run: IAgentRun, step: IAgentStep): IStepView {
    const awaiting = step.status === 'pending' && run.pending.includes(step.id) && !isEnded(run.state);
    return {
      id: step.id,
      index: step.index,
      tool: step.tool,
      kind: step.kind,
      arguments: step.arguments,
      summary: step.summary || step.tool,
      status: step.status,
      statusLabel: stepStatusLabel(step.status),
      awaiting,
      busy: this.inFlight(`step:${step.id}`),
      diff: step.diff ? parseUnifiedDiff(step.diff) : null,
      code: step.code ?? null,
      result: step.result ?? null,
      reason: step.reason ?? null,
      approvedBy: step.approved_by ?? null
    };
  }

  private _offsets = new Map<string, number>();
  private _inFlight = new Set<TurnAction>();
}

/** Whether a step edited the notebook or ran code (a turn of reads and rejections has nothing to undo). */
function changedSomething(run: IAgentRun): boolean {
  return run.steps.some(s => s.kind !== 'read' && (s.status === 'done' || s.status === 'failed' || s.status === 'running'));
}

function samePath(a: string, b: string): boolean {
  return a.replace(/^\/+/, '') === b.replace(/^\/+/, '');
}

/** Frames come in order on the socket, but a turn fetched over REST may be older than the last frame. */
function isOlder(shown: IAgentRun, next: IAgentRun): boolean {
  if (next.steps.length < shown.steps.length) {
    return true;
  }
  if (shown.state === 'undone' && next.state !== 'undone') {
    return true;
  }
  return isEnded(shown.state) && !isEnded(next.state);
}

function settled(action: TurnAction, run: IAgentRun): boolean {
  if (action === 'stop') {
    return isEnded(run.state);
  }
  if (action === 'undo') {
    return run.state === 'undone';
  }
  const id = action.slice('step:'.length);
  const step = run.steps.find(s => s.id === id);
  // The frame right after an approval can still show the step pending: wait for it to move on.
  return !step || step.status !== 'pending' || isEnded(run.state);
}

function meta(run: IAgentRun): string {
  const parts: string[] = [];
  if (run.model) {
    parts.push(run.model);
  }
  const steps = run.usage.steps;
  parts.push(`${steps} step${steps === 1 ? '' : 's'}`);
  if (run.usage.seconds > 0) {
    parts.push(`${run.usage.seconds.toFixed(1)} s`);
  }
  return parts.join(' · ');
}
