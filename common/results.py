"""Record a notebook's key results to ``runs/results/<notebook-stem>.json``.

A run with an explicit option that changes the lesson (a finer grid, say) records as a *variant*,
``<notebook-stem>-<variant>.json``, so it never overwrites the lesson's result. Every record says
which hardware ran it.

``seconds`` in the record is the time from the start of the kernel (the Python process) to the
call of :func:`record`, so it includes the imports; without ``psutil`` it counts from the import of
this module.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common import mode, paths

NOTEBOOK_ENV = "BOOTCAMP_NOTEBOOK"
_IMPORTED_AT = time.time()


def _process_start_time() -> float:
    """Return when this Python process started (epoch seconds), or this module's import time."""
    try:
        import psutil  # always present beside ipykernel

        return psutil.Process().create_time()
    except (ImportError, OSError):
        return _IMPORTED_AT


def notebook_stem() -> str | None:
    """Return the stem of the running notebook, or None when it cannot be told."""
    for value in (
        os.environ.get(NOTEBOOK_ENV),
        os.environ.get("JPY_SESSION_NAME"),  # set by Jupyter Server for kernels it starts
        _vscode_notebook(),
    ):
        if value:
            return Path(value).stem
    return None


def _vscode_notebook() -> str | None:
    try:
        ipython = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return None
    return ipython.user_ns.get("__vsc_ipynb_file__") if ipython else None


def elapsed_seconds() -> float:
    """Return the seconds since the kernel (this Python process) started."""
    return time.time() - _process_start_time()


def hardware() -> str:
    """The GPU the loaded frameworks see (PyTorch, else TensorFlow), or the CPU's core count."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and tensorflow.config.list_logical_devices("GPU"):
        details = tensorflow.config.experimental.get_device_details(
            tensorflow.config.list_physical_devices("GPU")[0]
        )
        return f"GPU {details.get('device_name', 'unknown')}"
    return f"CPU ({os.cpu_count()} cores)"


def _file_stem(name: str, variant: str | None) -> str:
    return f"{name}-{variant}" if variant else name


def record(metrics: dict[str, Any], name: str | None = None, variant: str | None = None) -> Path:
    """Write ``metrics`` with the mode, hardware and elapsed seconds to ``runs/results/``.

    The file is ``<name>.json``, or ``<name>-<variant>.json`` for a run with an explicit option
    that changes the lesson (``variant=None`` or ``""``: the lesson itself).
    """
    stem = name or notebook_stem()
    if not stem:
        stem = "unnamed_notebook"
        print(
            f"Could not tell which notebook is running (set {NOTEBOOK_ENV} or pass name=...): "
            f"recording as {stem!r}."
        )
    payload = {
        "notebook": stem,
        "variant": variant or None,
        "mode": mode.current(),
        "hardware": hardware(),
        "seconds": round(elapsed_seconds(), 2),
        "metrics": {key: _plain(value) for key, value in metrics.items()},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    out_dir = paths.runs_dir() / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"{_file_stem(stem, variant)}.json"
    out_path.write_text(json.dumps(payload, indent=2) + "\n")
    where = f"{payload['mode']} mode, {payload['hardware']}"
    print(f"Recorded {len(metrics)} metrics ({where}) to {out_path}")
    return out_path


def load(name: str, variant: str | None = None) -> dict[str, Any]:
    """Read back what :func:`record` wrote for notebook ``name`` (and ``variant``)."""
    path = paths.runs_dir() / "results" / f"{_file_stem(name, variant)}.json"
    return json.loads(path.read_text())


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into JSON-friendly Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
