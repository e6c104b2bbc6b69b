"""Measure whether NEXUS's local models answer right: pass@1 on code tasks, and error explanations.

Prints one JSON object. Every code task of ``bench/quality/`` goes through the NEXUS local engine
with NEXUS's own code-generation prompt (``core.prompts``, intent ``generate``) at temperature 0;
the code is extracted as NEXUS extracts it and the hidden tests run in a child process with a
timeout. Every error case is really run in IPython (the traceback is the one a notebook shows),
then the model gets the chat request NEXUS builds when a user asks why the cell failed: intent
``explain``, the cell with its error output, the kernel's traceback, pyflakes diagnostics and the
kernel's variables. The answer is scored for naming the error and its line, and for naming the
cause. When ``nexus_server_ext/core/error_facts.py`` exists, the cases run a second time as NEXUS
runs them now (the facts in the prompt), and NEXUS's final answer (the facts shown first, then the
model's prose) is scored too. Baseline in the same run: the reference
solutions must pass 100% and every error case must raise as declared, or the exit status is 1.

    python bench/quality.py --model bundled:SmolLM2-135M-Instruct --model path/to/other.gguf \\
        --details quality-details.json
    python bench/quality.py --limit 3          # a smoke run on the first 3 tasks and error cases
    python bench/quality.py --baseline-only    # the harness checks, no model
    python bench/quality.py --completion       # inline completion only: model alone vs NEXUS
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from quality_completion import completion_report
from quality_fixes import FixCase, fix_baseline, load_fix_cases, measure_fixes
from quality_set import (
    CATEGORIES,
    CapturedError,
    ErrorCase,
    Task,
    capture_error,
    echo_share,
    load_error_cases,
    load_tasks,
    names_cause,
    names_error_and_line,
    run_hidden_tests,
)

from nexus_server_ext.ai.postprocess import extract_code
from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest, Usage
from nexus_server_ext.chat.prompts import build_messages
from nexus_server_ext.context.manager import ContextBundle, ContextPiece, fit

DEFAULT_MODEL = "bundled:SmolLM2-135M-Instruct"
QUESTION = "Why does this cell raise an error?"  # a user's chat message; NEXUS reads it as "explain"
CONTEXT_BUDGET = 1500  # ContextManager.budget_tokens' default
MAX_TOKENS = 384


def has_error_facts() -> bool:
    return importlib.util.find_spec("nexus_server_ext.diagnosis.facts") is not None


def open_engine(source: str, backend: str) -> tuple[Any, str]:
    """The NEXUS local engine for ``source``: the engines package when present, else the older module."""
    try:
        from nexus_server_ext.ai.engines import get_engine
    except ImportError:
        from nexus_server_ext.ai.engine import get_engine  # type: ignore[import-not-found,no-redef]

        return get_engine(source, device="cpu"), "transformers"
    return get_engine(source, device="cpu", backend=backend), backend


def generation_messages(task: Task) -> list[ChatMessage]:
    """What NEXUS sends for "/generate <request>" with no notebook context."""
    return build_messages("generate", task.request, ContextBundle(), [], [])


def error_facts(captured: CapturedError) -> Any:
    """NEXUS's facts about the error, computed as the server computes them (None without the module)."""
    if not has_error_facts() or not captured.kernel_state.get("error"):
        return None
    try:
        from nexus_server_ext.context.manager import facts_from_state
    except ImportError:  # error_facts without the context helper
        from nexus_server_ext.diagnosis.facts import from_traceback_text

        state = captured.kernel_state
        return from_traceback_text(state["error"], state.get("variables") or [], state.get("names") or [])
    return facts_from_state(captured.kernel_state)


_LANGUAGE_SERVERS: Any = None


def language_servers() -> Any:
    """pylsp through jupyter-lsp, as a NEXUS server asks it, started once for the whole run."""
    global _LANGUAGE_SERVERS
    if _LANGUAGE_SERVERS is None:
        from nexus_server_ext.context.lsp import StandaloneLanguageServers

        _LANGUAGE_SERVERS = StandaloneLanguageServers(Path.cwd())
    return _LANGUAGE_SERVERS


