"""``LearningSystem``: feedback on answers -> routing preference and few-shot examples.

- Feedback (thumbs up/down, code accepted / rejected / edited after insertion)
  is stored against the interaction, and only the interaction's owner may rate it.
- Routing preference: per task, each chain step's recent interactions give a
  score = mean feedback rating - rate of invalid/failed answers - a penalty when
  its median latency exceeds the task's budget. A step with at least
  ``min_samples`` signals scoring below ``demote_below`` moves down the chain, at
  most ``max_shift`` places (the admin's limit; the policy's block lists still
  apply in the router). The reason is kept so ``/models`` can explain it.
- Examples memory: an accepted (or up-voted, or edited) answer is stored with its
  prompt in the owner's examples collection; similar later requests get it as a
  few-shot example.

Settings: ``c.LearningSystem.*`` (``adaptive_routing``, ``min_samples``,
``demote_below``, ``max_shift``); ``NexusApp.learning_class`` replaces the class.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from traitlets import Bool, Float, Int
from traitlets.config import LoggingConfigurable

from ..memory.vector_memory import VectorMemory
from ..store.database import Database
from ..store.models import Feedback, Interaction, Message
from .routing import ChainStep, RoutingConfig

RATINGS = {"up": 1, "accepted": 1, "down": -1, "rejected": -1, "edited": 0}
WINDOW = 50  # recent interactions per chain step that count


class InteractionNotFound(LookupError):
    pass


@dataclass
class StepScore:
    provider: str
    model: str
    samples: int
    score: float
    feedback_mean: float | None
    invalid_rate: float
    median_latency_ms: float | None


@dataclass
class Preference:
    task: str
    order: list[ChainStep]
    changed: bool
    reason: str
    scores: list[StepScore] = field(default_factory=list)


class LearningSystem(LoggingConfigurable):
    adaptive_routing = Bool(
        True, help="Let feedback, invalid answers and latency move a model down its task's chain."
    ).tag(config=True)
    min_samples = Int(3, help="Recent answers a model needs before feedback can move it.").tag(config=True)
    demote_below = Float(
        -0.3, help="Score (mean feedback - invalid rate - latency penalty) below which a model moves down."
    ).tag(config=True)
    max_shift = Int(1, help="Most places adaptive routing may move a model down its chain.").tag(config=True)

    def __init__(
        self,
        database: Database,
        memory: VectorMemory | None,
        routing: RoutingConfig | None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: ``parent``/``config`` or the settings (``adaptive_routing=False``)."""
        super().__init__(**kwargs)
        self.database = database
        self.memory = memory
        self.routing = routing

    # -- feedback -------------------------------------------------------------------------------
    async def record(
        self, user_id: int, owner: str, interaction_id: int, kind: str, comment: str = "", edited: str = ""
    ) -> tuple[int, bool]:
        """Store feedback; returns (feedback id, whether an example was remembered)."""

        def store(session: Session) -> tuple[int, tuple[str, str, str] | None]:
            interaction = session.get(Interaction, interaction_id)
            if interaction is None or interaction.user_id != user_id:
                raise InteractionNotFound(interaction_id)
            row = Feedback(
                interaction_id=interaction_id,
                user_id=user_id,
                rating=RATINGS[kind],
                kind=kind,
                comment=comment,
            )
            session.add(row)
            session.flush()
            example = None
            if kind in ("up", "accepted", "edited") and interaction.conversation_id:
                example = self._exchange(session, interaction)
                if example and kind == "edited" and edited:
                    example = (example[0], edited, example[2])
            return int(row.id), example

        feedback_id, example = await self.database.run(store)
        if example and self.memory is not None:
            prompt, answer, intent = example
            await self.memory.aadd_example(owner, prompt, answer, interaction_id, intent)
        return feedback_id, example is not None

    @staticmethod
    def _exchange(session: Session, interaction: Interaction) -> tuple[str, str, str] | None:
        """(user prompt, assistant answer, intent) of the chat turn that produced the interaction."""
        messages = list(
            session.scalars(
                select(Message)
                .where(Message.conversation_id == interaction.conversation_id)
                .order_by(Message.seq)
            )
        )
        for i, message in enumerate(messages):
            if message.role == "assistant" and (message.meta or {}).get("interaction_id") == interaction.id:
                prompt = next((m.content for m in reversed(messages[:i]) if m.role == "user"), None)
                if prompt:
                    return prompt, message.content, str(interaction.intent or "chat")
        return None

    # -- routing preference ---------------------------------------------------------------------
    async def preference(self, task: str, latency_budget_ms: float | None = None) -> Preference:
        chain = self.routing.chain(task) if self.routing else []
        if not self.adaptive_routing or len(chain) < 2:
            return Preference(task, chain, False, "" if self.adaptive_routing else "adaptive routing is off")
        budget = latency_budget_ms or (self.routing.limits(task).latency_budget_ms if self.routing else None)
        scores = await self.database.run(lambda s: [self._score(s, task, step, budget) for step in chain])
        order = list(chain)
        reasons = []
        for step, score in zip(chain, scores, strict=True):
            if score.samples < self.min_samples or score.score >= self.demote_below:
                continue
            index = order.index(step)
            target = min(len(order) - 1, index + self.max_shift)
            if target == index:
                continue
            order.insert(target, order.pop(index))
            fb = "n/a" if score.feedback_mean is None else f"{score.feedback_mean:+.2f}"
            reasons.append(
                f"{step.provider}/{step.model} moved down {target - index} place(s): "
                f"score {score.score:+.2f} "
                f"over {score.samples} recent answers (feedback {fb}, invalid {score.invalid_rate:.0%})"
            )
        changed = order != chain
        return Preference(task, order, changed, "; ".join(reasons) or "the configured order", scores)

    def _score(self, session: Session, task: str, step: ChainStep, budget: float | None) -> StepScore:
        rows = session.execute(
            select(Interaction.id, Interaction.outcome, Interaction.latency_ms)
            .where(
                Interaction.task == task,
                Interaction.provider == step.provider,
                Interaction.model == step.model,
            )
            .order_by(Interaction.id.desc())
            .limit(WINDOW)
        ).all()
        ids = [r.id for r in rows]
        ratings = (
            list(session.scalars(select(Feedback.rating).where(Feedback.interaction_id.in_(ids))))
            if ids
            else []
        )
        invalid = sum(1 for r in rows if r.outcome in ("invalid", "error")) / len(rows) if rows else 0.0
        latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
        median = statistics.median(latencies) if latencies else None
        feedback_mean = sum(ratings) / len(ratings) if ratings else None
        score = (feedback_mean or 0.0) - invalid - (0.5 if budget and median and median > budget else 0.0)
        return StepScore(
            step.provider,
            step.model,
            len(rows),
            round(score, 4),
            feedback_mean,
            round(invalid, 4),
            median,
        )

    def describe(self, preference: Preference) -> dict[str, Any]:
        return {
            "order": [{"provider": s.provider, "model": s.model} for s in preference.order],
            "changed": preference.changed,
            "reason": preference.reason,
        }
