"""What NEXUS answers itself, without a model: /clear, /help, /learn, and plugins' handlers and commands.

The answer is stored and sent as frames exactly like a model's answer (started,
the user's message, one delta, the reply, done), so every client handles both
the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..api_models import (
    ChatDoneFrame,
    ChatFrame,
    ChatStartedFrame,
    DeltaFrame,
    MessageBroadcastFrame,
    ServerEventFrame,
)
from ..memory.indexer import LearnRefused
from .intent import Intent
from .plugin_answers import PluginCall

if TYPE_CHECKING:
    from .consciousness import ConsciousnessCore

DEFAULT_REQUEST = {
    "explain": "Explain this code.",
    "fix": "Fix the error in this code.",
    "refactor": "Refactor this code.",
    "test": "Write tests for this code.",
}

HELP = (
    "Commands: /ask QUESTION, /generate WHAT, /explain, /fix, /refactor, /test, /learn PATH|GLOB "
    "(index files so answers can cite them), /clear (the model forgets this conversation), /help."
)


def author_meta(author: str | None) -> dict[str, Any]:
    """A notebook chat's question records who asked."""
    return {"author": author} if author else {}


async def answer_locally(
    core: ConsciousnessCore,
    owner: str,
    user_id: int,
    frame: ChatFrame,
    intent: Intent,
    conversation_id: str,
    author: str | None,
    call: PluginCall | None = None,
) -> AsyncGenerator[BaseModel, None]:
    """Commands, /learn and plugins' handlers: answered without a model call."""
    yield ChatStartedFrame(id=frame.id, conversation_id=conversation_id, intent=intent.name, author=author)
    user_msg = await core._store(
        user_id, frame, conversation_id, "user", frame.text, meta=author_meta(author)
    )
    yield MessageBroadcastFrame(conversation_id=conversation_id, message=user_msg)
    model, provider = "nexus", "nexus"
    if call is not None:
        ctx = frame.context
        answer = await call.answer(
            {
                "text": intent.text,
                "username": owner,
                "notebook_path": ctx.notebook_path,
                "cell_id": ctx.cell_id,
                "selection": ctx.selection,
                "root_dir": core.root_dir,
            }
        )
        model, provider = call.name, call.source
    elif intent.command == "clear":
        await core.conversations.clear(user_id, conversation_id, frame.notebook)
        answer = "Conversation cleared: the model no longer sees the earlier messages."
    elif intent.name == "learn" and intent.command and core.learn_jobs is not None:
        try:  # a scheduler task: listed in /tasks, cancellable, with a progress bar in JupyterLab
            task, job = await core.learn_jobs.submit(user_id, owner, intent.text)
        except LearnRefused as exc:
            answer = str(exc)
        else:
            yield ServerEventFrame(schema_id="nexus.memory.learn", data=job.as_dict())
            await core.learn_jobs.scheduler.wait(task.id)
            yield ServerEventFrame(schema_id="nexus.memory.learn", data=job.as_dict())
            if job.state == "cancelled":
                done = f"{job.files_done} of {job.files_total} files"
                answer = f"Learning {intent.text} was cancelled after {done}."
            else:
                answer = (
                    f"Learned {intent.text}: {job.files_indexed} file(s) indexed "
                    f"({job.chunks_added} chunks), "
                    f"{job.files_unchanged} unchanged, {job.files_removed} removed."
                    + (f" Problems: {'; '.join(job.errors[:3])}" if job.errors else "")
                )
    elif intent.name == "learn":
        answer = "To learn files, name them: /learn PATH or /learn GLOB (for example /learn src/**/*.py)."
    else:
        answer = HELP
    reply = await core._store(
        user_id, frame, conversation_id, "assistant", answer, model=model, provider=provider,
        meta={"intent": intent.name},
    )  # fmt: skip
    yield DeltaFrame(type="chat.delta", id=frame.id, text=answer)
    yield MessageBroadcastFrame(conversation_id=conversation_id, message=reply)
    yield ChatDoneFrame(
        id=frame.id, conversation_id=conversation_id, message_id=reply.id, model=model, provider=provider
    )
