"""``ContextManager``: what the model is told about where the user is, within a token budget.

Sources: the selection, the current cell and its neighbours (outputs truncated)
or the open file, the kernel's last error and variables (inspected silently),
what the language server jupyter-lsp runs for the code's language reports
(diagnostics, and hover/definition facts for the names on the current line;
``lsp.py``), and memories retrieved for the request. Each becomes a ``ContextPiece`` the
user sees as a removable chip (``ChatContext.exclude`` removes a kind). When the
last cell the kernel ran raised, the bundle also carries that error's
``ErrorFacts`` (computed, not generated).

Budget: pieces are admitted in ``PRIORITY`` order (what the user pointed at
first, background last); each is capped at ``PIECE_SHARE`` of the budget and a
piece that does not fit is truncated (tracebacks keep their tail, everything
else its head) or, below 32 tokens of room, dropped.

Its settings are ``c.ContextManager.*`` traits (the language servers' are
``c.LanguageServers.*``); ``NexusApp.context_manager_class`` replaces the class.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_server.utils import ensure_async
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from ..diagnosis.facts import ErrorFacts, from_traceback_text
from ..memory.vector_memory import Hit, VectorMemory
from .diagnostics import SourceDocument, language_id, language_of_file
from .kernel_state import (
    inspect_kernel,
    notebook_kernel_id,
    render_variables,
    seed_kernel,
    summarize_variables,
)
from .lsp import LanguageServers

log = logging.getLogger(__name__)

PRIORITY = ("selection", "error", "cell", "diagnostics", "variables", "memories", "neighbours", "file")
PIECE_SHARE = 0.4
OUTPUT_CHARS = 400


def tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token for code and English)."""
    return (len(text) + 3) // 4


def truncate(text: str, budget: int, keep: str = "head") -> str:
    if tokens(text) <= budget:
        return text
    chars = max(0, budget * 4 - 20)
    return ("[...]\n" + text[-chars:]) if keep == "tail" else (text[:chars] + "\n[...]")


@dataclass
class ContextPiece:
    kind: str
    label: str
    text: str
    source: str | None = None
    summary: str = ""  # the chat panel's words for it ("Kernel variables: df (DataFrame 3x2: ...)", "Cell 3")

    @property
    def tokens(self) -> int:
        return tokens(self.text)


@dataclass
class ContextBundle:
    pieces: list[ContextPiece] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    facts: ErrorFacts | None = None  # the error of the last cell the kernel ran, if it raised
    kernel_note: str = ""  # said before the answer: the kernel was busy, its state is from earlier

    def render(self) -> str:
        return "\n\n".join(f"## {p.label}\n{p.text}" for p in self.pieces)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s ago"
    return f"{round(seconds / 60)} min ago"


def fit(pieces: list[ContextPiece], budget: int) -> tuple[list[ContextPiece], list[str]]:
    order = {k: i for i, k in enumerate(PRIORITY)}
    kept, dropped, left = [], [], budget
    for piece in sorted(pieces, key=lambda p: order.get(p.kind, len(order))):
        room = min(left, int(budget * PIECE_SHARE))
        if room < 32:
            dropped.append(piece.label)
            continue
        text = truncate(piece.text, room, "tail" if piece.kind == "error" else "head")
        kept.append(replace(piece, text=text))
        left -= tokens(text)
    return kept, dropped


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _outputs(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []) or []:
        if out.get("output_type") == "stream":
            parts.append(_source({"source": out.get("text", "")}))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif "text/plain" in (out.get("data") or {}):
            parts.append(_source({"source": out["data"]["text/plain"]}))
    text = "\n".join(parts)
    return text if len(text) <= OUTPUT_CHARS else text[:OUTPUT_CHARS] + " [output truncated]"


def facts_from_state(state: dict[str, Any]) -> ErrorFacts | None:
    """Error facts from a kernel inspection, when the kernel's last error came from its last cell."""
    if not state.get("error") or not state.get("error_is_last"):
        return None
    facts = from_traceback_text(
        state["error"], state.get("variables") or [], state.get("names") or [], state.get("error_hint")
    )
    if facts is None:
        return None
    # The failing cell's source (the kernel's last input): a certain fix renames in it.
    return replace(facts, cell=state.get("error_cell") or facts.cell)


