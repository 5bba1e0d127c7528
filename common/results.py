"""Record a notebook's key results to ``runs/results/<notebook-stem>.json``.

A run with an explicit option that changes the lesson (a finer grid, say) records as a *variant*,
``<notebook-stem>-<variant>.json``, so it never overwrites the lesson's result. A run in a mode
other than ``full`` (the lesson) records in a folder of its own, ``runs/results/<mode>/``, so a
smoke run never overwrites the full run's record. Every record says which device ran it, the
versions of the frameworks the run had loaded, and the set-up the notebook passes (the CFD lab's
grid, say). Names are checked: a record is always a plain file inside ``runs/results/``.

``seconds`` in the record is the time from the start of the kernel (the Python process) to the
call of :func:`record`, so it includes the imports; without ``psutil`` it counts from the import of
this module.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common import mode, paths

NOTEBOOK_ENV = "BOOTCAMP_NOTEBOOK"
# A notebook stem or variant: letters, digits, "_", "-" and inner dots, so never a path.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FRAMEWORKS = ("numpy", "keras", "tensorflow", "torch", "scipy", "sklearn")
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
    """Return the device: the GPU the loaded frameworks see (PyTorch, else TensorFlow), or CPU."""
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


def framework_versions() -> dict[str, str]:
    """Return the versions of Python and of the frameworks this process has loaded."""
    versions = {"python": platform.python_version()}
    for module_name in _FRAMEWORKS:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "__version__"):
            versions[module_name] = str(module.__version__)
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        versions["keras_backend"] = keras.backend.backend()
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch.version, "cuda", None):
        versions["torch_cuda"] = str(torch.version.cuda)
    return versions


def _checked_name(value: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} cannot name a results file: use letters, digits, '_', '-' and "
            "inner dots only (no '/', no '..'), e.g. '06_mnist' or 'original_grid'."
        )
    return value


def path_for(name: str, variant: str | None = None, run_mode: str | None = None) -> Path:
    """Return where the record of notebook ``name`` (``variant``, mode) is kept.

    ``run_mode=None`` means the current mode. Full-mode records sit in ``runs/results/``, others
    in ``runs/results/<mode>/``.
    """
    stem = _checked_name(name, "Notebook name")
    if variant:
        stem = f"{stem}-{_checked_name(variant, 'Variant')}"
    run_mode = run_mode or mode.current()
    results_dir = paths.runs_dir() / "results"
    folder = results_dir if run_mode == "full" else results_dir / _checked_name(run_mode, "Mode")
    path = folder / f"{stem}.json"
    if not path.resolve().is_relative_to(results_dir.resolve()):
        raise ValueError(f"{path} is outside {results_dir}")
    return path


def record(
    metrics: dict[str, Any],
    name: str | None = None,
    variant: str | None = None,
    setup: dict[str, Any] | None = None,
) -> Path:
    """Write ``metrics`` with the mode, device, versions and elapsed seconds to ``runs/results/``.

    The file is ``<name>.json``, or ``<name>-<variant>.json`` for a run with an explicit option
    that changes the lesson (``variant=None`` or ``""``: the lesson itself); a smoke run writes
    under ``runs/results/smoke/``. ``setup`` records what the run was set up with (a grid, say).
    """
    stem = name or notebook_stem()
    if not stem:
        stem = "unnamed_notebook"
        print(
            f"Could not tell which notebook is running (set {NOTEBOOK_ENV} or pass name=...): "
            f"recording as {stem!r}."
        )
    out_path = path_for(stem, variant)
    payload = {
        "notebook": stem,
        "variant": variant or None,
        "mode": mode.current(),
        "device": hardware(),
        "versions": framework_versions(),
        "setup": _plain(dict(setup or {})),
        "seconds": round(elapsed_seconds(), 2),
        "metrics": {key: _plain(value) for key, value in metrics.items()},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the record, then rename: an interrupted run never leaves half a record.
    partial_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    partial_path.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(partial_path, out_path)
    where = f"{payload['mode']} mode, {payload['device']}"
    print(f"Recorded {len(metrics)} metrics ({where}) to {out_path}")
    return out_path


def load(name: str, variant: str | None = None, run_mode: str | None = None) -> dict[str, Any]:
    """Read back what :func:`record` wrote for notebook ``name`` (``variant``, current mode)."""
    return json.loads(path_for(name, variant, run_mode).read_text())


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
