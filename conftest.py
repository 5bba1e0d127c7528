"""Pytest set-up shared by the unit tests and the notebook runs (nbval).

Notebooks run in smoke mode unless BOOTCAMP_MODE is set, and each notebook's kernel is told its own
name (BOOTCAMP_NOTEBOOK) so that ``common.results.record`` writes to the right file.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("BOOTCAMP_MODE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Name the notebook before nbval starts its kernel (the kernel inherits this environment)."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        os.environ["BOOTCAMP_NOTEBOOK"] = path.stem
