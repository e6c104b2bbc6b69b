"""The ``%nexus`` / ``%%nexus`` magics. Subcommands are dispatched from a table, one method each.

Transports (how a model is reached) live in ``transport.py`` / ``server_transport.py``,
live output in ``output.py``, prompt context in ``context.py``; this module only
parses arguments and decides what each subcommand asks for.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from nexus_server_ext._version import __version__
from nexus_server_ext.ai.engines.sources import is_bundled
from nexus_server_ext.ai.postprocess import extract_code
from nexus_server_ext.diagnosis.offer import offer_model_fix
from nexus_server_ext.diagnosis.scratch import FixCheck, check_in_process
from nexus_server_ext.diagnosis.service import COMPUTED_MODEL, COMPUTED_PROVIDER, Diagnosed

from .context import ErrorReport, InterpolationError, interpolate, last_error
from .discovery import shared_transport
from .output import Format, LiveOutput, footer, play, provenance_metadata
from .progress import ProgressBar
from .transport import TASKS, Provenance, Transport, TransportError, prompt_hash

log = logging.getLogger(__name__)

# subcommand -> (default task, default output format, one-line help)
PROMPT_COMMANDS: dict[str, tuple[str, Format, str]] = {
    "ask": ("natural_language", "markdown", "answer a question (line or cell)"),
    "chat": ("natural_language", "markdown", "a conversation: earlier turns are remembered"),
    "explain": (
        "code_analysis",
        "markdown",
        "explain the cell body, a named object, or the previous cell (its error, if it raised)",
    ),
    "fix": ("code_analysis", "markdown", "propose a fix for the last exception"),
    "generate": ("code_generation", "code", "write code into the next cell (never runs it)"),
}
# what the model is asked about an error when the user adds no words of their own
ERROR_PROMPTS = {
    "fix": "Fix this error: {}. Show the corrected line of code.",
    "explain": "Explain this error in plain words: {}.",
}
OTHER_HELP = {
    "learn": "learn PATH: index a file or folder so ask/chat can quote it (on a server: your memory there)",
    "search": "search QUERY: the learned chunks closest in meaning",
    "models": "the model chain per task and each model's health",
    "status": "which transport answers and how healthy it is",
    "history": "this session's questions and answers",
    "clear": "forget the conversation and the history (in-process: the learned files too)",
    "feedback": "feedback up|down: rate the last answer (on a server: for its learning system)",
    "help": "this list",
    "version": "the NEXUS version",
}


class NexusUsageError(ValueError):
    """Bad magic arguments: shown as one readable line, never a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise NexusUsageError(message)


