"""Float32 matrix-multiplication throughput (GFLOP/s) of NumPy and PyTorch on each device.

Usage: ``.venv/bin/python benchmarks/matmul.py [--sizes 256 1024 2048]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.utils.benchmark as torch_benchmark


def numpy_gflops(size: int, min_seconds: float = 1.0) -> float:
    """Return NumPy's float32 matmul throughput for square matrices of ``size``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up
    repeats, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        a @ b
        repeats += 1
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def torch_gflops(size: int, device: str, min_seconds: float = 1.0) -> float:
    """Return PyTorch's float32 matmul throughput on ``device`` (synchronised timing)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    timer = torch_benchmark.Timer("a @ b", globals={"a": a, "b": b})
    seconds = timer.blocked_autorange(min_run_time=min_seconds).median
    return 2 * size**3 / seconds / 1e9


def main() -> None:
    """Print a table of GFLOP/s per size and device."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {devices}")
    print(f"{'size':>6} {'numpy':>10} " + " ".join(f"{'torch-' + d:>12}" for d in devices))
    for size in args.sizes:
        row = [numpy_gflops(size)] + [torch_gflops(size, device) for device in devices]
        print(f"{size:>6} " + " ".join(f"{value:>10.1f}" for value in row) + "   GFLOP/s")


if __name__ == "__main__":
    main()
