"""Run the bootcamp's notebooks with the project's runner and sum up their times and key results.

``make test-full`` (``python -m common run-notebooks``) runs every notebook in full mode, one at a
time, as an instructor does before a class: each is executed by pytest with nbval (the runner of
``make test``, whose root ``conftest.py`` keeps a long cell's output), and its check cell asserts
the full-mode thresholds. At the end it prints one table: notebook, outcome, minutes and the key
results the check cell recorded in ``runs/results/``; the table is also written to
``runs/results/notebook_runs-<mode>.md``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import paths, results

LESSON_FOLDERS = ("intro_to_dl", "tropical_cyclone", "cfd_steady_flow", "pinn")
CELL_TIMEOUT_S = 3000  # the longest cell in full mode (the CFD data set, on a 2-core CPU)
NOTEBOOK_TIMEOUT_S = 3 * 3600
MTIME_SLACK_S = 1.0  # file times are coarser than time.time(); any notebook takes longer than this
MAX_KEY_RESULTS = 6  # metrics shown per notebook in the table (all of them are in the record)


@dataclass
class NotebookRun:
    """One notebook's run: its outcome, wall time and the metrics its check cell recorded."""

    path: Path
    exit_code: int
    seconds: float
    last_line: str
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every cell ran and the check cell recorded its results."""
        return self.exit_code == 0 and bool(self.metrics)


def notebooks() -> list[Path]:
    """Start_Here and every lesson notebook, in teaching order."""
    root = paths.repo_root()
    lessons = [
        path for folder in LESSON_FOLDERS for path in sorted((root / folder).glob("[0-9]*.ipynb"))
    ]
    return [root / "Start_Here.ipynb", *lessons]


def run_notebook(
    path: Path,
    run_mode: str,
    timeout_s: float = NOTEBOOK_TIMEOUT_S,
    echo: bool = False,
) -> tuple[int, float, str]:
    """Run one notebook with pytest + nbval in ``run_mode``; return (exit code, seconds, last line).

    With ``echo`` the runner's output is printed as it comes.
    """
    root = paths.repo_root()
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-c", str(root / "pyproject.toml"), "--rootdir", str(root),
        f"--nbval-cell-timeout={CELL_TIMEOUT_S}", str(path),
    ]  # fmt: skip
    env = os.environ | {"BOOTCAMP_MODE": run_mode, "BOOTCAMP_NOTEBOOK": path.stem}
    start = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kernel goes with it on a timeout
    ) as process:
        # a watchdog, since a hung notebook may print nothing for the loop below to notice
        watchdog = threading.Timer(timeout_s, os.killpg, (process.pid, signal.SIGKILL))
        watchdog.start()
        try:
            for line in process.stdout or ():
                lines.append(line.rstrip())
                if echo:
                    print("    " + line, end="", flush=True)
            exit_code = process.wait()
        finally:
            timed_out = not watchdog.is_alive()
            watchdog.cancel()
    if timed_out:
        return -1, time.perf_counter() - start, f"timed out after {timeout_s:.0f} s"
    printed = [line for line in lines if line.strip()]
    return exit_code, time.perf_counter() - start, printed[-1] if printed else ""


def _recorded_since(path: Path, run_mode: str, started: float) -> dict[str, Any]:
    """The metrics the notebook recorded in this run (empty when it recorded nothing since)."""
    try:
        record_path = results.path_for(path.stem, run_mode=run_mode)
        if record_path.stat().st_mtime < started - MTIME_SLACK_S:
            return {}
        return results.load(path.stem, run_mode=run_mode)["metrics"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return f"[{len(value)} values]"
    return str(value)


def table(runs: Sequence[NotebookRun], run_mode: str) -> str:
    """The runs as a Markdown table: notebook, outcome, minutes, key results."""
    root = paths.repo_root()
    lines = [
        f"| notebook ({run_mode} mode) | outcome | minutes | key results |",
        "|---|---|---|---|",
    ]
    for run in runs:
        outcome = "pass" if run.passed else ("FAIL" if run.exit_code else "no record")
        scalars = [(k, v) for k, v in run.metrics.items() if not isinstance(v, (list, dict))]
        shown = ", ".join(f"{k} {_short(v)}" for k, v in scalars[:MAX_KEY_RESULTS])
        if len(scalars) > MAX_KEY_RESULTS:
            shown += f", ... ({len(run.metrics)} in the record)"
        if not run.passed:
            shown = (run.last_line.strip("= ") + "; " + shown).strip("; ")
        name = os.path.relpath(run.path, root)
        lines.append(f"| {name} | {outcome} | {run.seconds / 60:.1f} | {shown.replace('|', '¦')} |")
    total_minutes = sum(run.seconds for run in runs) / 60
    lines.append(f"| all {len(runs)} | {sum(r.passed for r in runs)} passed | "
                 f"{total_minutes:.1f} | |")  # fmt: skip
    return "\n".join(lines)


def run_all(
    notebook_paths: Sequence[Path] | None = None,
    run_mode: str = "full",
    runner: Callable[[Path, str], tuple[int, float, str]] | None = None,
) -> tuple[int, list[NotebookRun]]:
    """Run the notebooks one at a time, print the table, write it; return (exit code, runs)."""
    selected = list(notebook_paths) if notebook_paths else notebooks()
    runner = runner or (lambda path, mode_: run_notebook(path, mode_, echo=True))
    runs = []
    for number, path in enumerate(selected, start=1):
        print(f"[{number}/{len(selected)}] {path.name} in {run_mode} mode", flush=True)
        started = time.time()
        exit_code, seconds, last_line = runner(path, run_mode)
        metrics = _recorded_since(path, run_mode, started)
        runs.append(NotebookRun(path, exit_code, seconds, last_line, metrics))
        outcome = "passed" if runs[-1].passed else "FAILED"
        print(f"    {outcome} in {seconds / 60:.1f} min", flush=True)
    summary = table(runs, run_mode)
    print("\n" + summary)
    out_path = paths.runs_dir() / "results" / f"notebook_runs-{run_mode}.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(summary + "\n")
    print(f"\nWritten to {out_path}")
    return (0 if all(run.passed for run in runs) else 1), runs
