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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one line on the fault suite (tests marked ``fault``): faults tried and survived."""
    outcomes = [
        report.outcome
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call" and "fault" in getattr(report, "keywords", {})
    ]
    if outcomes:
        survived = outcomes.count("passed")
        terminalreporter.write_line(
            f"fault suite: {len(outcomes)} faults tried, {survived} survived"
            + ("" if survived == len(outcomes) else f", {len(outcomes) - survived} NOT survived")
        )
