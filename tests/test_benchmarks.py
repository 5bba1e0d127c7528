"""The benchmarks' device-specific helpers, run on the CPU so that a GPU run cannot crash."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # lbm.py imports its sibling lbm_lbmpy.py
    try:
        path = BENCHMARKS / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_the_lbm_benchmark_loads_and_its_bandwidth_probe_runs_without_preloaded_modules():
    # torch.utils.benchmark is not loaded by `import torch`: run the probe in a fresh interpreter
    lbm_benchmark = _load("lbm")
    assert set(lbm_benchmark.GRIDS) == {"lesson", "original"}
    probe = (
        "from common.cfd import lbm; bandwidth = lbm.copy_bandwidth('cpu', megabytes=8); "
        "assert 0.1 < bandwidth < 10_000, bandwidth"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO_ROOT, timeout=120)
