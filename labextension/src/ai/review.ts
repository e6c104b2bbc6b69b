/**
 * An AI action's proposal, from the model's reply to the notebook: not offered when it is no edit
 * (``proposal.ts``), else shown as a diff; Accept applies it, Reject leaves the cell alone, and either
 * answer is reported to the learning system as feedback on the answer (``accepted`` / ``rejected``),
 * which moves a model that keeps being rejected down its task's chain. The effects (the diff dialog,
 * the edit, the report) come in through ``IReviewEffects``, so this is unit-tested without a browser.
 */
import type { IGenerateReply } from '../api';
import type { FeedbackKind } from '../feedback';
import { IRequirement, proposalProblem } from './proposal';

export type Placement = 'replace' | 'below';

export interface IReviewEffects {
  /** Show the diff; resolves true on Accept. */
  review(title: string, before: string, after: string, note: string): Promise<boolean>;
  /** Replace the selection (or cell) with ``code``, or insert it below; ``model`` attributes it. */
  apply(code: string, placement: Placement, model: string): Promise<void>;
  /** Say why nothing is offered. */
  warn(message: string): void;
  /** ``reportFeedback`` (``POST /feedback``). */
  report(interactionId: number | null | undefined, kind: FeedbackKind): Promise<unknown>;
}

export type ReviewOutcome = 'accepted' | 'rejected' | 'not_offered';

export async function reviewProposal(
  title: string,
  reply: Pick<IGenerateReply, 'code' | 'valid' | 'explanation' | 'provider' | 'model' | 'interaction_id'>,
  placement: Placement,
  original: string,
  effects: IReviewEffects,
  requires?: IRequirement
): Promise<ReviewOutcome> {
  const problem = proposalProblem(original, reply.code, placement, reply.valid, requires);
  const model = `${reply.provider}/${reply.model}`;
  if (problem) {
    effects.warn(`NEXUS ${title}: ${problem}, so there is nothing to accept (model ${model}).`);
    return 'not_offered';
  }
  const note = [reply.explanation, `Model: ${model}`].filter(Boolean).join('\n');
  const accepted = await effects.review(title, placement === 'replace' ? original : '', reply.code, note);
  void effects.report(reply.interaction_id, accepted ? 'accepted' : 'rejected');
  if (!accepted) {
    return 'rejected';
  }
  await effects.apply(reply.code, placement, model);
  return 'accepted';
}
