"""The benchmarks' device-specific helpers, run on the CPU so that a GPU run cannot crash."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


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


def test_the_lbm_benchmarks_bandwidth_probe_runs_on_any_device():
    # on CUDA it is the only caller of torch.utils.benchmark, which `import torch` does not load
    lbm_benchmark = _load("lbm")
    bandwidth = lbm_benchmark.copy_bandwidth("cpu", megabytes=8)
    assert 0.1 < bandwidth < 10_000, f"{bandwidth} GB/s"
