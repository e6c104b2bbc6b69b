"""``jupyter nexus``: NEXUS on the command line (``jupyter-nexus``; ``python -m nexus_server_ext.cli``).

    jupyter nexus models list                       # the catalogue, what is pulled, what is in use
    jupyter nexus models pull qwen2.5-coder-1.5b    # download (resumable, verified) and use it
    jupyter nexus models use bundled                # back to the model that ships with NEXUS
    jupyter nexus models remove qwen2.5-coder-1.5b

The data dir is the server's: ``--data-dir``, else ``NexusApp.data_dir`` from the
Jupyter config files, else ``NEXUS_DATA_DIR``, else ``<jupyter data dir>/nexus``.
A pull reports its progress on stderr (``--json``: one JSON object per line on
stdout, which is how the model dashboard's server runs it); the Hub is
``HF_ENDPOINT`` when set.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .ai.model_catalog import BUNDLED, BUNDLED_SIZE_BYTES, BUNDLED_SOURCE, BUNDLED_WHY, CATALOG, UnknownModel
from .ai.model_catalog import find_model as find_catalog_model
from .ai.model_pull import PullError, partial_bytes, pull, pulled_model, remove_pulled
from .ai.user_routing import (
    active_model,
    default_data_dir,
    use_bundled,
    user_routing_file,
    write_user_routing,
)
from .errors import format_size

TASKS_SWITCHED = "chat, code generation, code analysis, completion and the agent"


class CommandError(Exception):
    """A command that cannot do what was asked; the message is printed as is (exit status 1)."""


def server_settings() -> dict[str, str]:
    """``NexusApp.data_dir`` and ``routing_file`` as the Jupyter config files set them (empty when not)."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Application

    reader = Application()
    try:
        reader.load_config_file("jupyter_server_config", path=[*jupyter_config_path(), os.getcwd()])
    except Exception:  # a broken config file is the server's to report
        return {}
    section = reader.config.get("NexusApp", {})
    return {key: str(section[key]) for key in ("data_dir", "routing_file") if section.get(key)}


def routing_override(settings: dict[str, str], data_dir: str) -> str:
    """The routing file a server would use instead of the user routing file, or ""."""
    chosen = os.environ.get("NEXUS_ROUTING_FILE") or settings.get("routing_file", "")
    if chosen and Path(chosen).expanduser().resolve() != user_routing_file(data_dir).resolve():
        return chosen
    return ""


# -- progress --------------------------------------------------------------------------------------
def _percent(done: int, total: int) -> int:
    return 100 * done // max(total, 1)


