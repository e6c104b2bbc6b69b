/**
 * What is in progress on the server, from the events NEXUS puts on Jupyter's
 * event bus: background tasks (learning a folder, building a project
 * environment: ``tasks/v1``, named by ``learn/v1``) and local model loads
 * (``model/v1``). One ``IOperation`` per thing in progress; a finished one
 * stays for ``lingerMs`` so the user sees how it ended, then goes.
 *
 * No JupyterLab imports: node:test drives it with plain event objects.
 */
import type { IModelEvent, ILearnEvent, ITaskEvent } from '../api';
import { EventSchemas } from '../events';

export type OperationState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface IOperation {
  /** The task id, or ``model:<source>`` for a model load. */
  id: string;
  kind: string;
  label: string;
  /** 0..1, or null while the amount of work is unknown (a model load). */
  progress: number | null;
  message: string;
  state: OperationState;
  /** A task id to cancel through ``POST /tasks/{id}/cancel``; null when it cannot be cancelled. */
  cancelId: string | null;
}

export interface ITrackerOptions {
  lingerMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
}

/** A jupyter_events emission as JupyterLab's event manager hands it over. */
export type Emission = { schema_id: string } & Record<string, unknown>;

const KIND_LABELS: Record<string, string> = {
  learn: 'Learning',
  venv: 'Building the environment'
};

const SEEDED_MODEL: IOperation = {
  id: 'model:*',
  kind: 'model',
  label: 'Loading the model',
  progress: null,
  message: 'loading',
  state: 'running',
  cancelId: null
};

const FINAL: Record<string, OperationState> = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'failed'
};

export class ProgressTracker {
  constructor(options: ITrackerOptions = {}) {
    this._linger = options.lingerMs ?? 1500;
    this._setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  }

  /** Only events of this user are shown (null: all; a single-user server's events are all its own). */
  user: string | null = null;

  get operations(): IOperation[] {
    return [...this._ops.values()];
  }

  onChange(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Feed one event from the bus; events of other schemas are ignored. Returns true if it changed anything. */
  handle(emission: Emission): boolean {
    const username = typeof emission.username === 'string' ? emission.username : null;
    if (this.user && username && username !== this.user) {
      return false;
    }
    switch (emission.schema_id) {
      case EventSchemas.task:
        return this._task(emission as unknown as ITaskEvent);
      case EventSchemas.learn:
        return this._learn(emission as unknown as ILearnEvent);
      case EventSchemas.model:
        return this._model(emission as unknown as IModelEvent);
      default:
        return false;
    }
  }

  private _task(event: ITaskEvent): boolean {
    const target = this._targets.get(event.task_id);
    const base = KIND_LABELS[event.kind] ?? `Task ${event.kind}`;
    const state = FINAL[event.state] ?? 'running';
    if (state !== 'running' && !this._ops.has(event.task_id)) {
      return false; // a task that ended before this page saw it start
    }
    this._put({
      id: event.task_id,
      kind: event.kind,
      label: target ? `${base} ${target}` : base,
      progress: Math.max(0, Math.min(1, event.progress ?? 0)),
      message: state === 'running' ? (event.message ?? '') : event.state,
      state,
      cancelId: state === 'running' ? event.task_id : null
    });
    return true;
  }

  private _learn(event: ILearnEvent): boolean {
    if (!event.task_id) {
      return false; // re-indexing after a file change: too quick to need a bar
    }
    this._targets.set(event.task_id, event.target);
    const op = this._ops.get(event.task_id);
    if (op && !op.label.endsWith(event.target)) {
      this._put({ ...op, label: `${KIND_LABELS.learn} ${event.target}` });
      return true;
    }
    return false;
  }

  /**
   * What ``/status`` says about the local model: a load that began before this page subscribed to
   * the bus (its ``loading`` event came too early) still gets a bar, ended by the next event or status.
   */
  modelLoading(loading: boolean): void {
    const seen = this.operations.find(op => op.kind === 'model' && op.state === 'running');
    if (loading && !seen) {
      this._put({ ...SEEDED_MODEL });
    } else if (!loading && seen) {
      this._put({ ...seen, state: 'succeeded', progress: 1, message: 'loaded' });
    }
  }

  private _model(event: IModelEvent): boolean {
    const id = `model:${event.model}`;
    const name = event.model.split(/[:/]/).pop() ?? event.model;
    const state: OperationState = event.state === 'loading' ? 'running' : event.state === 'loaded' ? 'succeeded' : 'failed';
    if (this._ops.has(SEEDED_MODEL.id)) {
      this._ops.delete(SEEDED_MODEL.id); // the event names the model the status only said was loading
      this._ops.set(id, { ...SEEDED_MODEL, id });
    }
    if (state !== 'running' && !this._ops.has(id)) {
      return false;
    }
    const message =
      event.state === 'loading'
        ? `${event.backend}`
        : event.state === 'loaded'
          ? `loaded on ${event.device ?? '?'}${event.seconds != null ? ` in ${event.seconds} s` : ''}`
          : `failed: ${event.error ?? 'unknown error'}`;
    this._put({
      id,
      kind: 'model',
      label: `Loading the model ${name}`,
      progress: state === 'running' ? null : 1,
      message,
      state,
      cancelId: null // one native call: it cannot be interrupted
    });
    return true;
  }

  private _put(op: IOperation): void {
    this._ops.set(op.id, op);
    if (op.state !== 'running') {
      this._setTimer(() => {
        if (this._ops.get(op.id)?.state === op.state) {
          this._ops.delete(op.id);
          this._targets.delete(op.id);
          this._changed();
        }
      }, this._linger);
    }
    this._changed();
  }

  private _changed(): void {
    for (const listener of this._listeners) {
      listener();
    }
  }

  private _ops = new Map<string, IOperation>();
  private _targets = new Map<string, string>();
  private _listeners = new Set<() => void>();
  private _linger: number;
  private _setTimer: (fn: () => void, ms: number) => unknown;
}
