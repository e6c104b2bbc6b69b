"""What NEXUS answers itself, without a model: /clear, /help, /learn, and plugins' handlers and commands.

The answer is stored and sent as frames exactly like a model's answer (started,
the user's message, one delta, the reply, done), so every client handles both
the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from pydantic import BaseModel

from ..api_models import (
    ChatDoneFrame,
    ChatStartedFrame,
    DeltaFrame,
    MessageBroadcastFrame,
    ServerEventFrame,
)
from ..memory.indexer import LearnRefused
from ..memory.learn_tasks import LearnJobs
from .intent import Intent
from .plugin_answers import PluginCall
from .slash import SlashCatalogue
from .transcript import Transcript

AGENT_HOW_TO = (
    "The agent works in a notebook that is open in JupyterLab: in the NEXUS chat panel, switch to "
    "**Agent** (or type `/agent GOAL`) while the notebook is active, and approve each change it asks "
    "about. From code: `POST /nexus/api/v1/agent/runs` with the notebook's path and the goal."
)


async def answer_locally(
    transcript: Transcript,
    intent: Intent,
    *,
    owner: str,
    commands: SlashCatalogue,
    learn_jobs: LearnJobs | None,
    root_dir: str,
    call: PluginCall | None = None,
) -> AsyncGenerator[BaseModel, None]:
    """Commands, /learn and plugins' handlers: answered without a model call."""
    frame = transcript.frame
    yield ChatStartedFrame(
        id=frame.id, conversation_id=transcript.conversation_id, intent=intent.name, author=transcript.author
    )
    user_msg = await transcript.add("user", frame.text)
    yield MessageBroadcastFrame(conversation_id=transcript.conversation_id, message=user_msg)
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
                "root_dir": root_dir,
            }
        )
        model, provider = call.name, call.source
    elif intent.command == "clear":
        await transcript.clear()
        answer = "Conversation cleared: the model no longer sees the earlier messages."
    elif intent.name == "learn" and intent.command and learn_jobs is not None:
        try:  # a scheduler task: listed in /tasks, cancellable, with a progress bar in JupyterLab
            task, job = await learn_jobs.submit(transcript.user_id, owner, intent.text)
        except LearnRefused as exc:
            answer = str(exc)
        else:
            yield ServerEventFrame(schema_id="nexus.memory.learn", data=job.as_dict())
            await learn_jobs.scheduler.wait(task.id)
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
    elif intent.command == "agent":
        # The chat panel starts agent turns itself (an agent.start frame); other clients land here.
        answer = AGENT_HOW_TO
    elif intent.name == "learn":
        answer = "To learn files, name them: /learn PATH or /learn GLOB (for example /learn src/**/*.py)."
    else:
        answer = commands.help_text()
    async for out in reply(transcript, answer, model=model, provider=provider, intent=intent.name):
        yield out


async def reply(
    transcript: Transcript, answer: str, *, model: str, provider: str, intent: str
) -> AsyncGenerator[BaseModel, None]:
    """An answer NEXUS wrote itself, sent and stored like a model's: one delta, the reply, done."""
    frame = transcript.frame
    stored = await transcript.add(
        "assistant", answer, model=model, provider=provider, meta={"intent": intent}
    )
    yield DeltaFrame(type="chat.delta", id=frame.id, text=answer)
    yield MessageBroadcastFrame(conversation_id=transcript.conversation_id, message=stored)
    yield ChatDoneFrame(
        id=frame.id,
        conversation_id=transcript.conversation_id,
        message_id=stored.id,
        model=model,
        provider=provider,
    )