class ProgressPrinter:
    """Progress for people: one updating line on a terminal, a line per 10% otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.step = -1

    def __call__(self, phase: str, done: int, total: int) -> None:
        out = self.stream
        if phase == "start":
            if done:
                print(f"Resuming at {_percent(done, total)}% ({format_size(done)} already here)", file=out)
            else:
                print(f"Downloading {format_size(total)}", file=out)
            self.step = _percent(done, total) // 10
        elif phase == "download":
            line = f"  {_percent(done, total):3d}%  {format_size(done)} of {format_size(total)}"
            if self.tty:
                print(f"\r{line}", end="", file=out)
            elif _percent(done, total) // 10 > self.step:
                self.step = _percent(done, total) // 10
                print(line, file=out)
        elif phase == "verify":
            print(
                "\nChecking the SHA-256 checksum" if self.tty else "Checking the SHA-256 checksum", file=out
            )
        out.flush()


def json_progress(stream: TextIO) -> Callable[[str, int, int], None]:
    def report(phase: str, done: int, total: int) -> None:
        print(json.dumps({"event": phase, "done": done, "total": total}), file=stream, flush=True)

    return report


# -- the models commands ---------------------------------------------------------------------------
def _stop_on_sigterm() -> None:
    """SIGTERM (the dashboard's Cancel) ends a pull like Ctrl-C: the partial file is kept for a resume."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_list(args: argparse.Namespace) -> int:
    active = active_model(args.data_dir)
    rows = [("bundled", format_size(BUNDLED_SIZE_BYTES), "any machine, offline", "ships with NEXUS")]
    for model in CATALOG:
        pulled = pulled_model(args.data_dir, model.name)
        partial = partial_bytes(args.data_dir, model)
        state = (
            "pulled"
            if pulled
            else f"{_percent(partial, model.size_bytes)}% pulled (pull resumes)"
            if partial
            else "not pulled"
        )
        size = format_size(pulled.size if pulled else model.size_bytes)
        rows.append((model.name, size, model.hardware, state))
    print(f"Models for NEXUS's {TASKS_SWITCHED} (* = in use)\n")
    print(f"    {'NAME':<20} {'SIZE':<9} {'FITS':<40} STATE")
    for name, size, fits, state in rows:
        mark = "*" if name == active.name else " "
        print(f"  {mark} {name:<20} {size:<9} {fits:<40} {state}")
    print("\nWhy:")
    reasons = [(BUNDLED, BUNDLED_WHY)]
    reasons += [(m.name, f"{m.why} {m.license}, {m.hub_url}") for m in CATALOG]
    for name, why in reasons:
        print(textwrap.fill(why, 100, initial_indent=f"  {name:<20} ", subsequent_indent=" " * 23))
    print(f"\nData dir: {args.data_dir}")
    print("Pull one:  jupyter nexus models pull qwen2.5-coder-1.5b")
    _warn_override(args)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    model = find_catalog_model(args.name)
    _stop_on_sigterm()
    if args.json:
        progress = json_progress(sys.stdout)
    else:
        print(f"Pulling {model.name}: {model.title} from {model.repo_id} ({model.license})", file=sys.stderr)
        progress = ProgressPrinter(sys.stderr)
    try:
        pulled = pull(model, args.data_dir, progress=progress)
    except KeyboardInterrupt:
        raise CommandError(
            f"stopped; {format_size(partial_bytes(args.data_dir, model))} kept: "
            f"`jupyter nexus models pull {model.name}` resumes from there"
        ) from None
    if args.json:
        event = {"event": "pulled", "path": str(pulled.path), "sha256": pulled.sha256, "size": pulled.size}
        print(json.dumps(event), flush=True)
    else:
        print(f"Pulled {model.name} ({format_size(pulled.size)}, SHA-256 verified)")
        print(f"  file: {pulled.path}")
    if args.no_use:
        if not args.json:
            print(f"Use it: jupyter nexus models use {model.name}")
        return 0
    return _use_pulled(args, model.name)


def _use_pulled(args: argparse.Namespace, name: str) -> int:
    pulled = pulled_model(args.data_dir, name)
    if pulled is None:
        raise CommandError(f"{name} is not pulled yet: jupyter nexus models pull {name}")
    path = write_user_routing(args.data_dir, pulled)
    if args.json:
        print(json.dumps({"event": "used", "name": name, "routing_file": str(path)}), flush=True)
        return 0
    print(f"NEXUS now routes {TASKS_SWITCHED} to {name}")
    print(f"  routing file: {path}")
    print("  A running Jupyter server switches when restarted (or at once with Use in the model dashboard).")
    print("Back to the bundled model: jupyter nexus models use bundled")
    if "gateway" in find_catalog_model(name).hardware:
        print(f"On the team's model gateway: python -m nexus_server_ext.gateway --routing-file {path}")
    _warn_override(args)
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    if args.name.strip().lower() != BUNDLED:
        return _use_pulled(args, find_catalog_model(args.name).name)
    if use_bundled(args.data_dir):
        print(f"NEXUS now uses the bundled model ({BUNDLED_SOURCE}) again")
        print("  A running Jupyter server switches when restarted.")
    else:
        print(f"NEXUS already uses the bundled model ({BUNDLED_SOURCE})")
    _warn_override(args)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    model = find_catalog_model(args.name)
    if active_model(args.data_dir).name == model.name:
        raise CommandError(
            f"{model.name} is in use: first `jupyter nexus models use bundled` (or another model)"
        )
    pulled = pulled_model(args.data_dir, model.name)
    freed = (pulled.size if pulled else 0) + partial_bytes(args.data_dir, model)
    if not remove_pulled(args.data_dir, model.name):
        print(f"{model.name} is not pulled; nothing to remove")
        return 0
    print(f"Removed {model.name} (freed {format_size(freed)})")
    return 0


def _warn_override(args: argparse.Namespace) -> None:
    if args.override:
        print(
            f"Note: this server's routing file is set to {args.override} (NexusApp.routing_file or "
            "NEXUS_ROUTING_FILE), which wins over the one `jupyter nexus models` writes: set the local "
            "provider's model there.",
            file=sys.stderr,
        )


# -- the command line ------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="jupyter nexus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument("--data-dir", default="", help="NEXUS's data dir (default: the server's)")
    groups = top.add_subparsers(dest="group", required=True, metavar="{models}")
    models = groups.add_parser("models", help="pull, list and switch the local model")
    commands = models.add_subparsers(dest="command", required=True, metavar="{list,pull,use,remove}")
    commands.add_parser(
        "list", help="the catalogue: which model fits which hardware, what is pulled and used"
    )
    pull_cmd = commands.add_parser("pull", help="download a model (resumable, SHA-256 verified) and use it")
    pull_cmd.add_argument("name", help=", ".join(m.name for m in CATALOG))
    pull_cmd.add_argument("--no-use", action="store_true", help="download only; keep the current model")
    pull_cmd.add_argument("--json", action="store_true", help="progress as JSON lines on stdout")
    use_cmd = commands.add_parser("use", help="route chat, generation and completion to a pulled model")
    use_cmd.add_argument("name", help=f"a pulled model, or {BUNDLED}")
    use_cmd.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    remove_cmd = commands.add_parser("remove", help="delete a pulled model that is not in use")
    remove_cmd.add_argument("name")
    return top


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list,
    "pull": cmd_pull,
    "use": cmd_use,
    "remove": cmd_remove,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    settings = {} if args.json else server_settings()  # --json: the server runs it, and decides itself
    args.data_dir = str(Path(args.data_dir or settings.get("data_dir") or default_data_dir()).expanduser())
    args.override = routing_override(settings, args.data_dir)
    try:
        return COMMANDS[args.command](args)
    except (CommandError, UnknownModel, PullError) as exc:
        message = str(exc)
        if args.json:
            print(json.dumps({"event": "error", "message": message}), flush=True)
        print(f"jupyter nexus: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
