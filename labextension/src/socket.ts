/**
 * The one NEXUS websocket per browser tab: requests are matched to their
 * frames by id, frames sent while (re)connecting wait in a queue, and a lost
 * connection is retried with back-off. The server cancels the generations of a
 * socket that closes, so on disconnect every open request is told it ended.
 *
 * No JupyterLab imports: the socket is injected, so node:test drives it with
 * a fake.
 */
import type {
  AgentClientFrame,
  ClientFrame,
  ICancelFrame,
  IChatFrame,
  ICompleteFrame,
  NotebookClientFrame,
  ServerFrame
} from './api';

export interface ISocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type SocketFactory = (url: string) => ISocketLike;
export type ConnectionState = 'connecting' | 'open' | 'closed';
export type FrameListener = (frame: ServerFrame) => void;

/** Sees every request of this tab: when it is sent, and each of its frames after the request's own
 * handler (the status bar's answer warning, ``status/warning.ts``, is one). */
export interface IRequestWatcher {
  sent(request: IChatFrame | ICompleteFrame): void;
  received(request: IChatFrame | ICompleteFrame, frame: ServerFrame): void;
}

export interface INexusSocketOptions {
  url: string;
  factory: SocketFactory;
  /** Delays (ms) between reconnect attempts; the last one repeats. */
  backoff?: number[];
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

interface IOpenRequest {
  frame: IChatFrame | ICompleteFrame;
  onFrame: FrameListener;
}
let counter = 0;

/** A request id unique within this page. */
export function newRequestId(prefix = 'r'): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter.toString(36)}`;
}

/** True for the frame that ends a request: nothing more will come for its id. */
export function isFinal(frame: ServerFrame): boolean {
  return frame.type === 'chat.done' || frame.type === 'complete.done' || frame.type === 'generate.done' || frame.type === 'error';
}

export class NexusSocket {
  constructor(options: INexusSocketOptions) {
    this._options = options;
    this._backoff = options.backoff ?? [500, 1000, 2000, 5000, 10000];
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** Requests still waiting for their final frame. */
  get pending(): string[] {
    return [...this._requests.keys()];
  }

  connect(): void {
    if (this._disposed || this._socket) {
      return;
    }
    this._setState('connecting');
    const socket = this._options.factory(this._options.url);
    this._socket = socket;
    socket.onopen = () => {
      this._attempt = 0;
      this._setState('open');
      const queued = this._queue.splice(0);
      for (const data of queued) {
        socket.send(data);
      }
    };
    socket.onmessage = ev => this._receive(ev.data);
    socket.onclose = () => this._lost(socket);
    socket.onerror = () => undefined; // onclose follows and handles it
  }

  /** Send a chat or complete frame; ``onFrame`` sees every frame for its id until the final one. */
  request(frame: IChatFrame | ICompleteFrame, onFrame: FrameListener): void {
    this._requests.set(frame.id, { frame, onFrame });
    for (const watcher of this._watchers) {
      watcher.sent(frame);
    }
    this._send(frame);
  }

  /** Watch every request of this tab; returns a function that stops watching. */
  watch(watcher: IRequestWatcher): () => void {
    this._watchers.add(watcher);
    return () => this._watchers.delete(watcher);
  }

  /** Stop a request on the server. Its final frame (``cancelled: true``) still arrives. */
  cancel(id: string): void {
    if (this._requests.has(id)) {
      const frame: ICancelFrame = { type: 'cancel', id };
      this._send(frame);
    }
  }

  /**
   * A frame that is not a request (notebook chat join / leave / activity, the agent's frames, which
   * its ``agent.run`` broadcasts answer); queued while connecting.
   */
  send(frame: NotebookClientFrame | AgentClientFrame): void {
    this._send(frame);
  }

  /** Frames not tied to a request of this tab (broadcasts, events, errors without id). */
  listen(listener: FrameListener): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this._stateListeners.add(listener);
    return () => this._stateListeners.delete(listener);
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      (this._options.clearTimer ?? clearTimeout)(this._timer as ReturnType<typeof setTimeout>);
    }
    this._socket?.close();
    this._socket = null;
    this._setState('closed');
  }

  private _send(frame: ClientFrame): void {
    const data = JSON.stringify(frame);
    if (this._socket && this._socket.readyState === OPEN && this._state === 'open') {
      this._socket.send(data);
    } else {
      this._queue.push(data);
      this.connect();
    }
  }

  private _receive(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    const id = 'id' in frame ? frame.id : null;
    const open = id ? this._requests.get(id) : undefined;
    if (open) {
      if (isFinal(frame)) {
        this._requests.delete(id as string);
      }
      this._deliver(open, frame);
      return;
    }
    for (const listener of this._listeners) {
      listener(frame);
    }
  }

  private _lost(socket: ISocketLike): void {
    if (socket !== this._socket) {
      return;
    }
    this._socket = null;
    const open = [...this._requests.entries()];
    this._requests.clear();
    for (const [id, request] of open) {
      this._deliver(request, {
        type: 'error',
        error: 'disconnected',
        message: 'The connection to NEXUS was lost; the request was stopped.',
        id
      });
    }
    if (this._disposed) {
      return;
    }
    this._setState('closed');
    const delay = this._backoff[Math.min(this._attempt, this._backoff.length - 1)];
    this._attempt += 1;
    this._timer = (this._options.setTimer ?? setTimeout)(() => {
      this._timer = null;
      this.connect();
    }, delay);
  }

  private _deliver(open: IOpenRequest, frame: ServerFrame): void {
    open.onFrame(frame);
    for (const watcher of this._watchers) {
      watcher.received(open.frame, frame);
    }
  }

  private _setState(state: ConnectionState): void {
    if (state === this._state) {
      return;
    }
    this._state = state;
    for (const listener of this._stateListeners) {
      listener(state);
    }
  }

  private _options: INexusSocketOptions;
  private _backoff: number[];
  private _socket: ISocketLike | null = null;
  private _state: ConnectionState = 'closed';
  private _queue: string[] = [];
  private _requests = new Map<string, IOpenRequest>();
  private _watchers = new Set<IRequestWatcher>();
  private _listeners = new Set<FrameListener>();
  private _stateListeners = new Set<(state: ConnectionState) => void>();
  private _attempt = 0;
  private _timer: unknown = null;
  private _disposed = false;
}
