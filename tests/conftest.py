"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
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
