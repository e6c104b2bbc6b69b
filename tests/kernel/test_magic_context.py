"""Prompt context without a model: interpolation, the last exception, server discovery, voice commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nexus_kernel.context import InterpolationError, interpolate, last_error
from nexus_kernel.discovery import choose_transport, discover_server
from nexus_kernel.transport import TransportError


def test_interpolation_inserts_values_and_keeps_escaped_braces() -> None:
    class Frame:
        shape = (3, 2)

    ns = {"name": "pandas", "n": 3, "df": Frame(), "big": "x" * 5000}
    assert interpolate("use {name} for {n} rows of {df.shape}", ns) == "use pandas for 3 rows of (3, 2)"
    assert interpolate("a dict {{'k': 1}}", ns) == "a dict {'k': 1}"
    assert len(interpolate("{big}", ns)) == 5000  # strings go in whole; only reprs are cut
    assert len(interpolate("{items}", {"items": list(range(5000))})) <= 2000
    with pytest.raises(InterpolationError, match=r"\{missing\} is not defined"):
        interpolate("what is {missing}", ns)
    with pytest.raises(InterpolationError, match="has no attribute 'nope'"):
        interpolate("{df.nope}", ns)


def test_last_error_names_the_failing_line_and_its_variables() -> None:
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_cell("rows = [1, 2]\nlimit = 0\nratio = len(rows) / limit\n")
    report = last_error()
    assert report is not None and report.summary == "ZeroDivisionError: division by zero"
    facts = report.facts
    assert facts.line == "ratio = len(rows) / limit" and facts.lineno == 3
    assert {v.name: v.value for v in facts.variables} == {"rows": "[1, 2]", "limit": "0"}
    assert facts.cause == "the divisor `limit` is 0"
    context = report.as_context()
    assert "limit = 0" in context["code"]
    assert context["error"].startswith("Facts about the error")  # the facts lead, the traceback follows
    assert "- Failing line 3 of the cell: ratio = len(rows) / limit" in context["error"]
    assert "Traceback (most recent call last)" in context["error"]
    assert "interactiveshell.py" not in context["error"]  # IPython's own frames are left out


def test_discovery_finds_the_parent_server_file_and_prefers_explicit_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEXUS_SERVER_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    assert discover_server() is None
    info = {"url": "http://127.0.0.1:9/lab-base", "token": "t0k", "pid": os.getppid()}
    (tmp_path / f"jpserver-{os.getppid()}.json").write_text(json.dumps(info))
    found = discover_server()
    assert found is not None and found.url == "http://127.0.0.1:9/lab-base/" and found.token == "t0k"
    monkeypatch.setenv("NEXUS_SERVER_URL", "http://hub.example/user/ada")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    found = discover_server()
    assert found is not None and found.url == "http://hub.example/user/ada/" and found.token == "hub-token"
    # a named server that is not reachable: "server" mode says so, "auto" would run in-process
    monkeypatch.setenv("NEXUS_SERVER_URL", "http://127.0.0.1:9/")
    transport = choose_transport("server")
    with pytest.raises(TransportError, match="cannot reach the NEXUS server"):
        transport.status()
    with pytest.raises(TransportError, match="NEXUS_TRANSPORT must be"):
        choose_transport("carrier-pigeon")


def test_voice_commands_tolerate_mishearing() -> None:
    from nexus_widgets.voice import match_command

    assert match_command("Run this cell.")["name"] == "run-cell"
    assert match_command("run sell")["name"] == "run-cell"
    assert match_command("Save the notebook!")["name"] == "save"
    assert match_command("what a lovely day") == {}
