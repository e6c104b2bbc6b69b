"""Certain fixes of imports: a module used but not imported, a module name misspelt.

``math.sqrt(2)`` with no ``import math`` raises NameError for a name that is a module this kernel
can import (or the usual short name of one: ``np`` for numpy): the import is added at the top of
the cell, after its leading comments, magics and imports. ``import numpyy`` raises
ModuleNotFoundError for a near-miss of an installed module: the name is respelt. A module that is
simply not installed is left alone (the cause says how to install it).

Whether a module can be imported is judged in this process without importing it
(``importlib.util.find_spec`` of the top-level name): for ``%nexus fix`` this process is the
kernel; the server normally runs on the kernel's environment (where it does not, the fix is
still checked by running it before it is offered).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import io
import pkgutil
import re
import sys
import tokenize
from types import ModuleType
from typing import TYPE_CHECKING

from .causes import _PIP_NAMES, _POPULAR_MODULES
from .cell_edits import UNCHANGED, Cell, CertainFix, python_only, where
from .fixes_names import assigns

if TYPE_CHECKING:
    from .facts import ErrorFacts

_MISSING = re.compile(r"name '(\w+)' is not defined")
_FORGOT = re.compile(r"Did you forget to import '(\w+)'")  # Python 3.12's hint
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")

# the short names the libraries' own documentation imports them as
ALIASES = {
    "np": "numpy",
    "pd": "pandas",
    "plt": "matplotlib.pyplot",
    "mpl": "matplotlib",
    "sns": "seaborn",
    "tf": "tensorflow",
    "px": "plotly.express",
    "go": "plotly.graph_objects",
    "nx": "networkx",
    "pl": "polars",
    "sm": "statsmodels.api",
    "xr": "xarray",
    "gpd": "geopandas",
    "dd": "dask.dataframe",
}
# modules no one means by a bare name: a NameError for these is a missing variable
_NOT_MEANT = {"this", "antigravity", "test", "tests", "site", "main", "idlelib", "code", "token", "array"}
# packages people import that may simply not be installed: never "respelt" into something else
_WELL_KNOWN = {
    *_POPULAR_MODULES,
    *_PIP_NAMES,
    *(m.split(".")[0] for m in ALIASES.values()),
    "sympy",
    "statsmodels",
    "plotly",
    "bokeh",
    "altair",
    "torchvision",
    "torchaudio",
    "keras",
    "jax",
    "transformers",
    "datasets",
    "nltk",
    "spacy",
    "gensim",
    "xgboost",
    "lightgbm",
    "catboost",
    "numba",
    "dask",
    "pyarrow",
    "openpyxl",
    "xlrd",
    "sqlalchemy",
    "flask",
    "django",
    "fastapi",
    "pydantic",
    "tqdm",
    "joblib",
    "h5py",
    "tables",
    "pytz",
    "boto3",
    "ipywidgets",
    "rich",
    "click",
    "toml",
    "tomli",
    "orjson",
    "regex",
    "shapely",
    "geopandas",
    "folium",
    "pymongo",
    "psycopg2",
    "redis",
    "selenium",
    "scrapy",
    "streamlit",
    "dash",
    "gradio",
    "openai",
    "anthropic",
    "langchain",
    "tiktoken",
    "onnx",
    "onnxruntime",
    "cupy",
    "pyspark",
    "wordcloud",
    "faker",
    "httpx",
    "aiohttp",
    "lxml",
}


def importable(module: str) -> bool:
    """Whether ``module``'s top-level package can be imported here, found without importing it."""
    top = module.split(".")[0]
    if top in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def missing_import(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``import math`` added at the top of a cell that uses ``math.sqrt`` without importing it.

    Only for a name the cell uses as a module (``name.attribute``), or that Python itself says was
    not imported, and that the cell does not assign."""
    missing = _MISSING.search(facts.message)
    cell = Cell.parse(code)
    if not missing or cell is None:
        return None
    name = missing.group(1)
    module = ALIASES.get(name, name)
    if name.startswith("_") or name in _NOT_MEANT or assigns(cell.tree, name) or not importable(module):
        return None
    used = {
        node.attr
        for node in ast.walk(cell.tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name
    }
    forgot = _FORGOT.search(facts.message)
    if not used and not (forgot and forgot.group(1) == name):
        return None
    if not _has_attributes(module, used, alias=name != module):
        return None
    statement = f"import {module}" if module == name else f"import {module} as {name}"
    row = _import_row(cell)
    what = f"the module `{name}`" if module == name else f"the usual name for the module `{module}`"
    explanation = (
        f"`{name}` is not defined; it is {what}, which this kernel can import, and the cell uses it "
        f"without importing it: added `{statement}` at line {row} of the cell. {UNCHANGED}"
    )
    return CertainFix(cell.inserted(row, statement), explanation)


def _has_attributes(module: str, attributes: set[str], *, alias: bool) -> bool:
    """Whether ``import module`` gives ``module.attribute`` for each of ``attributes``, as far as can be
    told without importing it: a loaded module is asked, else its source is read. A package's
    submodule (``xml.etree``) counts only when the package imports it itself. A well-known library
    under its usual short name is taken as it is documented."""
    if alias:
        return True
    loaded = sys.modules.get(module)
    if loaded is None:
        names = _defined_names(module)
        return names is None or attributes <= names
    for attribute in attributes:
        value = getattr(loaded, attribute, None)
        if value is None:
            return False
        if isinstance(value, ModuleType) and value.__name__ == f"{module}.{attribute}":
            # a submodule this process imported: the package itself may not import it
            names = _defined_names(module)
            if names is None or attribute not in names:
                return False
    return True


def _defined_names(module: str) -> set[str] | None:
    """The names a module's source defines at its top level; None when that cannot be told (compiled
    code, ``from x import *``, a module ``__getattr__``)."""
    try:
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec else None
        if not origin or not origin.endswith(".py"):
            return None
        with open(origin, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (ImportError, ValueError, OSError, SyntaxError):
        return None
    names: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.alias):
            if node.name == "*":
                return None
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return None if "__getattr__" in names else names


def _import_row(cell: Cell) -> int:
    """The line an import goes before: after the cell's leading docstring and imports, else before
    its first statement (leading comments and magics stay first)."""
    body = cell.tree.body
    row = body[0].lineno if body else len(cell.lines) + 1
    for index, node in enumerate(body):
        docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if not (docstring or isinstance(node, (ast.Import, ast.ImportFrom))):
            return min(row, node.lineno)  # ``import os; x = math.pi``: before the whole line
        row = (node.end_lineno or node.lineno) + 1
    return row


def installed_modules() -> set[str]:
    """Top-level modules this environment can import: the standard library's and those on sys.path."""
    found = {*sys.stdlib_module_names, *sys.builtin_module_names}
    found.update(m.name for m in pkgutil.iter_modules())
    return {m for m in found if not m.startswith("_")}


