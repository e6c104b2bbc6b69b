/**
 * Inline completion requests over the NEXUS websocket. Each keystroke pause
 * starts one request after the debounce; a newer request supersedes the
 * previous one, which is cancelled *on the server* (a ``cancel`` frame), so the
 * model stops generating text nobody will see. Text arrives as a stream the
 * inline completer polls through ``updates(token)``.
 *
 * Prefetch: while a suggestion is shown, the completion of the text with the
 * suggestion accepted is already asked for, and kept under that text (the text
 * before the cursor, with the same text after it and the same earlier cells).
 * Accepting and typing on then starts from it at once, without the debounce.
 * It is used only for exactly that text: any other keystroke sends a new
 * request, which the server treats as superseding the prefetch.
 */
import type { ICompleteFrame, ServerFrame } from '../api';

export interface ICompletionTransport {
  request(frame: ICompleteFrame, onFrame: (frame: ServerFrame) => void): void;
  cancel(id: string): void;
}

export interface ICompletionUpdate {
  text: string;
  done: boolean;
  error?: string;
}

/** Where the cursor is: the text before and after it, and what the completion is for. */
export interface ICompletionContext {
  prefix: string;
  suffix: string;
  language: string;
  path: string | null;
  /** The notebook's earlier code cells, oldest first. */
  cells: string[];
}

interface IRunning {
  id: string;
  context: ICompletionContext;
  text: string;
  done: boolean;
  cancelled: boolean;
  error?: string;
  wake: (() => void) | null;
}

function sameContext(a: ICompletionContext, b: ICompletionContext): boolean {
  return (
    a.prefix === b.prefix &&
    a.suffix === b.suffix &&
    a.language === b.language &&
    a.path === b.path &&
    a.cells.length === b.cells.length &&
    a.cells.every((cell, i) => cell === b.cells[i])
  );
}

export class CompletionSession {
  constructor(
    private transport: ICompletionTransport,
    private newId: () => string,
    private sleep: (ms: number) => Promise<void> = ms => new Promise(r => setTimeout(r, ms))
  ) {}

  debounceMs = 300;
  /** Ask for the next suggestion while one is shown. */
  prefetch = true;

  /** The id of the request that is still wanted, if any. */
  get current(): string | null {
    return this._current?.id ?? null;
  }

  /** The text before the cursor that the prefetched suggestion is for (null: none). */
  get prefetched(): string | null {
    return this._next?.context.prefix ?? null;
  }

  /**
   * Wait for the debounce, then start a request. Resolves to its id, or null
   * when a newer call superseded this one before it started. When the prefetch
   * was for exactly this text, its request is the answer, without waiting.
   */
  async start(
    prefix: string,
    suffix: string,
    language: string,
    path: string | null,
    cells: string[] = []
  ): Promise<string | null> {
    const ticket = ++this._ticket;
    const context: ICompletionContext = { prefix, suffix, language, path, cells };
    const next = this._next;
    this._next = null;
    const hit = next && !next.cancelled && !next.error && sameContext(next.context, context);
    if (next && !hit && !next.done) {
      this.transport.cancel(next.id); // the user typed something else: the model can stop now
    }
    if (next && hit) {
      this.supersede();
      this._current = next;
      this._runs.set(next.id, next);
      if (next.done) {
        this.prefetchAfter(next);
      }
      return next.id;
    }
    this.supersede();
    if (this.debounceMs > 0) {
      await this.sleep(this.debounceMs);
    }
    if (ticket !== this._ticket || !prefix.trim()) {
      return null;
    }
    const running = this.send(context);
    this._current = running;
    this._runs.set(running.id, running);
    return running.id;
  }

  /** Cancel the running request (a new keystroke, the editor lost focus). */
  supersede(): void {
    const running = this._current;
    this._current = null;
    if (running && !running.done) {
      this.transport.cancel(running.id);
    }
  }

  /** Successive states of one request until it is done (each yield: the text so far). */
  async *updates(id: string): AsyncGenerator<ICompletionUpdate> {
    const running = this._runs.get(id);
    if (!running) {
      return;
    }
    try {
      let seen = -1;
      while (true) {
        if (running.done) {
          yield { text: running.text, done: true, error: running.error };
          return;
        }
        if (running.text.length !== seen) {
          seen = running.text.length;
          yield { text: running.text, done: false };
        }
        await new Promise<void>(resolve => (running.wake = resolve));
      }
    } finally {
      this._runs.delete(id);
    }
  }

  private send(context: ICompletionContext): IRunning {
    const running: IRunning = { id: this.newId(), context, text: '', done: false, cancelled: false, wake: null };
    const { prefix, suffix, language, path, cells } = context;
    this.transport.request({ type: 'complete', id: running.id, prefix, suffix, language, path, cells }, frame => {
      if (frame.type === 'complete.delta') {
        running.text += frame.text;
      } else if (frame.type === 'complete.done') {
        // the server's cleaned text (no fences, no repeated suffix) replaces the raw stream
        running.cancelled = frame.cancelled;
        running.text = frame.cancelled ? '' : frame.text;
        running.done = true;
        if (running === this._current) {
          this.prefetchAfter(running);
        }
      } else if (frame.type === 'error') {
        running.error = frame.message;
        running.done = true;
      } else {
        return;
      }
      const wake = running.wake;
      running.wake = null;
      wake?.();
    });
    return running;
  }

  /** The suggestion ``shown`` is on screen: ask now for what comes after it, as if accepted. */
  private prefetchAfter(shown: IRunning): void {
    if (!this.prefetch || !shown.text || shown.cancelled || shown.error) {
      return;
    }
    const { prefix, ...rest } = shown.context;
    this._next = this.send({ ...rest, prefix: prefix + shown.text });
  }

  private _ticket = 0;
  private _current: IRunning | null = null;
  private _next: IRunning | null = null;
  private _runs = new Map<string, IRunning>();
}
