"""The Keras labs are backend-agnostic: 06_mnist runs end to end on Keras' PyTorch backend."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT

MNIST_NOTEBOOK = REPO_ROOT / "intro_to_dl" / "06_mnist.ipynb"


@pytest.mark.notebook
def test_mnist_notebook_runs_in_smoke_mode_on_the_torch_backend(
    shared_mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name, value in {
        "KERAS_BACKEND": "torch",
        "BOOTCAMP_MODE": "smoke",
        "BOOTCAMP_NOTEBOOK": MNIST_NOTEBOOK.stem,
        "BOOTCAMP_DATA_MIRROR": str(shared_mirror),
        "BOOTCAMP_DATA_DIR": str(tmp_path / "cache"),
        "BOOTCAMP_RUNS_DIR": str(tmp_path / "runs"),
        "MPLBACKEND": "Agg",
    }.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(MNIST_NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(MNIST_NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure

    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "backend: torch" in printed, "device.report() should show the torch backend"
    recorded = json.loads((tmp_path / "runs" / "results" / "smoke" / "06_mnist.json").read_text())
    assert recorded["mode"] == "smoke"
