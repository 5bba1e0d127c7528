"""One source for the time each lesson takes: its notebook's metadata (``bootcamp.minutes``).

Start_Here's agenda, each lab README, the README's lab table and the notebook's own Time line
must all say what the metadata says.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LABS = {  # README lab table row -> the notebooks it covers
    "Intro to deep learning": ("intro_to_dl", ("01", "02", "03", "04")),
    "Lab 1: CNNs and Keras": ("intro_to_dl", ("05", "06", "07", "08")),
    "Lab 2: Tropical cyclones": ("tropical_cyclone", None),
    "Lab 3: CFD steady flow": ("cfd_steady_flow", None),
    "Lab 4: Physics-informed networks": ("pinn", None),
}
LAB_FOLDERS = sorted({folder for folder, _ in LABS.values()})
LESSONS = sorted(
    path for folder in LAB_FOLDERS for path in (REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb")
)


def minutes(path: Path) -> tuple[int, int]:
    """(GPU, CPU) minutes from a notebook's metadata."""
    metadata = json.loads(path.read_text())["metadata"]
    assert "bootcamp" in metadata, f"{path.name}: no metadata.bootcamp.minutes"
    times = metadata["bootcamp"]["minutes"]
    return times["gpu"], times["cpu"]


def lab_notebooks(folder: str, numbers: tuple[str, ...] | None) -> list[Path]:
    """The notebooks of one row of the README's lab table."""
    return [
        path for path in LESSONS
        if path.parent.name == folder and (numbers is None or path.name[:2] in numbers)
    ]


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path in paths]


def _table_row(text: str, link: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith("|") and f"]({link})" in line]
    assert len(rows) == 1, f"expected one table row linking {link}, found {len(rows)}"
    return rows[0]


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_the_notebook_states_the_time_its_metadata_holds(path):
    gpu, cpu = minutes(path)
    assert 0 < gpu <= cpu <= 120, f"{path.name}: {gpu} min on a GPU, {cpu} on a CPU"
    first_cell = json.loads(path.read_text())["cells"][0]
    text = " ".join("".join(first_cell["source"]).split())
    expected = f"**Time:** about {cpu} min on a laptop CPU, {gpu} min with a GPU"
    assert expected in text, f"{path.name}'s first cell should say: {expected}"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_start_here_and_the_lab_readme_agree_with_the_notebook(path):
    gpu, cpu = minutes(path)
    start_here = "".join(
        "".join(cell["source"])
        for cell in json.loads((REPO_ROOT / "Start_Here.ipynb").read_text())["cells"]
    )
    link = f"{path.parent.name}/{path.name}"
    assert f"| {gpu} / {cpu} min |" in _table_row(start_here, link), "Start_Here's agenda"
    lab_readme = (path.parent / "README.md").read_text()
    assert f"| {gpu} / {cpu} min" in _table_row(lab_readme, path.name), "the lab README"


@pytest.mark.parametrize("lab", LABS)
def test_the_readme_lab_table_sums_the_notebooks(lab):
    folder, numbers = LABS[lab]
    notebooks = lab_notebooks(folder, numbers)
    assert notebooks, lab
    cpu_hours = sum(minutes(path)[1] for path in notebooks) / 60
    rounded = math.floor(cpu_hours * 2 + 0.5) / 2  # to the nearest half hour
    stated = f"{rounded:g} h"
    readme = (REPO_ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith(f"| {lab} |")]
    assert len(rows) == 1, f"one README row for {lab}"
    assert re.search(rf"\| about {re.escape(stated)} on a CPU \|", rows[0]), (
        f"README: {lab} should say 'about {stated} on a CPU' (the sum of its notebooks, "
        f"{cpu_hours:.2f} h): {rows[0][-60:]}"
    )