def closest_module(name: str, modules: set[str]) -> str | None:
    """The installed module ``name`` is surely a misspelling of: the same but for case, or the one
    clearly nearest (not when two are about as near)."""
    same = [m for m in modules if m.lower() == name.lower()]
    if same:
        return same[0] if len(same) == 1 else None
    close = difflib.get_close_matches(name, modules, n=2, cutoff=0.8)
    ratios = [difflib.SequenceMatcher(None, name, m).ratio() for m in close]
    if not close or (len(close) > 1 and ratios[0] - ratios[1] < 0.05):
        return None
    return close[0]


def respelt_module(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``import numpyy`` -> ``import numpy`` on the failing line, when the name is a near-miss of an
    installed module and not itself a known package that is not installed."""
    found = _NO_MODULE.search(facts.message)
    cell = Cell.parse(code)
    row = cell.failing_row(facts) if cell else None
    if not found or cell is None or row is None:
        return None
    top = found.group(1).split(".")[0]
    if len(top) < 3 or top in _WELL_KNOWN or importable(top):
        return None
    statements = [n for n in ast.walk(cell.tree) if getattr(n, "lineno", None) == row and _imports(n, top)]
    if len(statements) != 1:
        return None  # the module is imported elsewhere (inside a library, or not on this line)
    replacement = closest_module(top, installed_modules())
    if replacement is None:
        return None
    statement = statements[0]
    places = [
        (row, c) for c in _module_columns(cell.lines[row - 1], top, isinstance(statement, ast.ImportFrom))
    ]
    uses: list[tuple[int, int]] = []
    if isinstance(statement, ast.Import) and any(
        a.name.split(".")[0] == top and not a.asname for a in statement.names
    ):
        found_uses = _name_uses(python_only(code), top)  # ``import numpyy`` binds numpyy: respell its uses
        if found_uses is None:
            return None
        uses = [(r, c) for r, c in found_uses if r != row]
    if not places:
        return None
    lines = list(cell.lines)
    for r, column in sorted(places + uses, reverse=True):  # right to left: earlier columns stay valid
        lines[r - 1] = lines[r - 1][:column] + replacement + lines[r - 1][column + len(top) :]
    how = "differs only in case" if top.lower() == replacement.lower() else "is the nearest name"
    also = f", and where the cell uses it ({where(r for r, _ in uses)})" if uses else ""
    explanation = (
        f"There is no module `{top}`, and `{replacement}` is installed and {how}: renamed `{top}` to "
        f"`{replacement}` in the import on line {row} of the cell{also}. {UNCHANGED}"
    )
    return CertainFix("".join(lines), explanation)


def _name_uses(code: str, name: str) -> list[tuple[int, int]] | None:
    """Where ``code`` uses ``name`` as a Python name (not an attribute, a string or a comment)."""
    found: list[tuple[int, int]] = []
    before = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.NAME and token.string == name and before != ".":
                found.append(token.start)
            if token.type in (tokenize.NAME, tokenize.OP):
                before = token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return found


def _imports(node: ast.AST, top: str) -> bool:
    """Whether ``node`` is an import of the module ``top`` (or of one of its submodules)."""
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == top for a in node.names)
    return isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == top


def _module_columns(line: str, top: str, from_import: bool) -> list[int]:
    """Where on ``line`` the import names the module ``top``: right after ``from``, or after
    ``import`` or a comma in ``import a, b`` (not an ``as`` name, not an imported attribute)."""
    columns: list[int] = []
    before = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.NAME and token.string == top:
                after = ("from",) if from_import else ("import", ",")
                if before in after:
                    columns.append(token.start[1])
            if token.type in (tokenize.NAME, tokenize.OP):
                before = token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # ``from x import (``: the tokens up to the open bracket are enough
    return columns
