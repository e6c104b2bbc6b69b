"""``ChatWidget``: a streaming chat inside a notebook's output area."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nexus_kernel.discovery import shared_transport
from nexus_kernel.transport import Transport, TransportError

HERE = Path(__file__).parent


class ChatWidget(anywidget.AnyWidget):
    """Type in the box (or call ``ask``); the answer streams into ``messages``.

    ``messages`` is the conversation as ``{"role", "content", "model", "provider"}`` dicts; earlier turns
    are sent with each question. ``busy`` is true while an answer is being generated.
    """

    _esm = HERE / "chat.js"
    _css = HERE / "chat.css"

    messages = traitlets.List(traitlets.Dict()).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("Ask NEXUS…").tag(sync=True)
    task = traitlets.Unicode("natural_language").tag(sync=True)
    max_tokens = traitlets.Int(0, help="0 means the task's limit from the routing file.").tag(sync=True)

    def __init__(self, transport: Transport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport = transport
        self._lock = threading.Lock()
        self.on_msg(self._on_frontend_msg)

    @property
    def transport(self) -> Transport:
        return self._transport or shared_transport()

    def _on_frontend_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        if (
            isinstance(content, dict)
            and content.get("type") == "chat"
            and str(content.get("text", "")).strip()
        ):
            # answer on a thread: the kernel stays free to run cells while the model writes
            threading.Thread(target=self._answer_safely, args=(str(content["text"]),), daemon=True).start()
        elif isinstance(content, dict) and content.get("type") == "clear":
            self.clear()

    def _answer_safely(self, text: str) -> None:
        try:
            self.ask(text)
        except Exception as exc:  # shown in the widget; a thread has nobody else to tell
            self.error = str(exc)

    def ask(self, text: str) -> str:
        """Send ``text``, stream the answer into ``messages``, and return it."""
        if not text.strip():
            raise ValueError("the question is empty")
        if not self._lock.acquire(blocking=False):
            raise TransportError("NEXUS is still answering the previous question")
        try:
            self.busy, self.error = True, ""
            history = [(m["role"], m["content"]) for m in self.messages if m.get("content")]
            self.messages = [
                *self.messages,
                {"role": "user", "content": text},
                {"role": "assistant", "content": ""},
            ]
            answer = ""
            events = self.transport.stream(
                self.task, text, history=history, max_tokens=self.max_tokens or None
            )
            for event in events:
                if event.kind == "restart":
                    answer = ""
                elif event.kind == "delta":
                    answer += event.text
                else:
                    prov = event.provenance
                    answer = event.text
                    self._set_last(
                        {
                            "role": "assistant",
                            "content": answer,
                            "model": prov.model if prov else "",
                            "provider": prov.provider if prov else "",
                            "latency_ms": round(prov.latency_ms) if prov else 0,
                        }
                    )
                    return answer
                self._set_last({"role": "assistant", "content": answer})
            return answer
        except Exception as exc:
            self.error = str(exc)
            self.messages = [m for m in self.messages if m.get("content")]
            raise
        finally:
            self.busy = False
            self._lock.release()

    def _set_last(self, message: dict[str, Any]) -> None:
        self.messages = [*self.messages[:-1], message]

    def clear(self) -> None:
        self.messages, self.error = [], ""
