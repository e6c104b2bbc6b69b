"""A fix is run before it is offered: in a scratch process, on copies, and it cannot touch the user's
kernel, the user's files, other processes or the network."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from nexus_server_ext.diagnosis.offer import offer_computed_fix, offer_model_fix
from nexus_server_ext.diagnosis.scratch import FixCheck, check_in_process, names_read


def notebook(namespace_code: str) -> dict[str, Any]:
    """A namespace as a notebook leaves it: functions and classes defined in ``__main__``."""
    import linecache

    filename = f"<notebook-{abs(hash(namespace_code))}>"
    linecache.cache[filename] = (len(namespace_code), None, namespace_code.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(namespace_code, filename, "exec"), namespace)
    return namespace


def test_a_fix_that_runs_is_verified_with_copies_of_what_it_reads() -> None:
    prices = {"apple": 1.2, "banana": 0.5}
    check = check_in_process('total = prices["apple"] + prices["banana"]\nprint(total)', {"prices": prices})
    assert check.status == "verified", check
    assert check.copied == ["prices"] and "copies of `prices`" in check.detail
    assert check.render_markdown().startswith("**Checked:** the fixed cell runs without error")


def test_a_fix_that_still_raises_fails_and_says_where() -> None:
    check = check_in_process('x = 1\ntotal = prices["cherry"]', {"prices": {"apple": 1.2}})
    assert check.status == "failed"
    assert (
        check.detail
        == "the fixed cell still raises KeyError: 'cherry' on line 2: `total = prices[\"cherry\"]`."
    )


def test_notebook_functions_classes_modules_and_dataframes_are_copied() -> None:
    namespace = notebook(
        "import math\n"
        "SCALE = 3\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "def scaled(p):\n    return Point(p.x * SCALE)\n"
    )
    namespace["df"] = pd.DataFrame({"Sales": [1, 2, 3]})
    code = "q = scaled(Point(2))\nassert q.x == 6\nassert math.isclose(df['Sales'].sum(), 6)"
    check = check_in_process(code, namespace)
    assert check.status == "verified", check
    assert {"scaled", "Point", "SCALE", "math", "df"} <= set(check.copied)


def test_what_cannot_be_copied_is_named_and_the_fix_is_not_verified() -> None:
    lock = threading.Lock()
    check = check_in_process("with lock:\n    pass", {"lock": lock})
    assert check.status == "unverified"
    assert check.detail.startswith("`lock` could not be copied from the kernel: a lock cannot be copied")


def test_the_users_values_are_copies(tmp_path: Path) -> None:
    items = [1, 2, 3]
    check = check_in_process("items.append(4)\nassert len(items) == 4", {"items": items})
    assert check.verified and items == [1, 2, 3]  # the kernel's list is untouched


def test_it_cannot_write_delete_or_start_anything(tmp_path: Path) -> None:
    target, kept = tmp_path / "written.txt", tmp_path / "kept.txt"
    kept.write_text("the user's data")
    attempts = {
        "write": f"open({str(target)!r}, 'w').write('x')",
        "pandas write": f"import pandas as pd\npd.DataFrame({{'a': [1]}}).to_csv({str(target)!r})",
        "delete": f"import os\nos.remove({str(kept)!r})",
        "process": "import subprocess\nsubprocess.run(['true'])",
        "shell": "import os\nos.system('true')",
    }
    for what, code in attempts.items():
        check = check_in_process(code, {})
        assert check.status == "unverified", (what, check)
        assert check.detail.startswith("it could not be run safely: the check does not"), (what, check)
    assert not target.exists() and kept.read_text() == "the user's data"


def test_it_cannot_use_the_network() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        check = check_in_process(code, {})
    assert check.status == "unverified" and "does not use the network" in check.detail


def test_time_and_memory_are_limited() -> None:
    slow = check_in_process("while True:\n    pass", {}, timeout_s=1.5)
    assert slow.status == "unverified" and slow.detail == "the fixed cell did not finish within 1.5 s."
    big = check_in_process("block = bytearray(3 * 1024**3)", {}, memory_mb=512)
    assert big.status == "unverified" and "512 MB" in big.detail


def test_the_check_has_no_server_secrets(monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    check = check_in_process("import os\nassert 'OPENAI_API_KEY' not in os.environ", {})
    assert check.verified, check
    assert os.environ["OPENAI_API_KEY"] == "sk-secret"


def test_names_read_skips_magics() -> None:
    assert names_read("%matplotlib inline\ny = f(x) + x\nz = y") == ["y", "f", "x", "z"]
    assert names_read("def (") == []


# -- what the user is offered ---------------------------------------------------------------------
VERIFIED = FixCheck("verified", "the fixed cell runs without error in a separate process.")
FAILED = FixCheck("failed", "the fixed cell still raises NameError: name 'np' is not defined on line 1.")


def test_only_a_verified_model_fix_is_offered() -> None:
    answer = "Use the right key:\n\n```python\nprint(d['a'])\n```"
    offered = offer_model_fix(answer, "print(d['a'])\n", VERIFIED, hide_unverified=False)
    assert offered.offered and offered.text.endswith(
        "**Checked:** the fixed cell runs without error in a separate process."
    )
    folded = offer_model_fix(answer, "print(d['a'])\n", FAILED, hide_unverified=False)
    assert not folded.offered and folded.code == ""
    assert folded.text.startswith("**Check failed:** the fixed cell still raises NameError")
    assert "<details><summary>Unverified suggestion (not offered as a fix)</summary>" in folded.text
    hidden = offer_model_fix(answer, "print(d['a'])\n", FAILED, hide_unverified=True)
    assert "print(d['a'])" not in hidden.text and "jupyter nexus models pull" in hidden.text
    prose = offer_model_fix("The key is missing.", "", None, hide_unverified=True)
    assert prose.text == "The key is missing." and not prose.offered


def test_a_computed_fix_that_then_fails_elsewhere_is_folded() -> None:
    offer = offer_computed_fix("Renamed `heigth` to `height`.", "x = height / 0\n", FAILED)
    assert not offer.offered and "<details>" in offer.text and "**Check failed:**" in offer.text
    ok = offer_computed_fix("Renamed `heigth` to `height`.", "x = height\n", VERIFIED)
    assert ok.offered and ok.text.endswith("```python\nx = height\n```")
