"""Where the bootcamp keeps its files: the repository root, the data cache and run outputs."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "BOOTCAMP_DATA_DIR"
RUNS_DIR_ENV = "BOOTCAMP_RUNS_DIR"


def repo_root() -> Path:
    """Return the repository root (the folder that holds ``common/``)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Return the download cache: ``$BOOTCAMP_DATA_DIR`` if set, else ``<repo>/data``."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser().resolve() if override else repo_root() / "data"


def runs_dir() -> Path:
    """Return the folder for run outputs: ``$BOOTCAMP_RUNS_DIR`` or ``<repo>/runs``."""
    override = os.environ.get(RUNS_DIR_ENV)
    return Path(override).expanduser().resolve() if override else repo_root() / "runs"
