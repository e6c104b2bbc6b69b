"""jupyter-lsp spec finders for the language servers it does not know: clangd, gopls, rust-analyzer.

jupyter-lsp finds language servers through spec finders registered as
``jupyter_lsp_spec_v1`` entry points (``pyproject.toml``); with these, the
servers it starts, for the browser and for NEXUS's context (``lsp.py``), include
C/C++ (clangd), Go (gopls) and Rust (rust-analyzer) wherever the binary is
installed and runs. TypeScript/JavaScript need nothing here: jupyter-lsp's own
spec finds typescript-language-server in the environment's ``lib/node_modules``,
where ``make language-servers`` installs it (with clangd and gopls).

A binary counts as installed only when it answers ``--version`` (or its own
version command): rustup puts a ``rust-analyzer`` proxy on ``PATH`` that fails
until the component is added, and such a server would never start.

Imported by jupyter-lsp while it looks for servers (on a thread at start-up),
never when NEXUS's extension is imported.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from typing import Any

from jupyter_lsp.specs.utils import ShellSpec

CHECK_TIMEOUT_S = 10.0


@lru_cache(maxsize=32)
def runs(executable: str, *args: str) -> bool:
    """Whether ``executable args`` exits 0 (a real server, not a proxy without its toolchain)."""
    try:
        subprocess.run(
            [executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=CHECK_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


class RunningShellSpec(ShellSpec):
    """A server on ``PATH`` that is installed only if it runs (and the tools it needs are there)."""

    check_args: list[str] = ["--version"]
    needs: list[str] = []  # other commands it runs (gopls runs `go`)

    def solve(self) -> str | None:
        command = shutil.which(self.cmd)
        if command is None or not all(shutil.which(tool) for tool in self.needs):
            return None
        return command if runs(command, *self.check_args) else None

    def is_installed(self, mgr: Any) -> bool:
        return self.solve() is not None


class Clangd(RunningShellSpec):
    cmd = key = "clangd"
    args = ["--log=error"]  # its info log would fill the server's
    languages = ["c", "cpp", "objective-c", "objective-cpp"]
    spec = dict(
        display_name="clangd",
        mime_types=["text/x-csrc", "text/x-c++src", "text/x-objectivec"],
        urls=dict(home="https://clangd.llvm.org/", issues="https://github.com/clangd/clangd/issues"),
        install=dict(apt="apt-get install clangd", make="make language-servers"),
        troubleshoot="NEXUS's `make language-servers` installs Debian's clangd.",
    )


class Gopls(RunningShellSpec):
    cmd = key = "gopls"
    check_args = ["version"]
    needs = ["go"]
    languages = ["go"]
    spec = dict(
        display_name="gopls",
        mime_types=["text/x-go"],
        urls=dict(
            home="https://pkg.go.dev/golang.org/x/tools/gopls",
            issues="https://github.com/golang/go/issues",
        ),
        install=dict(apt="apt-get install gopls golang-go", make="make language-servers"),
        troubleshoot="gopls runs the go command, so both must be on PATH; NEXUS's "
        "`make language-servers` installs Debian's gopls and golang-go.",
    )


class RustAnalyzer(RunningShellSpec):
    cmd = key = "rust-analyzer"
    languages = ["rust"]
    spec = dict(
        display_name="rust-analyzer",
        mime_types=["text/rust", "text/x-rustsrc"],
        urls=dict(
            home="https://rust-analyzer.github.io/",
            issues="https://github.com/rust-lang/rust-analyzer/issues",
        ),
        install=dict(rustup="rustup component add rust-analyzer"),
        troubleshoot="rustup's rust-analyzer proxy fails until `rustup component add rust-analyzer`; "
        "a server counts as installed only when `rust-analyzer --version` runs.",
    )


clangd = Clangd()
gopls = Gopls()
rust_analyzer = RustAnalyzer()
