"""A module used but not imported gets its import; a misspelt module name is respelt. Each fix is
computed from a real kernel's error (as the server and as the magic read it) and the fixed cell runs."""

from __future__ import annotations

import importlib.util

import pytest

from nexus_server_ext.diagnosis.certain_fixes import certain_fix
from nexus_server_ext.diagnosis.facts import from_traceback_text

from .kernel_cells import KernelCells


@pytest.mark.parametrize(
    ("cell", "fixed", "prints"),
    [
        ("root = math.sqrt(16)\nprint(root)", "import math\nroot = math.sqrt(16)\nprint(root)", "4.0\n"),
        (  # after the leading comment and the imports at the top; the usual short name of numpy
            "# totals\nimport json\n\nprint(json.dumps(np.arange(3).tolist()))",
            "# totals\nimport json\nimport numpy as np\n\nprint(json.dumps(np.arange(3).tolist()))",
            "[0, 1, 2]\n",
        ),
        (
            "df = pd.DataFrame({'a': [1, 2]})\nprint(df['a'].sum())",
            "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\nprint(df['a'].sum())",
            "3\n",
        ),
        (  # inside a function, after a __future__ import
            "from __future__ import annotations\ndef now():\n    return time.time() > 0\nprint(now())",
            "from __future__ import annotations\nimport time\ndef now():\n    return time.time() > 0\n"
            "print(now())",
            "True\n",
        ),
    ],
)
def test_a_module_used_without_its_import_is_imported(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(cell, "NameError", fixed, prints)
    assert "which this kernel can import" in fix.explanation and "added `import " in fix.explanation


@pytest.mark.parametrize(
    "cell",
    [
        "print(nexus_nothing.pi)",  # not a module at all
        "print(math.pi)\nmath = 3",  # the cell assigns the name itself
        "print(json)",  # used as a value, not as a module: maybe a variable was meant
        "print(string.upper('a'))",  # the module string has no upper: not what is meant
        "print(xml.etree.ElementTree.fromstring('<a/>').tag)",  # `import xml` would not give xml.etree
    ],
)
def test_no_import_is_added_when_the_name_is_not_surely_a_module(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "NameError")


def test_pythons_own_forgot_to_import_hint_is_enough() -> None:
    """Python 3.12 says "Did you forget to import 'json'?" for a module used as a value."""
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/tmp/ipykernel_1/2.py", line 1, in <module>\n'
        "    print(json)\n"
        "NameError: name 'json' is not defined. Did you forget to import 'json'?\n"
    )
    facts = from_traceback_text(traceback)
    assert facts is not None
    fix = certain_fix(facts, "print(json)")
    assert fix is not None and fix.code == "import json\nprint(json)"
    facts.message = "name 'json' is not defined"  # Python 3.11 gives no hint: not sure
    assert certain_fix(facts, "print(json)") is None


@pytest.mark.parametrize(
    ("cell", "fixed", "prints"),
    [
        (
            "import numpyy as np\nprint(np.zeros(2).sum())",
            "import numpy as np\nprint(np.zeros(2).sum())",
            "0.0\n",
        ),
        (
            "from pandaz import DataFrame\nprint(len(DataFrame({'a': [1, 2]})))",
            "from pandas import DataFrame\nprint(len(DataFrame({'a': [1, 2]})))",
            "2\n",
        ),
        (  # the name the import binds is respelt where the cell uses it, not in strings
            "import Json\nprint(Json.dumps(['Json']))",
            "import json\nprint(json.dumps(['Json']))",
            '["Json"]\n',
        ),
    ],
)
def test_a_misspelt_module_is_respelt_in_the_import(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(cell, "ModuleNotFoundError", fixed, prints)
    assert "renamed `" in fix.explanation and "is installed and" in fix.explanation


def test_a_real_package_that_is_not_installed_is_not_respelt(real_kernel: KernelCells) -> None:
    # each is a near-miss of an installed module (geopandas of pandas, xarray of array)
    missing = next(m for m in ("geopandas", "xarray", "pyarrow") if importlib.util.find_spec(m) is None)
    real_kernel.no_fix(f"import {missing}", "ModuleNotFoundError")
    real_kernel.no_fix("import qwertyuiop_module", "ModuleNotFoundError")  # near nothing
