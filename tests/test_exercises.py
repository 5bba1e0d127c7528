"""The %%exercise cell magic: Run All skips exercise cells unless RUN_EXERCISES."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from common import exercises
from tests.conftest import REPO_ROOT

SETUP = "from common import exercises\n\nRUN_EXERCISES = exercises.setup()"
EXERCISE_CELLS = [
    "%%exercise\ndef double(x):\n    return 2 * x\n\n\ndouble(21)",
    "%%exercise\nanswer = double(5)\nanswer;",
    "print(f'defined: {\"double\" in globals()}')",
]


def run_cells(sources: list[str], env_value: str, monkeypatch: pytest.MonkeyPatch):
    """Execute the cells in a fresh python3 kernel with $BOOTCAMP_EXERCISES=env_value."""
    monkeypatch.setenv(exercises.EXERCISES_ENV, env_value)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(REPO_ROOT)}},
    ).execute()
    return notebook.cells


def output_text(cell) -> str:
    """Everything a cell printed or displayed, as text."""
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_run_in_namespace_returns_the_last_expression_unless_a_semicolon_hides_it():
    namespace: dict = {}
    assert exercises.run_in_namespace("x = 3\nx * 2", namespace) == 6
    assert namespace["x"] == 3
    assert exercises.run_in_namespace("x + 1;", namespace) is None
    assert exercises.run_in_namespace("y = x", namespace) is None and namespace["y"] == 3


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True),
                                             ("true", True), ("off", False)])
def test_the_flag_follows_the_environment(value, expected, monkeypatch):
    monkeypatch.setenv(exercises.EXERCISES_ENV, value)
    assert exercises.from_env() is expected


def test_a_misspelt_flag_is_an_error_not_a_silent_skip(monkeypatch):
    monkeypatch.setenv(exercises.EXERCISES_ENV, "sometimes")
    with pytest.raises(ValueError, match="BOOTCAMP_EXERCISES"):
        exercises.from_env()


@pytest.mark.notebook
def test_run_all_skips_the_exercises_and_says_how_to_run_them(monkeypatch):
    cells = run_cells([SETUP, *EXERCISE_CELLS], "0", monkeypatch)
    assert exercises.SKIPPED_MESSAGE in output_text(cells[1])
    assert exercises.SKIPPED_MESSAGE in output_text(cells[2])
    assert "defined: False" in output_text(cells[3])


@pytest.mark.notebook
def test_with_the_flag_on_an_exercise_runs_like_a_cell(monkeypatch):
    cells = run_cells([SETUP, *EXERCISE_CELLS], "1", monkeypatch)
    assert output_text(cells[1]).strip() == "42"  # the last expression is displayed
    assert output_text(cells[2]).strip() == ""  # ... unless a semicolon hides it
    assert "defined: True" in output_text(cells[3])


@pytest.mark.notebook
def test_the_learner_can_switch_the_exercises_on_in_the_notebook(monkeypatch):
    cells = run_cells([SETUP, "RUN_EXERCISES = True", EXERCISE_CELLS[0]], "0", monkeypatch)
    assert output_text(cells[2]).strip() == "42"


@pytest.mark.notebook
def test_an_error_in_an_exercise_fails_the_cell_and_shows_its_line(monkeypatch):
    with pytest.raises(CellExecutionError) as error:
        run_cells([SETUP, "%%exercise\nvalue = 1\nvalue / 0"], "1", monkeypatch)
    assert "ZeroDivisionError" in str(error.value)
    assert "value / 0" in re.sub(r"\x1b\[[0-9;]*m", "", str(error.value))
