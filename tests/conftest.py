"""Fixtures shared by the unit tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MIRROR_AT_START = os.environ.get("BOOTCAMP_DATA_MIRROR")  # read before any test unsets it


@pytest.fixture()
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the data cache and runs folder at a temporary directory and unset the mirror."""
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BOOTCAMP_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("BOOTCAMP_DATA_MIRROR", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def shared_mirror() -> Path:
    """The offline mirror of the real data sets (CI sets BOOTCAMP_DATA_MIRROR); skip without it."""
    candidates = [Path(MIRROR_AT_START)] if MIRROR_AT_START else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / "mnist").is_dir():
            return candidate.resolve()
    pytest.skip("no offline data mirror (set BOOTCAMP_DATA_MIRROR)")


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def make_lab(port: int, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """Run `make lab PORT=port` with env, its output in log_path; stop its process group after."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "lab", f"PORT={port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
