/**
 * The status bar's warning about the user's own chat answers: shown while most recent answers
 * fail, or while answers wait long for their first words, saying why and what to do; gone as soon
 * as an answer comes back normally. It watches the shared websocket's chat requests
 * (``IRequestWatcher``), so it sees every answer of this tab, the notebook chats' included.
 * Pure logic, unit-tested without a browser; ``index.ts`` shows it next to the health item.
 *
 * Thresholds, and why:
 * - failing: at least 3 of the last 5 answers failed, the latest among them. One failure is a
 *   blip the chat already explains under the answer; most of the last five failing is a pattern
 *   the user should know the cause of. The latest must have failed so one good answer clears it.
 * - slow: at least 2 of the last 3 answers waited 20 s or more for their first words, the latest
 *   among them. A working model shows its first words in a few seconds (the gateway's
 *   NexusFirstTokenSlow alert fires at 8 s for the model alone); 20 s measured in the page, with
 *   context and queue, is past where people give up. Two of three, so one cold start does not warn.
 * - answers older than 15 minutes are forgotten: a warning about yesterday's outage helps no one.
 */
import type { IChatFrame, ICompleteFrame, ServerFrame } from '../api';
import type { IRequestWatcher } from '../socket';

export const RECENT_ANSWERS = 5;
export const FAILED_OF_RECENT = 3;
export const SLOW_RECENT = 3;
export const SLOW_OF_RECENT = 2;
export const SLOW_WAIT_MS = 20_000;
export const FORGET_AFTER_MS = 15 * 60_000;
export const CLICK_HINT = 'Click for the NEXUS status.';

export interface IAnswerRecord {
  at: number;
  ok: boolean;
  /** From Send to the first words shown (null: none were shown). */
  waitedMs: number | null;
  /** The error frame's code and message, for a failed answer. */
  error?: string;
  message?: string;
}

export interface IAnswerWarning {
  kind: 'failing' | 'slow';
  /** What the status bar shows. */
  label: string;
  /** What to do, for the tooltip and the status dialog. */
  advice: string;
}

interface ICause {
  reason: string;
  advice: string;
}

const CAUSES: { test: (error: string, message: string) => boolean; cause: ICause }[] = [
  {
    test: error => error === 'disconnected',
    cause: {
      reason: 'the connection to the NEXUS server was lost',
      advice: 'NEXUS reconnects by itself; reload the page if the status stays offline.'
    }
  },
  {
    test: error => error === 'rate_limited',
    cause: {
      reason: 'you sent too many requests in a short time',
      advice: 'Wait a minute before asking again.'
    }
  },
  {
    test: (_e, message) => /HTTP 429|rate limited|quota/i.test(message),
    cause: {
      reason: 'the team gateway refuses your requests (request rate or token quota)',
      advice:
        'Wait a minute; if it lasts, your token quota for the day is spent: ask an administrator for a larger one.'
    }
  },
  {
    test: (_e, message) => /\bbusy\b|overloaded|queued/i.test(message),
    cause: {
      reason: 'the models are busy',
      advice: 'Every model that could answer has a full queue: try again in a minute.'
    }
  },
  {
    test: (_e, message) => /cannot connect|connection failed|timed out|HTTP 50[234]|circuit/i.test(message),
    cause: {
      reason: 'the model server is unreachable',
      advice:
        'NEXUS tries the next model of each chain by itself; if answers keep failing, the model server or ' +
        'the team gateway is down: tell your administrator.'
    }
  },
  {
    test: error => error === 'storage_unavailable' || error === 'unavailable',
    cause: {
      reason: 'NEXUS cannot reach its storage or settings',
      advice: 'The status dialog names the part that is down; tell your administrator.'
    }
  }
];

/** Why an answer failed, in words, and what the user can do about it. */
export function explainFailure(error = '', message = ''): ICause {
  const found = CAUSES.find(c => c.test(error, message));
  if (found) {
    return found.cause;
  }
  return {
    reason: error === 'no_model_available' ? 'no model could answer' : 'NEXUS could not answer',
    advice: 'The status dialog shows which models each task tries and which are not set up.'
  };
}

/** The warning (or null) that the answers in ``answers`` (oldest first) call for at ``now``. */
export function answerWarning(answers: IAnswerRecord[], now: number): IAnswerWarning | null {
  const recent = answers.filter(a => now - a.at <= FORGET_AFTER_MS).slice(-RECENT_ANSWERS);
  const latest = recent[recent.length - 1];
  if (!latest) {
    return null;
  }
  const failed = recent.filter(a => !a.ok);
  if (!latest.ok && failed.length >= FAILED_OF_RECENT) {
    const { reason, advice } = explainFailure(latest.error, latest.message);
    return {
      kind: 'failing',
      label: `NEXUS: ${failed.length} of the last ${recent.length} answers failed — ${reason}`,
      advice
    };
  }
  const isSlow = (a: IAnswerRecord) => a.ok && a.waitedMs !== null && a.waitedMs >= SLOW_WAIT_MS;
  const slow = recent.slice(-SLOW_RECENT).filter(isSlow);
  if (isSlow(latest) && slow.length >= SLOW_OF_RECENT) {
    const seconds = Math.round(slow.reduce((sum, a) => sum + (a.waitedMs ?? 0), 0) / slow.length / 1000);
    return {
      kind: 'slow',
      label: `NEXUS: answers wait ~${seconds} s for their first words — the models are busy`,
      advice:
        'Many people are asking at once, or the model is slow: try again in a few minutes, or ask ' +
        'shorter questions.'
    };
  }
  return null;
}

/** Collects this tab's chat answers from the socket's frames; ``onChange`` runs after each one ends. */
export class AnswerWatch implements IRequestWatcher {
  constructor(
    readonly onChange: () => void = () => undefined,
    private readonly _now: () => number = Date.now
  ) {}

  /** Answers that ended, oldest first (at most the few the rules look at). */
  get answers(): readonly IAnswerRecord[] {
    return this._answers;
  }

  warning(): IAnswerWarning | null {
    return answerWarning(this._answers, this._now());
  }

  sent(request: IChatFrame | ICompleteFrame): void {
    if (request.type === 'chat') {
      this._open.set(request.id, { sentAt: this._now(), shownAt: null });
    }
  }

  received(request: IChatFrame | ICompleteFrame, frame: ServerFrame): void {
    const open = this._open.get(request.id);
    if (!open) {
      return;
    }
    const now = this._now();
    if (frame.type === 'chat.delta') {
      if (open.shownAt === null && frame.text) {
        open.shownAt = now;
      }
      return;
    }
    if (frame.type === 'chat.done') {
      this._open.delete(request.id);
      if (!frame.cancelled) {
        this._add({ at: now, ok: true, waitedMs: (open.shownAt ?? now) - open.sentAt });
      }
    } else if (frame.type === 'error') {
      this._open.delete(request.id);
      this._add({ at: now, ok: false, waitedMs: null, error: frame.error, message: frame.message });
    }
  }

  private _add(answer: IAnswerRecord): void {
    this._answers = [...this._answers, answer].slice(-RECENT_ANSWERS);
    this.onChange();
  }

  private _answers: IAnswerRecord[] = [];
  private _open = new Map<string, { sentAt: number; shownAt: number | null }>();
}
