"""A real kernel per test module, for the certain fixes (``kernel_cells``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .kernel_cells import KernelCells


@pytest.fixture(scope="module")
def real_kernel() -> Iterator[KernelCells]:
    cells = KernelCells()
    yield cells
    cells.close()
