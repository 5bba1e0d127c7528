"""Speed of the infrared cyclone generator (``common.cyclone.render``) in images per second.

Usage: ``.venv/bin/python benchmarks/cyclone_render.py [--sizes 64 128] [--batch 512]``

Prints the median images/s of ``render.render`` for a batch of random storms at each image size,
and the time ``frames.storm_looks`` takes per 10k frames (the storms' personalities and apparent
T-numbers, computed once per data set before rendering). The generator is NumPy only: set
``OMP_NUM_THREADS`` to compare with the notebooks' setting, and report the machine with the numbers.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from common.cyclone import frames, render


def random_params(count: int, seed: int = 0) -> render.RenderParams:
    """Render parameters of ``count`` random storms: every T-number, hemisphere and shear."""
    rng = np.random.default_rng(seed)
    return render.RenderParams(
        t_number=rng.uniform(1.0, 8.0, count), lat=rng.uniform(-30.0, 30.0, count),
        size=rng.uniform(0.7, 1.4, count), shear_dir=rng.uniform(0.0, 2 * np.pi, count),
        shear=rng.uniform(0.0, 1.0, count), num_bands=rng.integers(1, 5, count),
        band_phase=rng.uniform(0.0, 2 * np.pi, count),
        key=rng.integers(0, 2**63, count, dtype=np.uint64),
    )


def images_per_second(image_size: int, batch: int, repeats: int) -> float:
    """Median throughput of ``render.render`` over ``repeats`` batches of fresh random storms."""
    render.render(random_params(8, seed=1_000), image_size)  # warm-up
    rates = []
    for repeat in range(repeats):
        params = random_params(batch, seed=repeat)
        start = time.perf_counter()
        render.render(params, image_size)
        rates.append(batch / (time.perf_counter() - start))
    return float(np.median(rates))


def storm_looks_seconds(num_frames: int = 10_000, frames_per_storm: int = 125,
                        repeats: int = 5) -> float:
    """Median seconds of ``frames.storm_looks`` on ``num_frames`` hourly frames of real length."""
    hours = np.arange(float(frames_per_storm))
    num_storms = num_frames // frames_per_storm
    table = pd.concat([
        pd.DataFrame({"storm_id": f"AL{s:04d}", "hours": hours, "lat": 15.0,
                      "wind_kt": 30 + 80 * np.sin(np.pi * hours / frames_per_storm)})
        for s in range(num_storms)], ignore_index=True)
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        frames.storm_looks(table, seed=seed)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 10_000 / len(table)


def main() -> None:
    """Print images/s per image size and the cost of storm_looks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"numpy {np.__version__}, OMP_NUM_THREADS={threads}, {os.cpu_count()} CPUs")
    print(f"{'size':>6} {'batch':>6} {'images/s':>10}  (median of {args.repeats})")
    for size in args.sizes:
        rate = images_per_second(size, args.batch, args.repeats)
        print(f"{size:>4}px {args.batch:>6} {rate:>10.0f}")
    seconds = storm_looks_seconds(repeats=args.repeats)
    print(f"storm_looks: {1e3 * seconds:.0f} ms per 10k frames (80 storms of 125 hourly frames)")


if __name__ == "__main__":
    main()
