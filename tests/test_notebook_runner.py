"""The project's notebook runner (pytest + nbval + the root conftest) survives a long cell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import nbformat
import pytest

from tests.conftest import REPO_ROOT

# A cell that sends thousands of output messages, as a 17-minute solve with a progress bar does:
# more than the kernel's output socket holds unread while nbval waits for the cell's reply.
LONG_CELL = """\
import time
from tqdm.auto import tqdm

for _ in tqdm(range(5000), mininterval=0, desc="solving"):
    time.sleep(0.0002)
print("solved")
"""


def _run_notebook(*options: str) -> subprocess.CompletedProcess:
    folder = REPO_ROOT / "runs" / f"runner-test-{uuid.uuid4().hex[:8]}"  # under the root conftest
    folder.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell(LONG_CELL),
        nbformat.v4.new_code_cell("print('the next cell runs')"),
    ]
    nbformat.write(notebook, folder / "long_cell.ipynb")
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *options,
                str(folder / "long_cell.ipynb"),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(folder)


@pytest.mark.fault
@pytest.mark.notebook
def test_a_long_cell_with_a_progress_bar_passes_under_the_projects_runner():
    plain = _run_notebook("--noconftest", "--nbval-lax", "--nbval-current-env")
    assert "Timeout of 5 seconds exceeded waiting for output" in plain.stdout, (
        "nbval alone no longer loses a long cell's output: the runner's fix in conftest.py may go\n"
        + plain.stdout[-2000:]
    )
    ours = _run_notebook()
    assert ours.returncode == 0 and "2 passed" in ours.stdout, ours.stdout[-3000:]


def test_run_all_tables_times_and_the_results_each_notebook_recorded(isolated_dirs, capsys):
    from common import notebook_runs, results

    stale = results.record({"test_accuracy": 0.5}, name="03_stale")  # an older run's record
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    def fake_runner(path, run_mode):
        assert run_mode == "smoke"
        if path.stem == "01_good":
            results.record({"test_accuracy": 0.987654, "curve": [1, 2], "epochs": 3}, path.stem)
            return 0, 90.0, "1 passed in 90s"
        if path.stem == "02_broken":
            return 1, 30.0, "1 failed in 30s"
        return 0, 12.0, "1 passed in 12s"  # 03_stale: ran, but its check cell recorded nothing

    notebook_paths = [REPO_ROOT / f"{stem}.ipynb" for stem in ("01_good", "02_broken", "03_stale")]
    code, runs = notebook_runs.run_all(notebook_paths, "smoke", runner=fake_runner)
    assert code == 1 and [run.passed for run in runs] == [True, False, False]
    printed = capsys.readouterr().out
    assert "| 01_good.ipynb | pass | 1.5 | test_accuracy 0.9877, epochs 3 |" in printed
    assert "| 02_broken.ipynb | FAIL | 0.5 | 1 failed in 30s |" in printed
    assert "| 03_stale.ipynb | no record | 0.2 |" in printed, "an old record is not this run's"
    assert "| all 3 | 1 passed | 2.2 | |" in printed
    written = (isolated_dirs / "runs" / "results" / "notebook_runs-smoke.md").read_text()
    assert "01_good.ipynb" in written


@pytest.mark.fault
def test_a_run_that_hangs_without_output_is_stopped_at_its_timeout(tmp_path):
    from common import notebook_runs

    hanging = tmp_path / "test_hangs.py"  # the runner runs any pytest target: no kernel needed
    hanging.write_text("import time\n\n\ndef test_hangs():\n    time.sleep(120)\n")
    start = time.perf_counter()
    exit_code, seconds, last_line = notebook_runs.run_notebook(hanging, "smoke", timeout_s=5)
    assert (exit_code, last_line) == (-1, "timed out after 5 s")
    assert seconds < 30 and time.perf_counter() - start < 30


def test_make_test_full_runs_every_notebook_in_full_mode_one_at_a_time():
    dry_run = subprocess.run(
        ["make", "-n", "test-full"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "-m common run-notebooks --mode full" in dry_run.stdout