def _options_parser() -> _Parser:
    parser = _Parser(prog="%nexus", add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--task", choices=TASKS)
    parser.add_argument("--format", choices=("code", "markdown", "text"))
    parser.add_argument("--max-tokens", type=int, dest="max_tokens")
    parser.add_argument("words", nargs="*")
    return parser


@dataclass
class Turn:
    command: str
    prompt: str
    answer: str
    provenance: Provenance
    feedback: str | None = None


@magics_class
class NexusMagics(Magics):
    """``%nexus SUBCOMMAND [args]`` and ``%%nexus SUBCOMMAND [--model M] [--task T] [--format F]``."""

    def __init__(self, shell: Any = None, transport: Transport | None = None) -> None:
        super().__init__(shell)
        self._transport = transport
        self.history: list[Turn] = []
        self.previous_error: BaseException | None = None  # what the last cell (not a %nexus one) raised
        if shell is not None and hasattr(shell, "events"):
            shell.events.register("post_run_cell", self._after_cell)

    def close(self) -> None:
        """Stop following cells (``%unload_ext``)."""
        if self.shell is not None and hasattr(self.shell, "events"):
            self.shell.events.unregister("post_run_cell", self._after_cell)

    def _after_cell(self, result: Any) -> None:
        raw = (getattr(getattr(result, "info", None), "raw_cell", None) or "").lstrip()
        if not raw.startswith(("%nexus", "%%nexus")):  # asking twice still explains the same error
            self.previous_error = result.error_before_exec or result.error_in_exec

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = shared_transport()
        return self._transport

    def _subcommands(self) -> dict[str, Callable[[list[str], str | None], object]]:
        table: dict[str, Callable[[list[str], str | None], object]] = {
            name: self._prompt_command(name) for name in PROMPT_COMMANDS
        }
        table.update(
            learn=self._learn,
            search=self._search,
            models=self._models,
            status=self._status,
            history=self._history,
            clear=self._clear,
            feedback=self._feedback,
            help=self._help,
            version=self._version,
        )
        return table

    @line_cell_magic
    def nexus(self, line: str, cell: str | None = None) -> object:
        try:
            args = shlex.split(line)
        except ValueError as exc:
            return self._fail(f"cannot parse the arguments: {exc}")
        name = args[0] if args else "help"
        handler = self._subcommands().get(name)
        if handler is None:
            return self._fail(f"unknown subcommand {name!r}; try %nexus help")
        try:
            return handler(args[1:], cell)
        except (NexusUsageError, TransportError, InterpolationError, FileNotFoundError) as exc:
            return self._fail(str(exc))
        except KeyboardInterrupt:
            return self._fail("cancelled")
        except Exception as exc:  # anything else: one line for the user, the details in the kernel log
            log.exception("NEXUS %%nexus %s failed", name)
            return self._fail(f"{name} failed: {type(exc).__name__}: {exc}")

    @staticmethod
    def _fail(message: str) -> None:
        print(f"nexus: {message}", file=sys.stderr, flush=True)
        return None

    # -- prompts ------------------------------------------------------------------------------------
    def _prompt_command(self, name: str) -> Callable[[list[str], str | None], object]:
        return lambda args, cell: self._run_prompt(name, args, cell)

    def _run_prompt(self, name: str, args: list[str], cell: str | None) -> None:
        task, fmt, _ = PROMPT_COMMANDS[name]
        opts = _options_parser().parse_args(args)
        task = opts.task or task
        fmt = opts.format or fmt
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name == "explain" and cell is not None:
            text = ""  # the cell body is code to explain, not a prompt: its braces are not variables
        else:
            text = " ".join(opts.words) if cell is None else cell
        prompt = interpolate(text, namespace).strip()
        context: dict[str, Any] = {}
        header = ""
        report = self._error_to_answer(name, opts.words, cell)
        if report is not None:  # the Explain / Fix service: the facts first, a certain fix needs no model
            diagnosed = report.diagnose(fix=name == "fix")
            if diagnosed.fix is not None:
                self._show_computed_fix(report, diagnosed)
                return
            context = {"code": report.facts.cell, "error": diagnosed.model_context(report.traceback)}
            header = diagnosed.lead + "\n\n"  # computed facts first, the model's words after
            prompt = prompt or ERROR_PROMPTS[name].format(report.summary)
        elif name == "explain":
            context["code"] = self._code_to_explain(opts.words, cell)
            named = cell is None and len(opts.words) == 1 and opts.words[0] in namespace
            if cell is not None or not opts.words or named:
                prompt = "Explain what this code does."
        elif not prompt:
            raise NexusUsageError(f'{name} needs a prompt: %nexus {name} "..." or a %%nexus {name} cell')
        if name in ("ask", "chat"):
            prompt = self._with_memory(prompt)
        if name == "generate":
            self._generate(task, prompt, context, opts, fmt)
            return
        history = (
            [
                (r, t)
                for turn in self.history
                if turn.command == "chat"
                for r, t in (("user", turn.prompt), ("assistant", turn.answer))
            ]
            if name == "chat"
            else None
        )
        if name == "fix":
            self._fix_with_model(task, prompt, context, opts, header)
            return
        out = LiveOutput(self.shell, fmt, header)
        out.start()
        events = self.transport.stream(
            task, prompt, context=context, history=history, model=opts.model, max_tokens=opts.max_tokens
        )
        answer, prov = play(events, out)
        self._remember(Turn(name, prompt, answer, prov))

    def _error_to_answer(self, name: str, words: list[str], cell: str | None) -> ErrorReport | None:
        """``fix``: the last exception (there must be one); ``explain`` alone: the previous cell's, if any."""
        if name == "fix":
            report = last_error(self.previous_error)
            if report is None:
                raise NexusUsageError("there is no exception to fix: run the failing cell first")
            return report
        if name == "explain" and cell is None and not words and self.previous_error is not None:
            return last_error(self.previous_error)
        return None

    def _show_computed_fix(self, report: ErrorReport, diagnosed: Diagnosed) -> None:
        """The facts settle the fix (a misspelt name, ``certain_fixes``): run it in a scratch process,
        then show it, and put the fixed cell below (unrun) when the run passed. No model is asked."""
        from IPython.display import display

        fixed = diagnosed.fix
        assert fixed is not None
        offer = replace(diagnosed, check=self._check(fixed.code)).computed_offer()
        text = f"{diagnosed.lead}\n\n{offer.text}{self._offered(offer.code)}"
        text += "\n\n<sub>computed from the error's facts, no model</sub>"
        prov = Provenance(
            "code_analysis",
            "computed",
            prompt_hash("fix", report.summary, {}),
            COMPUTED_MODEL,
            COMPUTED_PROVIDER,
        )
        display(
            {"text/markdown": text, "text/plain": fixed.code}, raw=True, metadata=provenance_metadata(prov)
        )
        self._remember(Turn("fix", report.summary, fixed.code, prov))

    def _fix_with_model(
        self, task: str, prompt: str, context: dict[str, Any], opts: Any, header: str
    ) -> None:
        """A model's fix is shown once it has run in a scratch process (the facts show at once)."""
        out = LiveOutput(self.shell, "markdown", header)
        out.start()
        answer, prov = "", None
        for event in self.transport.stream(
            task, prompt, context=context, model=opts.model, max_tokens=opts.max_tokens
        ):
            if event.kind == "done":
                answer, prov = event.text, event.provenance
        if prov is None:
            raise TransportError("the answer ended without a final event")
        code = extract_code(answer).code
        check = self._check(code) if code.strip() else None
        bundled = is_bundled(prov.provider, prov.model)
        offer = offer_model_fix(answer, code, check, hide_unverified=bundled)
        out.finish(offer.text + self._offered(offer.code), prov)
        self._remember(Turn("fix", prompt, offer.text, prov))

    def _check(self, code: str) -> FixCheck:
        """Run ``code`` in a scratch process with copies of what it reads (never in this kernel)."""
        return check_in_process(code, self.shell.user_ns if self.shell is not None else {})

    def _offered(self, code: str) -> str:
        """Put an offered fix in the next cell, unrun; the sentence that says so."""
        if not code:
            return ""
        if self.shell is not None:
            self.shell.set_next_input(code.rstrip() + "\n", replace=False)
        return "\n\nThe fixed cell is in the next cell (not run)."

    def _code_to_explain(self, words: list[str], cell: str | None) -> str:
        if cell is not None and cell.strip():
            return cell
        namespace = self.shell.user_ns if self.shell is not None else {}
        if len(words) == 1 and words[0] in namespace:
            try:
                return inspect.getsource(namespace[words[0]])
            except (TypeError, OSError):
                raise NexusUsageError(f"cannot find the source of {words[0]!r}") from None
        previous = [
            c for c in namespace.get("In", [])[:-1] if c.strip() and not c.lstrip().startswith("get_ipython")
        ]
        if not previous:
            raise NexusUsageError("nothing to explain: give a cell body or run some code first")
        return str(previous[-1])

    def _with_memory(self, prompt: str) -> str:
        try:
            hits = [h for h in self.transport.search(prompt, k=3) if h.score > 0.2]
        except TransportError as exc:  # the answer matters more than the quotes
            log.warning("NEXUS: the memory could not be searched: %s", exc)
            return prompt
        if not hits:
            return prompt
        quoted = "\n\n".join(f"[{h.source}:{h.lines}]\n{h.text}" for h in hits)
        return f"Use these excerpts from the user's files if they help:\n{quoted}\n\nQuestion: {prompt}"

    def _generate(self, task: str, prompt: str, context: dict[str, Any], opts: Any, fmt: str) -> None:
        from IPython.display import display

        result = self.transport.generate(
            task, prompt, context=context, model=opts.model, max_tokens=opts.max_tokens
        )
        if not result.code.strip():
            raise TransportError("the model wrote no code; try rephrasing the request")
        code = result.code.rstrip() + "\n"
        if not result.valid:
            code = "# NEXUS: this code did not pass validation; check it before running.\n" + code
        if self.shell is not None:
            self.shell.set_next_input(code, replace=False)
        note = "The code is in the next cell (not run)."
        if result.explanation:
            note += f"\n\n{result.explanation}"
        text = f"{note}\n\n<sub>{footer(result.provenance)}</sub>"
        display(
            {"text/markdown": text, "text/plain": code if fmt == "code" else note},
            raw=True,
            metadata=provenance_metadata(result.provenance),
        )
        self._remember(Turn("generate", prompt, code, result.provenance))

    def _remember(self, turn: Turn) -> None:
        self.history.append(turn)
        if self.shell is not None:
            self.shell.user_ns["_nexus"] = turn.answer

    # -- the rest -----------------------------------------------------------------------------------
    def _learn(self, args: list[str], cell: str | None) -> None:
        if len(args) != 1:
            raise NexusUsageError("usage: %nexus learn PATH (a file or a folder)")
        with ProgressBar(f"Learning {args[0]}") as bar:
            learned = self.transport.learn(args[0], progress=bar.update)
        unchanged = f" ({learned.unchanged} unchanged files skipped)" if learned.unchanged else ""
        print(f"Learned {learned.chunks} chunks from {learned.files} files under {args[0]}{unchanged}.")
        for problem in learned.problems[:5]:
            print(f"  {problem}", file=sys.stderr)

    def _search(self, args: list[str], cell: str | None) -> list[dict[str, Any]]:
        query = " ".join(args).strip()
        if not query:
            raise NexusUsageError("usage: %nexus search QUERY")
        hits = self.transport.search(query)
        if not hits:
            raise NexusUsageError("nothing learned matches: %nexus learn PATH first")
        for hit in hits:
            first = (hit.text.strip().splitlines() or [""])[0][:100]
            print(f"{hit.score:.2f}  {hit.source}:{hit.lines}  {first}")
        return [{"source": h.source, "lines": h.lines, "score": round(h.score, 4)} for h in hits]

    def _models(self, args: list[str], cell: str | None) -> None:
        from IPython.display import display

        doc = self.transport.models()
        rows = ["| task | chain (provider/model: state) |", "|---|---|"]
        for entry in doc.get("tasks", []):
            chain = " → ".join(f"{s['provider']}/{s['model']}: {s['state']}" for s in entry["chain"])
            rows.append(f"| {entry['task']} | {chain} |")
        text = "\n".join(rows)
        display({"text/markdown": text, "text/plain": text}, raw=True, metadata={"nexus": doc})

    def _status(self, args: list[str], cell: str | None) -> dict[str, Any]:
        status = self.transport.status()
        where = status.get("server") or "this kernel"
        print(
            f"NEXUS {status.get('version', __version__)}: answers come from {status['transport']} ({where})."
        )
        return status

    def _history(self, args: list[str], cell: str | None) -> None:
        if not self.history:
            print("No questions yet in this session.")
        for i, turn in enumerate(self.history, 1):
            rated = f" [{turn.feedback}]" if turn.feedback else ""
            ident = turn.provenance.interaction_id
            recorded = f" (interaction {ident})" if ident is not None else ""
            model = turn.provenance.model
            print(f"{i}. %nexus {turn.command}: {turn.prompt[:80]!r} -> {model}{recorded}{rated}")
            print(f"   {turn.answer.strip()[:160]!r}")

    def _clear(self, args: list[str], cell: str | None) -> None:
        self.history.clear()
        forgotten = self.transport.forget()
        print(f"Cleared the conversation and the history, and {forgotten}.")

    def _feedback(self, args: list[str], cell: str | None) -> None:
        if len(args) != 1 or args[0] not in ("up", "down"):
            raise NexusUsageError("usage: %nexus feedback up|down")
        if not self.history:
            raise NexusUsageError("there is no answer to rate yet")
        turn = self.history[-1]
        where = self.transport.feedback(turn.provenance, args[0])
        turn.feedback = args[0]
        print(f"Thanks: the answer from {turn.provenance.model} was rated {args[0]}; it went to {where}.")

    def _help(self, args: list[str], cell: str | None) -> None:
        lines = ["NEXUS magics: %nexus SUBCOMMAND ... or %%nexus SUBCOMMAND with the cell as the prompt."]
        lines += [f"  {name:<9} {desc}" for name, (_t, _f, desc) in PROMPT_COMMANDS.items()]
        lines += [f"  {name:<9} {desc}" for name, desc in OTHER_HELP.items()]
        lines.append(
            "Options: --model M, --task code_generation|natural_language|code_analysis, "
            "--format code|markdown|text, --max-tokens N. {name} in a prompt inserts a variable."
        )
        print("\n".join(lines))

    def _version(self, args: list[str], cell: str | None) -> str:
        return __version__
