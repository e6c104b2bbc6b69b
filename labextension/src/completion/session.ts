/**
 * Inline completion requests over the NEXUS websocket. Each keystroke pause
 * starts one request after the debounce; a newer request supersedes the
 * previous one, which is cancelled *on the server* (a ``cancel`` frame), so the
 * model stops generating text nobody will see. Text arrives as a stream the
 * inline completer polls through ``updates(token)``.
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

interface IRunning {
  id: string;
  text: string;
  done: boolean;
  error?: string;
  wake: (() => void) | null;
}

export class CompletionSession {
  constructor(
    private transport: ICompletionTransport,
    private newId: () => string,
    private sleep: (ms: number) => Promise<void> = ms => new Promise(r => setTimeout(r, ms))
  ) {}

  debounceMs = 300;

  /** The id of the request that is still wanted, if any. */
  get current(): string | null {
    return this._current?.id ?? null;
  }

  /**
   * Wait for the debounce, then start a request. Resolves to its id, or null
   * when a newer call superseded this one before it started.
   */
  async start(prefix: string, suffix: string, language: string, path: string | null): Promise<string | null> {
    const ticket = ++this._ticket;
    this.supersede();
    if (this.debounceMs > 0) {
      await this.sleep(this.debounceMs);
    }
    if (ticket !== this._ticket || !prefix.trim()) {
      return null;
    }
    const running: IRunning = { id: this.newId(), text: '', done: false, wake: null };
    this._current = running;
    this._runs.set(running.id, running);
    this.transport.request({ type: 'complete', id: running.id, prefix, suffix, language, path }, frame => {
      if (frame.type === 'complete.delta') {
        running.text += frame.text;
      } else if (frame.type === 'complete.done') {
        // the server's cleaned text (no fences, no repeated suffix) replaces the raw stream
        running.text = frame.cancelled ? '' : frame.text;
        running.done = true;
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

  private _ticket = 0;
  private _current: IRunning | null = null;
  private _runs = new Map<string, IRunning>();
}