def error_context(case: ErrorCase, captured: CapturedError) -> ContextBundle:
    """The context NEXUS gathers for a chat message about the cell that just raised."""
    from nexus_server_ext.context.diagnostics import SourceDocument
    from nexus_server_ext.context.kernel_state import render_variables

    output = f"{captured.exception}: {captured.message}"
    state = captured.kernel_state
    pieces = [ContextPiece("cell", "Current cell (code)", f"{case.code.rstrip()}\n# output:\n{output}")]
    if state.get("error"):
        pieces.append(ContextPiece("error", "Last error in the kernel", state["error"]))
    document = SourceDocument.for_cells("case.ipynb", "python", ".py", [(1, case.code)], None)
    report = language_servers().report(document)
    if report.diagnostics:
        label = f"Diagnostics from {report.server}"
        pieces.append(ContextPiece("diagnostics", label, report.render_diagnostics()))
    if state.get("variables"):
        pieces.append(ContextPiece("variables", "Kernel variables", render_variables(state["variables"])))
    kept, dropped = fit(pieces, CONTEXT_BUDGET)
    return ContextBundle(kept, [], dropped)


def error_messages(case: ErrorCase, captured: CapturedError, facts: Any) -> list[ChatMessage]:
    """The chat request NEXUS sends; with ``facts``, the facts are in it, as NEXUS sends it now."""
    bundle = error_context(case, captured)
    if facts is None:
        return build_messages("explain", QUESTION, bundle, [], [])
    return build_messages("explain", QUESTION, bundle, [], [], facts)


async def ask(engine: Any, messages: list[ChatMessage]) -> dict[str, Any]:
    request = GenerationRequest(messages=messages, max_tokens=MAX_TOKENS, temperature=0.0)
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    usage = Usage()
    async for item in engine.stream(request):
        if isinstance(item, Delta):
            if first is None:
                first = time.perf_counter() - started
            parts.append(item.text)
        elif isinstance(item, Usage):
            usage = item
    return {
        "text": "".join(parts),
        "seconds": time.perf_counter() - started,
        "ttft_s": first,
        "tokens_out": usage.tokens_out,
        "finish_reason": usage.finish_reason,
    }


def baseline(
    tasks: list[Task], cases: list[ErrorCase]
) -> tuple[dict[str, Any], list[CapturedError], list[Any]]:
    """The harness proves itself: references pass, cases raise as declared, the scorer accepts the causes."""
    failed = [t.id for t in tasks if not run_hidden_tests(t, t.reference).passed]
    captured = [capture_error(c) for c in cases]
    wrong = [
        c.id
        for c, got in zip(cases, captured, strict=True)
        if (got.exception, got.line) != (c.exception, c.line)
    ]
    written = [f"{c.exception} on line {c.line} ({c.line_text}): {c.cause}" for c in cases]
    scored = [
        c.id
        for c, text in zip(cases, written, strict=True)
        if not (names_error_and_line(c, text) and names_cause(c, text))
    ]
    report = {
        "reference_pass_at_1": rate(len(tasks) - len(failed), len(tasks)),
        "reference_failures": failed,
        "error_cases_as_declared": rate(len(cases) - len(wrong), len(cases)),
        "error_cases_not_as_declared": wrong,
        "written_causes_scored_right": rate(len(cases) - len(scored), len(cases)),
        "written_causes_scored_wrong": scored,
        "traceback_format": captured[0].format if captured else None,
    }
    facts = [error_facts(got) for got in captured]
    if any(f is not None for f in facts):  # what NEXUS shows before any model has said a word
        shown = [(c, f.render_markdown()) for c, f in zip(cases, facts, strict=True) if f is not None]
        report["error_facts_alone"] = {"cases": len(shown), **score_answers(shown)}
    return report, captured, facts


def rate(good: int, total: int) -> float:
    return round(good / total, 4) if total else 0.0


SCORES = {"names_error_and_line": names_error_and_line, "names_cause": names_cause}


def score_answers(pairs: list[tuple[ErrorCase, str]]) -> dict[str, float]:
    return {key: rate(sum(judge(c, a) for c, a in pairs), len(pairs)) for key, judge in SCORES.items()}