class ContextManager(LoggingConfigurable):
    budget_tokens = Int(
        1500, help="Tokens of context (cells, kernel state, diagnostics, memories) a chat request may use."
    ).tag(config=True)
    memory_results = Int(4, help="Memory chunks retrieved into the context of a chat request.").tag(
        config=True
    )
    min_memory_score = Float(
        0.2, help="Cosine similarity below which a retrieved chunk is not put into the context."
    ).tag(config=True)
    kernel_wait_s = Float(
        2.0,
        help="Seconds a chat request waits for the kernel to report its variables. A kernel that is running "
        "a cell is not waited for at all: the answer uses what NEXUS last read from it, and says so.",
    ).tag(config=True)

    def __init__(
        self,
        serverapp: Any,
        memory: VectorMemory | None,
        *,
        language_servers: LanguageServers | None = None,
        neighbours_before: int = 2,
        neighbours_after: int = 1,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: ``parent``/``config`` or the settings; without ``language_servers``, the context
        makes its own (configured by ``c.LanguageServers``, as this manager's child)."""
        super().__init__(**kwargs)
        self.serverapp = serverapp
        self.memory = memory
        self._last_state: dict[str, tuple[float, dict[str, Any]]] = {}  # kernel id -> (when, what)
        self.language_servers = language_servers or LanguageServers(serverapp, parent=self)
        self.before = neighbours_before
        self.after = neighbours_after

    async def gather(self, owner: str, query: str, request: Any, *, use_memory: bool = True) -> ContextBundle:
        """Every context piece for a request (``request`` is a ``ChatContext``), fitted to the budget."""
        exclude = set(request.exclude or [])
        pieces: list[ContextPiece] = []
        if request.selection and "selection" not in exclude:
            pieces.append(ContextPiece("selection", "Selected code", request.selection))
        document: SourceDocument | None = None
        if request.notebook_path:
            try:
                read = self._notebook if request.notebook_path.endswith(".ipynb") else self._file
                document, nb_pieces = await read(request)
                pieces += [p for p in nb_pieces if p.kind not in exclude]
            except Exception as exc:  # a missing notebook must not fail the chat
                log.info("NEXUS context: cannot read %s: %s", request.notebook_path, exc)
        if document is None and request.selection:  # code from somewhere we cannot read: assume Python
            document = SourceDocument.for_cells("selection", "python", ".py", [(1, request.selection)], None)
        language_server: asyncio.Future[list[ContextPiece]] | None = None
        if document is not None and "diagnostics" not in exclude:  # runs while the kernel is inspected
            language_server = asyncio.ensure_future(self._language_server(document))
        kernel_id = request.kernel_id or await self._kernel_for(request.notebook_path)
        facts: ErrorFacts | None = None
        note = ""
        if kernel_id and not {"variables", "error"} <= exclude:
            state, note = await self._kernel_state(kernel_id)
            if state.get("error") and "error" not in exclude and not note:  # an old read: no error facts
                pieces.append(ContextPiece("error", "Last error in the kernel", state["error"]))
                facts = facts_from_state(state)
            if state.get("variables") and "variables" not in exclude:
                label = "Kernel variables" + (f" ({note})" if note else "")
                summary = f"{label}: {summarize_variables(state['variables'])}"
                pieces.append(
                    ContextPiece("variables", label, render_variables(state["variables"]), summary=summary)
                )
        hits: list[Hit] = []
        if use_memory and self.memory is not None and "memories" not in exclude and query.strip():
            try:
                found_hits = await self.memory.asearch(owner, query, self.memory_results)
                hits = [h for h in found_hits if h.score >= self.min_memory_score]
            except Exception as exc:
                log.warning("NEXUS context: memory search failed: %s", exc)
            for i, hit in enumerate(hits, 1):
                pieces.append(ContextPiece("memories", f"[{i}] {hit.citation}", hit.text, hit.source))
        if language_server is not None:
            pieces += await language_server
        kept, dropped = fit(pieces, self.budget_tokens)
        kept_sources = {p.source for p in kept if p.kind == "memories"}
        kernel_note = f"_The kernel is busy running a cell; this answer uses {note}._\n\n" if note else ""
        return ContextBundle(kept, [h for h in hits if h.source in kept_sources], dropped, facts, kernel_note)

    async def _kernel_state(self, kernel_id: str) -> tuple[dict[str, Any], str]:
        """The kernel's variables and last error, and '' (fresh) or what older state is used instead.

        A kernel running a cell (a model training, a long query) answers only when the cell ends; the
        question is answered now, with what NEXUS last read from it."""
        manager = self.serverapp.kernel_manager
        busy = getattr(manager.get_kernel(kernel_id), "execution_state", "") == "busy"
        # busy: a short wait all the same, for a cell that is just ending (its "idle" may be on its way)
        wait = min(self.kernel_wait_s, 0.3) if busy else self.kernel_wait_s
        try:
            state = await inspect_kernel(manager, kernel_id, timeout=wait)
        except Exception as exc:
            log.info("NEXUS context: kernel %s not inspected: %s", kernel_id, exc)
        else:
            running = set(manager.list_kernel_ids())  # forget kernels that have gone
            self._last_state = {k: v for k, v in self._last_state.items() if k in running}
            self._last_state[kernel_id] = (time.monotonic(), state)
            return state, ""
        when, state = self._last_state.get(kernel_id, (0.0, {}))
        if not state:
            return {}, "no variables (NEXUS has not read them yet)"
        return state, f"its variables as they were {_ago(time.monotonic() - when)}"

    async def _language_server(self, document: SourceDocument) -> list[ContextPiece]:
        try:
            report = await self.language_servers.report(document)
        except Exception as exc:  # a broken language server must not fail the chat
            log.warning("NEXUS context: the language server failed: %s", exc)
            return []
        server = f" from {report.server}" if report.server else ""
        pieces = []
        if report.diagnostics or report.note:
            pieces.append(ContextPiece("diagnostics", f"Diagnostics{server}", report.render_diagnostics()))
        if report.facts:
            label = f"Names on the current line{server and ','}{server}"
            pieces.append(ContextPiece("diagnostics", label, report.render_facts()))
        return pieces

    async def kernel_error_facts(self, notebook_path: str | None) -> ErrorFacts | None:
        """Facts about the error the notebook's last run cell raised, read from its kernel (or None)."""
        kernel_id = await self._kernel_for(notebook_path)
        if kernel_id is None:
            return None
        try:
            return facts_from_state(await inspect_kernel(self.serverapp.kernel_manager, kernel_id))
        except Exception as exc:
            log.info("NEXUS context: kernel %s not inspected: %s", kernel_id, exc)
            return None

    async def copy_kernel_values(
        self,
        notebook_path: str | None,
        names: list[str],
        folder: str,
        max_bytes: int,
        kernel_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Copies of ``names`` from the kernel (``kernel_id``, else the notebook's) into ``folder`` for a
        fix's check run (None without a kernel); raises ``KernelInspectionError`` when it does not answer."""
        kernel_id = kernel_id or await self._kernel_for(notebook_path)
        if kernel_id is None:
            return None
        return await seed_kernel(self.serverapp.kernel_manager, kernel_id, names, folder, max_bytes)

    async def _kernel_for(self, path: str | None) -> str | None:
        return await notebook_kernel_id(self.serverapp, path)

    async def _notebook(self, request: Any) -> tuple[SourceDocument | None, list[ContextPiece]]:
        model = await ensure_async(
            self.serverapp.contents_manager.get(request.notebook_path, content=True, type="notebook")
        )
        cells = model["content"]["cells"]
        index = next((i for i, c in enumerate(cells) if c.get("id") == request.cell_id), None)
        if index is None:
            return None, []
        cell = cells[index]
        label = f"Current cell ({cell.get('cell_type')})"
        pieces = [ContextPiece("cell", label, _source(cell), request.cell_id, summary=f"Cell {index + 1}")]
        if _outputs(cell):
            pieces[0].text += f"\n# output:\n{_outputs(cell)}"
        around = []
        for j in range(max(0, index - self.before), min(len(cells), index + self.after + 1)):
            if j == index or not _source(cells[j]).strip():
                continue
            text = _source(cells[j]) + (f"\n# output:\n{_outputs(cells[j])}" if _outputs(cells[j]) else "")
            where = "above" if j < index else "below"
            around.append(f"# cell {j + 1} ({where})\n{text}")
        if around:
            pieces.append(ContextPiece("neighbours", "Neighbouring cells", "\n\n".join(around)))
        if cell.get("cell_type") != "code":
            return None, pieces
        language, extension = notebook_language(model["content"].get("metadata") or {})
        code = [(i + 1, _source(c)) for i, c in enumerate(cells[: index + 1]) if c.get("cell_type") == "code"]
        document = SourceDocument.for_cells(
            request.notebook_path, language, extension, code, request.cursor_line
        )
        return document, pieces

    async def _file(self, request: Any) -> tuple[SourceDocument | None, list[ContextPiece]]:
        """A file open in the editor: its text (the "file" piece) and a document for its language server."""
        model = await ensure_async(
            self.serverapp.contents_manager.get(
                request.notebook_path, content=True, type="file", format="text"
            )
        )
        text = str(model.get("content") or "")
        piece = ContextPiece("file", f"Open file {request.notebook_path}", text, request.notebook_path)
        language = language_of_file(request.notebook_path)
        return SourceDocument.for_file(request.notebook_path, language, text, request.cursor_line), [piece]


def notebook_language(metadata: dict[str, Any]) -> tuple[str, str]:
    """(language, file extension) of a notebook's kernel, from its metadata; Python when it says nothing."""
    info = metadata.get("language_info") or {}
    named = str(info.get("name") or (metadata.get("kernelspec") or {}).get("language") or "python")
    language = language_id(named)
    extension = str(info.get("file_extension") or (".py" if language == "python" else f".{language}"))
    return language, extension
