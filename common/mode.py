"""The run mode: ``full`` (the real lesson, default) or ``smoke`` (CI: small data, few steps).

Set it with the environment variable ``BOOTCAMP_MODE``. Every notebook chooses its parameters with
:func:`pick`, so one notebook serves both a learner and the test suite.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

MODE_ENV = "BOOTCAMP_MODE"
MODES = ("full", "smoke")
Mode = Literal["full", "smoke"]
T = TypeVar("T")


def current() -> Mode:
    """Return the mode named by ``$BOOTCAMP_MODE`` (``full`` when unset)."""
    value = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(
            f"{MODE_ENV}={value!r} is not a mode: use one of {', '.join(MODES)} "
            f"(for example `export {MODE_ENV}=smoke`)."
        )
    return value  # type: ignore[return-value]


def is_smoke() -> bool:
    """Return True in smoke mode (CI)."""
    return current() == "smoke"


def pick(*, full: T, smoke: T) -> T:
    """Return ``full`` or ``smoke`` according to the current mode."""
    return smoke if is_smoke() else full
