/**
 * What the user did with an answer, reported to the learning system
 * (``POST /feedback``): thumbs, an AI action's diff accepted or rejected, chat
 * code inserted or run. Accepted answers become few-shot examples and steer the
 * routing order; a failed report is logged, never shown, because the user's
 * edit has already happened.
 */
import { IFeedbackRequest, sendFeedback } from './api';
import type { ICodeActions, ICodeOrigin } from './chat/message';

export type FeedbackKind = IFeedbackRequest['kind'];

export async function reportFeedback(
  interactionId: number | null | undefined,
  kind: FeedbackKind,
  send: (body: IFeedbackRequest) => Promise<unknown> = sendFeedback
): Promise<boolean> {
  if (!interactionId) {
    return false;
  }
  try {
    await send({ interaction_id: interactionId, kind });
    return true;
  } catch (err) {
    console.warn(`NEXUS: feedback (${kind}) for answer ${interactionId} was not recorded:`, err);
    return false;
  }
}

/** Code actions that also report ``accepted`` for the answer whose code was inserted or run. */
export function reportingUse(actions: ICodeActions): ICodeActions {
  const used =
    (name: keyof ICodeActions) =>
    async (code: string, origin?: ICodeOrigin): Promise<void> => {
      await actions[name](code, origin);
      await reportFeedback(origin?.interactionId, 'accepted');
    };
  return { insertBelow: used('insertBelow'), replaceSelection: used('replaceSelection'), run: used('run') };
}
