/**
 * One streamed answer, assembled from protocol frames. A ``chat.restart``
 * means the model that was answering failed part-way: the text so far is
 * discarded and the fallback model's answer replaces it, and the user is told
 * which model took over.
 */
import type { IChatDoneFrame, IContextItem, ServerFrame } from '../api';
import { IUsedPiece, usedContext } from './context';

export type AnswerStatus = 'waiting' | 'streaming' | 'done' | 'cancelled' | 'error';

export class AnswerState {
  constructor(readonly id: string) {}

  text = '';
  status: AnswerStatus = 'waiting';
  conversationId: string | null = null;
  intent = '';
  context: IContextItem[] = [];
  /** "Fallback: local/SmolLM2 failed (timeout); openai/gpt-4o-mini answers instead" and "Repair: ..."
   * lines, each failed attempt once, with why it failed. */
  fallbacks: string[] = [];
  private _told = new Set<string>(); // the models whose failure a line already explains
  error: string | null = null;
  done: IChatDoneFrame | null = null;

  get model(): string {
    return this.done ? `${this.done.provider}/${this.done.model}` : '';
  }

  get finished(): boolean {
    return this.status === 'done' || this.status === 'cancelled' || this.status === 'error';
  }

  /** Apply one frame for this request; returns true when what the user sees changed. */
  apply(frame: ServerFrame): boolean {
    if ('id' in frame && frame.id !== this.id) {
      return false;
    }
    if (this.finished) {
      return false;
    }
    switch (frame.type) {
      case 'chat.started':
        this.conversationId = frame.conversation_id;
        this.intent = frame.intent;
        this.context = frame.context;
        return true;
      case 'chat.delta':
        this.status = 'streaming';
        this.text += frame.text;
        return frame.text.length > 0;
      case 'chat.restart':
        this.text = '';
        this.status = 'waiting';
        this._told.add(frame.failed_model);
        if (frame.next_model === frame.failed_model) {
          // not a fallback: the same model is asked again to repair what it wrote
          this.fallbacks.push(`Repair: ${frame.failed_model} wrote code that did not work (${frame.reason}); it tries again`);
        } else {
          this.fallbacks.push(
            `Fallback: ${frame.failed_model} failed (${frame.reason})` +
              (frame.next_model && frame.next_model !== '/' ? `; ${frame.next_model} answers instead` : '')
          );
        }
        return true;
      case 'chat.done':
        this.done = frame;
        this.conversationId = frame.conversation_id;
        this.status = frame.cancelled ? 'cancelled' : 'done';
        for (const step of frame.fallback_path) {
          const name = `${step.provider}/${step.model}`;
          if ((step.outcome === 'error' || step.outcome === 'circuit_open' || step.outcome === 'invalid') && !this._told.has(name)) {
            this._told.add(name);
            this.fallbacks.push(`Fallback: ${name} failed (${step.error ?? step.outcome.replace('_', ' ')})`);
          }
        }
        return true;
      case 'error':
        this.status = 'error';
        this.error = frame.message;
        return true;
      default:
        return false;
    }
  }
}

/** Fenced code blocks of a Markdown answer, in order (what Copy / Insert / Run act on). */
export function codeBlocks(markdown: string): { language: string; code: string }[] {
  const out: { language: string; code: string }[] = [];
  const fence = /^(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n([\s\S]*?)^\1[ \t]*$/gm;
  let match: RegExpExecArray | null;
  while ((match = fence.exec(markdown)) !== null) {
    out.push({ language: match[2] || '', code: match[3].replace(/\n$/, '') });
  }
  return out;
}

/**
 * The line under an answer: the model that answered (``provider/model``), how long the user waited
 * for its first visible text (from Send, measured in the page: not the model's own first token, which
 * leaves out the context, the queue and any failed attempt), and "stopped". An answer stopped before
 * any model answered has no model: nothing is shown for it (not "/").
 */
export function footerText(model: string, state: AnswerState | null, waitedMs: number | null = null): string {
  const named = model.split('/').every(part => part.trim() !== '') ? model : '';
  const parts = [named];
  if (waitedMs !== null && waitedMs >= 0 && state?.text) {
    parts.push(`first text after ${(waitedMs / 1000).toFixed(1)} s`);
  }
  if (state?.status === 'cancelled') {
    parts.push('stopped');
  }
  return parts.filter(Boolean).join(' · ');
}

/**
 * The footer under an answer, row by row. The first row is the model line with the thumbs at its
 * right end: the same place under every answer, however long the line and whatever follows. After
 * it the fallback and repair notes, then the context the answer used.
 */
export interface IFooterPlan {
  meta: string;
  /** The thumbs rate a recorded answer: its interaction id, null for none (a stored or stopped one). */
  interactionId: number | null;
  notes: string[];
  context: IUsedPiece[];
}

export function footerPlan(model: string, state: AnswerState | null, waitedMs: number | null = null): IFooterPlan {
  return {
    meta: footerText(model, state, waitedMs),
    interactionId: state?.done?.interaction_id ?? null,
    notes: [...(state?.fallbacks ?? [])],
    context: usedContext(state?.context ?? [])
  };
}
