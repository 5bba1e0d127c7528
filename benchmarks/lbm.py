"""Speed of the lattice-Boltzmann step (``common.cfd.lbm``) in million lattice updates per second.

Usage: ``.venv/bin/python benchmarks/lbm.py [--batch-sizes 1 4 16 32] [--steps 300]
[--grid lesson|original] [--lbmpy-steps 1000]``

Prints MLUPS for each of the solver's steps (``lbm.STEPS``: the eager PyTorch step, the same step
through ``torch.compile``, and on the CPU the fused kernels pystencils generates from it) on the
CPU, and on the GPU when there is one, then the solver beside lbmpy on the CPU (``lbm_lbmpy.py``,
where lbmpy is installed).
Each update reads and writes nine float32 populations (72 bytes, the figure for the memory-bandwidth
roofline); the bounce-back masks add 10 bytes of reads. For each device the script also measures
the copy bandwidth and prints the fraction of it the fastest step reaches.
"""

from __future__ import annotations

import argparse
import os

import lbm_lbmpy  # benchmarks/lbm_lbmpy.py, next to this script
import torch

from common.cfd import flow_data, lbm, shapes

GRIDS = {"lesson": flow_data.LESSON_GRID, "original": flow_data.ORIGINAL_GRID}


def main() -> None:
    """Print a table of MLUPS per device, batch size and step, and each device's roofline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--grid", choices=GRIDS, default="lesson", help="64x128 or 128x256")
    parser.add_argument("--lbmpy-steps", type=int, default=1000, help="0 skips lbmpy")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    grid = GRIDS[args.grid]
    flow = flow_data.channel_for(grid)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"bytes per update (float32 populations): {lbm.BYTES_PER_UPDATE_FLOAT32}")
    print(f"{'device':6s} {'grid':>8s} {'batch':>5s}", *(f"{s:>10s}" for s in lbm.STEPS), "(MLUPS)")
    for device in devices:
        for batch in args.batch_sizes:
            obstacles = shapes.random_obstacles(batch, *grid, seed=batch)
            mlups = {
                step: lbm.measure_mlups(
                    obstacles, flow, num_steps=args.steps, device=device, step=step
                )
                for step in lbm.STEPS
                if device == "cpu" or step != "generated"
            }
            fastest = max(mlups.values())  # after the loop: the largest batch's
            speeds = (f"{mlups.get(step, float('nan')):10.1f}" for step in lbm.STEPS)
            print(f"{device:6s} {grid[0]:>4d}x{grid[1]:<3d} {batch:5d}", *speeds)
        bandwidth = lbm.copy_bandwidth(device)
        reached = fastest * 1e6 * lbm.BYTES_PER_UPDATE_FLOAT32 / 1e9
        cached = " (above 100%: the batch fits in the cache)" if reached > bandwidth else ""
        print(
            f"{device} copy bandwidth {bandwidth:.0f} GB/s; the fastest step on the largest batch "
            f"moves {reached:.0f} GB/s of populations = {reached / bandwidth:.0%} of it{cached}"
        )

    if args.lbmpy_steps:
        print("\nBeside lbmpy, on the CPU, on the lesson's cell count (benchmarks/lbm_lbmpy.py):")
        lbm_lbmpy.side_by_side(args.lbmpy_steps)


if __name__ == "__main__":
    main()
