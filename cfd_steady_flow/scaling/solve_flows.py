"""Solve a CFD data set on many workers: each rank solves its share, rank 0 writes the data set.

    torchrun --standalone --nproc-per-node=2 cfd_steady_flow/scaling/solve_flows.py --split train

The lattice-Boltzmann solves are independent, so rank r takes samples r, r + N, r + 2N, ... of the
data set (N ranks), and rank 0 gathers the flows and writes them where the single-process path
(``flow_data.load_split``) caches them: the same arrays, bit for bit, for the same recipe. On a
GPU machine each rank uses the GPU of its local rank. ``BOOTCAMP_MODE=smoke`` picks the small sets.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from common import mode
from common.cfd import distributed, flow_data


def main() -> None:
    """Parse the arguments, solve this rank's share, gather and write on rank 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=("train", "test", "ood"))
    parser.add_argument("--output", type=Path, help="write here instead of the data cache")
    parser.add_argument("--report", type=Path, help="rank 0 writes the timings here (JSON)")
    args = parser.parse_args()

    worker = distributed.init()
    recipe = mode.pick(full=flow_data.LESSON_FULL, smoke=flow_data.LESSON_SMOKE)
    generation = flow_data.plan(**recipe[args.split], **recipe["solver"])
    mine = distributed.shard(len(generation.obstacles), worker)
    start = time.perf_counter()
    part = flow_data.solve_part(generation, mine, progress=False)
    seconds = time.perf_counter() - start
    print(f"{distributed.describe(worker)}: {len(mine)} flows in "
          f"{seconds:.1f} s ({part.lattice_updates / part.seconds / 1e6:.1f} MLUPS, "
          f"{part.step} step)", flush=True)
    parts = distributed.gather(part, worker)
    timings = distributed.gather({"rank": worker.rank, "flows": len(mine), "seconds": seconds},
                                 worker)
    if worker.is_main:
        dataset = flow_data.assemble(generation, parts)
        path = args.output or flow_data.cache_path(generation)
        flow_data.save(dataset, path)
        print(f"rank 0 wrote {len(dataset)} flows ({args.split}) from {worker.world_size} "
              f"ranks to {path}", flush=True)
        if args.report:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps({
                "split": args.split, "world_size": worker.world_size, "path": str(path),
                "wall_seconds": max(timing["seconds"] for timing in timings),
                "ranks": timings,
            }, indent=1))


if __name__ == "__main__":
    main()
    gc.collect()  # free the DDP model first: one freed after the group has ended can hang Gloo
    distributed.finish()