def scores(task_rows: list[dict[str, Any]], error_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """pass@1 and the error scores of one model, from its per-task and per-case results."""
    passed = sum(r["passed"] for r in task_rows)
    by_category = {
        c: f"{sum(r['passed'] for r in task_rows if r['category'] == c)}/"
        f"{sum(1 for r in task_rows if r['category'] == c)}"
        for c in CATEGORIES
        if any(r["category"] == c for r in task_rows)
    }
    grounded = [r for r in error_rows if "final" in r]
    errors: dict[str, Any] = {
        "mode": "without and with error_facts" if grounded else "without error_facts (module absent)",
        "model_answer_without_facts": mean_scores([r["without_facts"] for r in error_rows]),
        # answers whose lines are mostly copied from the prompt: they can name the error and line
        # without explaining anything
        "answers_mostly_prompt_echo": sum(
            r[k]["echo"] >= 0.5 for r in error_rows for k in ("without_facts", "with_facts") if k in r
        ),
    }
    if grounded:
        errors["model_answer_with_facts_in_prompt"] = mean_scores([r["with_facts"] for r in grounded])
        errors["nexus_final_answer"] = mean_scores([r["final"] for r in grounded])
    return {
        "pass_at_1": rate(passed, len(task_rows)),
        "passed": f"{passed}/{len(task_rows)}",
        "outcomes": dict(Counter(r["kind"] for r in task_rows)),
        "by_category": by_category,
        "errors": errors,
    }


def mean_scores(scored: list[dict[str, Any]]) -> dict[str, float]:
    return {key: rate(sum(bool(s[key]) for s in scored), len(scored)) for key in SCORES}


def rescore(saved: dict[str, Any], tasks: list[Task], cases: list[ErrorCase]) -> dict[str, Any]:
    """Judge the answers of an earlier run again (after a test or keyword changed), without a model."""
    by_task, by_case = {t.id: t for t in tasks}, {c.id: c for c in cases}
    out = saved["summary"]
    out["baseline"] = baseline(tasks, cases)[0]
    for summary, detail in zip(out["models"], saved["models"], strict=True):
        for row in detail["tasks"]:
            row.update(run_hidden_tests(by_task[row["id"]], row["code"]).as_dict())
        for row in detail["errors"]:
            for key in ("without_facts", "with_facts", "final"):
                if key in row:
                    row[key].update(score_answers([(by_case[row["id"]], row[key]["text"])]))
        summary.update(scores(detail["tasks"], detail["errors"]))
    out["rescored"] = True
    return out


async def measure(
    source: str,
    backend: str,
    tasks: list[Task],
    cases: list[ErrorCase],
    captured: list[CapturedError],
    facts: list[Any],
    fixes: tuple[list[FixCase], list[Any]] = ([], []),
) -> tuple[dict[str, Any], dict[str, Any]]:
    engine, used = open_engine(source, backend)
    load_before = os.getloadavg()[0]  # a shared machine: tokens/s means little without it
    started = time.perf_counter()
    await engine.ensure_loaded()
    load_s = time.perf_counter() - started
    await ask(engine, [ChatMessage("user", "Say OK.")])  # warm-up, not counted
    calls: list[dict[str, Any]] = []
    task_rows = []
    for task in tasks:
        answer = await ask(engine, generation_messages(task))
        calls.append(answer)
        code = extract_code(answer["text"], "python").code
        outcome = run_hidden_tests(task, code)
        task_rows.append(
            {"id": task.id, "category": task.category, **outcome.as_dict(), "code": code, **answer}
        )
    error_rows = []
    for case, got, known in zip(cases, captured, facts, strict=True):
        row: dict[str, Any] = {"id": case.id, "exception": got.exception, "line": got.line}
        for name, given in (("without_facts", None), ("with_facts", known)):
            if name == "with_facts" and known is None:
                continue
            messages = error_messages(case, got, given)
            answer = await ask(engine, messages)
            calls.append(answer)
            prompt = "\n".join(m.content for m in messages)
            echo = round(echo_share(answer["text"], prompt), 2)
            row[name] = {**answer, "echo": echo, **score_answers([(case, answer["text"])])}
        if known is not None:
            final = known.render_markdown() + "\n\n" + row["with_facts"]["text"]  # as the chat shows it
            row["final"] = {"text": final, **score_answers([(case, final)])}
        error_rows.append(row)
    fix_rows: list[dict[str, Any]] = []
    fix_summary: dict[str, Any] = {}
    if fixes[0]:  # the fix set: model alone vs NEXUS (computed fixes, checked before offered)

        async def asked(messages: list[ChatMessage]) -> dict[str, Any]:
            answer = await ask(engine, messages)
            calls.append(answer)
            return answer

        fix_summary, fix_rows = await measure_fixes(asked, *fixes)
    seconds = sum(c["seconds"] for c in calls)
    tokens = sum(c["tokens_out"] for c in calls)
    ttfts = [c["ttft_s"] for c in calls if c["ttft_s"] is not None]
    summary = {
        "model": source,
        "backend": used,
        "device": getattr(engine, "device", None),
        "load_s": round(load_s, 2),
        **scores(task_rows, error_rows),
        "fixes": fix_summary,
        "requests": len(calls),
        "tokens_out": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "mean_latency_s": round(statistics.mean(c["seconds"] for c in calls), 2) if calls else None,
        "mean_ttft_s": round(statistics.mean(ttfts), 3) if ttfts else None,
        "finish_reasons": dict(Counter(c["finish_reason"] for c in calls)),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    return summary, {"model": source, "tasks": task_rows, "errors": error_rows, "fixes": fix_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", help=f"bundled:NAME or a .gguf path (default {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--backend", default="llama_cpp", help="local engine backend (llama_cpp or transformers)"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks and N error cases")
    parser.add_argument("--details", type=Path, help="write every answer and test result to this JSON file")
    parser.add_argument("--baseline-only", action="store_true", help="check the harness; run no model")
    parser.add_argument("--rescore", type=Path, help="judge the answers in an earlier --details file again")
    parser.add_argument(
        "--completion",
        action="store_true",
        help="measure inline completion only (bench/quality/completion.yaml, quality_completion.py)",
    )
    args = parser.parse_args()
    if args.completion:
        models = args.model or [DEFAULT_MODEL]
        sys.exit(completion_report(models, args.backend, args.limit, args.details, open_engine))
    tasks, cases = load_tasks(), load_error_cases()
    if args.rescore:
        saved = json.loads(args.rescore.read_text())
        out = rescore(saved, tasks, cases)
        if args.details:
            args.details.write_text(json.dumps(saved, indent=1))
        print(json.dumps(out, indent=2))
        return
    fix_cases = load_fix_cases()
    if args.limit:
        tasks, cases, fix_cases = tasks[: args.limit], cases[: args.limit], fix_cases[: args.limit]
    report, captured, facts = baseline(tasks, cases)
    fix_report, broken = fix_baseline(fix_cases)
    report["fixes"] = fix_report
    out: dict[str, Any] = {
        "set": {"tasks": len(tasks), "error_cases": len(cases), "limited": bool(args.limit)},
        "baseline": report,
        "error_facts_module": has_error_facts(),
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "models": [],
    }
    details = []
    if not args.baseline_only:
        for source in args.model or [DEFAULT_MODEL]:
            summary, detail = asyncio.run(
                measure(source, args.backend, tasks, cases, captured, facts, (fix_cases, broken))
            )
            out["models"].append(summary)
            details.append(detail)
    if args.details:
        args.details.write_text(json.dumps({"summary": out, "models": details}, indent=1))
    print(json.dumps(out, indent=2))
    harness_ok = (
        report["reference_pass_at_1"] == 1.0
        and report["error_cases_as_declared"] == 1.0
        and fix_report["fix_cases_as_declared"] == 1.0
        and fix_report["reference_fixes_correct"] == 1.0
        and not fix_report["broken_cells_that_run"]
    )
    sys.exit(0 if harness_ok else 1)


if __name__ == "__main__":
    main()
