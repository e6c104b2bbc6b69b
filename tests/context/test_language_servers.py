"""The AI context asks the real language server of each language: typescript-language-server, clangd and
gopls (installed by `make language-servers`), started through jupyter-lsp's specs; Java and a Rust
without a working rust-analyzer say plainly that there is none."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nexus_server_ext.api_models import ChatContext
from nexus_server_ext.context.lsp import LanguageServers
from nexus_server_ext.context.lsp_specs import RustAnalyzer
from nexus_server_ext.context.manager import ContextManager

NO_SERVER = (
    "No language server for {} is installed (jupyter-lsp found none), so there are no diagnostics "
    "or type facts for this code."
)


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(extensions={"jupyter_lsp": True})


@pytest.fixture
def context(jp_serverapp: Any) -> Iterator[ContextManager]:
    # generous waits: the first request starts the server (typescript-language-server takes seconds)
    servers = LanguageServers(jp_serverapp, timeout_s=60, start_wait_s=60)
    try:
        yield ContextManager(jp_serverapp, None, language_servers=servers)
    finally:
        servers.stop()


async def require(jp_serverapp: Any, key: str, command: str | None = None) -> None:
    """Fail (never skip) when a server is missing: CI runs `make test`, which installs them."""
    manager = jp_serverapp.language_server_manager
    await manager.ready()
    if key in manager.language_servers:
        return
    if command and shutil.which(command) is None:
        pytest.fail(f"{command} is not installed: `make language-servers` installs it")
    if key == "typescript-language-server":
        pytest.fail(
            "jupyter-lsp found no typescript-language-server in the environment's lib/node_modules: "
            "`make language-servers` installs it there"
        )
    pytest.fail(
        f"{command} is installed but jupyter-lsp has no spec for it: NEXUS's jupyter_lsp_spec_v1 entry "
        "points are registered when NEXUS is installed (`make install`)"
    )


def notebook(cells: list[tuple[str, str]], language_info: dict[str, str]) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "id": cid,
                    "cell_type": "code",
                    "source": src,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for cid, src in cells
            ],
            "metadata": {"language_info": language_info},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


async def diagnostics(context: ContextManager, request: ChatContext, server: str) -> str:
    bundle = await context.gather("alice", "why does it not compile", request)
    pieces = {p.label: p.text for p in bundle.pieces if p.kind == "diagnostics"}
    assert f"Diagnostics from {server}" in pieces, pieces
    return pieces[f"Diagnostics from {server}"]


async def test_typescript_type_errors_in_a_file_and_a_notebook(
    context: ContextManager, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    await require(jp_serverapp, "typescript-language-server")
    (jp_root_dir / "shop.ts").write_text(
        'interface Order {\n  total: number;\n}\n\nconst order: Order = { total: "12" };\n'
        "console.log(order.totl);\n"
    )
    found = await diagnostics(
        context, ChatContext(notebook_path="shop.ts", cursor_line=5), "typescript-language-server"
    )
    assert "line 5:24: error: Type 'string' is not assignable to type 'number'. (typescript)" in found
    assert "line 6:19: error: Property 'totl' does not exist on type 'Order'." in found

    # a TypeScript kernel's notebook (tslab, Deno): the cell above is known, the error is in the current cell
    (jp_root_dir / "prices.ipynb").write_text(
        notebook(
            [
                ("a", "const prices: number[] = [1.5, 2];"),
                ("b", "// the total\nconst total: string = prices.length;"),
            ],
            {"name": "typescript", "file_extension": ".ts"},
        )
    )
    found = await diagnostics(
        context, ChatContext(notebook_path="prices.ipynb", cell_id="b"), "typescript-language-server"
    )
    assert found.startswith("line 2:7: error: Type 'number' is not assignable to type 'string'."), found
    assert "prices" not in found  # declared in the cell above


async def test_clangd_reports_an_undeclared_identifier_in_c_and_in_a_cpp_notebook(
    context: ContextManager, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    await require(jp_serverapp, "clangd", "clangd")
    (jp_root_dir / "count.c").write_text(
        '#include <stdio.h>\n\nint main(void) {\n    int count = 3;\n    printf("%d\\n", cuont);\n'
        "    return 0;\n}\n"
    )
    found = await diagnostics(context, ChatContext(notebook_path="count.c"), "clangd")
    assert found.startswith(
        "line 5:20: error: Use of undeclared identifier 'cuont'; did you mean 'count'?"
    ), found
    assert "\n" not in found  # one diagnostic, its note kept out of the message

    # a C++ kernel (xeus-cling says "C++")
    (jp_root_dir / "grid.ipynb").write_text(
        notebook(
            [
                ("a", "#include <vector>\nstd::vector<int> cells(4);"),
                ("b", "int width = cells.size() * scale;"),
            ],
            {"name": "C++", "file_extension": ".cpp"},
        )
    )
    found = await diagnostics(context, ChatContext(notebook_path="grid.ipynb", cell_id="b"), "clangd")
    assert found.startswith("line 1:28: error: Use of undeclared identifier 'scale'"), found


async def test_gopls_reports_an_unused_variable_and_an_undefined_name(
    context: ContextManager, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    await require(jp_serverapp, "gopls", "gopls")
    (jp_root_dir / "go.mod").write_text("module example.com/shop\n\ngo 1.19\n")
    (jp_root_dir / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tunused := 3\n\tfmt.Println(total)\n}\n'
    )
    found = await diagnostics(context, ChatContext(notebook_path="main.go"), "gopls")
    lines = found.splitlines()
    # the go command's wording changed over the years ("undeclared name: total" / "undefined: total")
    assert any(
        re.fullmatch(r"line 7:14: error: (undeclared name|undefined): total \(compiler\)", x) for x in lines
    )
    assert any(x.startswith("line 6:2: error: ") and "unused" in x and "not used" in x for x in lines), found


async def test_java_has_no_server_and_says_so(context: ContextManager, jp_root_dir: Path) -> None:
    (jp_root_dir / "Main.java").write_text("class Main {\n  int x = y;\n}\n")
    bundle = await context.gather("alice", "why", ChatContext(notebook_path="Main.java"))
    assert [p.text for p in bundle.pieces if p.kind == "diagnostics"] == [NO_SERVER.format("java")]


def executable(folder: Path, name: str, exit_code: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_a_rust_analyzer_counts_only_when_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rustup's proxy is on PATH before the component is added, and exits non-zero: no server."""
    proxy = executable(tmp_path / "rustup", "rust-analyzer", 1)
    monkeypatch.setenv("PATH", f"{proxy.parent}{os.pathsep}{os.environ['PATH']}")
    spec = RustAnalyzer()
    assert not spec.is_installed(None)
    working = executable(tmp_path / "toolchain", "rust-analyzer", 0)
    monkeypatch.setenv("PATH", f"{working.parent}{os.pathsep}{os.environ['PATH']}")
    assert spec.is_installed(None)
    found = spec(None)["rust-analyzer"]
    assert (found["argv"], found["languages"]) == ([str(working)], ["rust"])


async def test_rust_with_only_rustups_proxy_says_there_is_no_server(
    jp_serverapp: Any, jp_root_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_lsp import LanguageServerManager

    proxy = executable(tmp_path / "rustup", "rust-analyzer", 1)
    monkeypatch.setenv("PATH", f"{proxy.parent}{os.pathsep}{os.environ['PATH']}")
    manager = LanguageServerManager()
    manager.initialize()  # finds servers with this PATH, NEXUS's spec finders among them
    assert "rust-analyzer" in manager.all_language_servers  # NEXUS's spec is known...
    assert "rust-analyzer" not in manager.language_servers  # ...and the proxy is not taken for a server
    host = SimpleNamespace(language_server_manager=manager, root_dir=str(jp_root_dir))
    servers = LanguageServers(host, timeout_s=10, start_wait_s=10)
    (jp_root_dir / "main.rs").write_text('fn main() {\n    let total: u32 = "3";\n}\n')
    try:
        bundle = await ContextManager(jp_serverapp, None, language_servers=servers).gather(
            "alice", "why", ChatContext(notebook_path="main.rs")
        )
    finally:
        servers.stop()
    assert [p.text for p in bundle.pieces if p.kind == "diagnostics"] == [NO_SERVER.format("rust")]
