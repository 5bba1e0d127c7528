"""Speed of the lattice-Boltzmann step (``common.lbm``) in million lattice updates per second.

Usage: ``.venv/bin/python benchmarks/lbm.py [--batch-sizes 1 4 16 32] [--steps 300]
[--lbmpy-steps 1000]``

Prints MLUPS for each of the solver's steps (``lbm.STEPS``: the eager PyTorch step, the same step
through ``torch.compile``, and on the CPU the fused kernels pystencils generates from it) on the
CPU, and on the GPU when there is one, then the solver beside lbmpy on the CPU (``lbm_lbmpy.py``,
where lbmpy is installed).
Each update reads and writes nine float32 populations (72 bytes, the figure for the memory-bandwidth
roofline); the bounce-back masks add 10 bytes of reads. On a GPU the script also measures the copy
bandwidth and prints the fraction of it the solver reaches.
"""

from __future__ import annotations

import argparse
import os

import lbm_lbmpy  # benchmarks/lbm_lbmpy.py, next to this script
import torch
import torch.utils.benchmark as torch_benchmark

from common import flow_data, lbm, shapes


def copy_bandwidth(device: str, megabytes: int = 1024) -> float:
    """Measured read+write bandwidth of a large tensor copy, in GB/s."""
    source = torch.empty(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    timer = torch_benchmark.Timer("t.copy_(s)", globals={"t": target, "s": source})
    seconds = timer.blocked_autorange(min_run_time=1.0).median
    return 2 * source.numel() * 4 / seconds / 1e9


def main() -> None:
    """Print a table of MLUPS per device, batch size and mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lbmpy-steps", type=int, default=1000, help="0 skips lbmpy")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"bytes per update (float32 populations): {lbm.BYTES_PER_UPDATE_FLOAT32}")
    print(f"{'device':6s} {'grid':>8s} {'batch':>5s}", *(f"{s:>10s}" for s in lbm.STEPS), "(MLUPS)")
    for device in devices:
        grid = flow_data.GPU_GRID if device == "cuda" else flow_data.CPU_GRID
        flow = flow_data.channel_for(grid)
        for batch in args.batch_sizes:
            obstacles = shapes.random_obstacles(batch, *grid, seed=batch)
            mlups = {
                step: lbm.measure_mlups(
                    obstacles, flow, num_steps=args.steps, device=device, step=step
                )
                for step in lbm.STEPS
                if device == "cpu" or step != "generated"
            }
            compiled = mlups["compiled"]
            grid_name = f"{grid[0]}x{grid[1]}"
            speeds = (f"{mlups.get(step, float('nan')):10.1f}" for step in lbm.STEPS)
            print(f"{device:6s} {grid_name:>8s} {batch:5d}", *speeds)
        if device == "cuda":
            bandwidth = copy_bandwidth(device)
            reached = compiled * 1e6 * lbm.BYTES_PER_UPDATE_FLOAT32 / 1e9
            print(
                f"cuda copy bandwidth {bandwidth:.0f} GB/s; the solver moves {reached:.0f} GB/s "
                f"of populations = {reached / bandwidth:.0%} of it (largest batch, compiled)"
            )

    if args.lbmpy_steps:
        print("\nBeside lbmpy, on the CPU, on the lesson's cell count (benchmarks/lbm_lbmpy.py):")
        lbm_lbmpy.side_by_side(args.lbmpy_steps)


if __name__ == "__main__":
    main()
