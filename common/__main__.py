"""Command line: ``python -m common doctor [--gpu]``, ``fetch NAME... | all``, ``flows``,
``frames``, ``run-notebooks``, ``lab-settings``

``doctor --gpu`` (``make gpu-check``) proves the GPU path: see :mod:`common.gpu_check`.
``run-notebooks`` (``make test-full``) runs every notebook in full mode: see
:mod:`common.notebook_runs`. ``lab-settings`` (``make lab``): see :mod:`common.lab_settings`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from common import data, device, mode, paths

REQUIRED_PACKAGES = (
    "numpy",
    "scipy",
    "matplotlib",
    "sklearn",
    "cv2",
    "tqdm",
    "keras",
    "torch",
    "tensorflow",
    "jupyterlab",
    "ipykernel",
)


def doctor(check_urls: bool = True) -> int:
    """Print the environment, GPU and data report; return 0 when everything required works."""
    problems: list[str] = []
    print("== Environment ==")
    missing = [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        problems.append(f"missing packages: {', '.join(missing)} (run `make install`)")
    try:
        print(f"mode: {mode.current()}")
    except ValueError as error:
        problems.append(str(error))
    try:
        device.report()
    except Exception as error:  # noqa: BLE001 (a broken framework install is exactly what we report)
        problems.append(f"a framework failed to load: {type(error).__name__}: {error}")

    print(f"\n== Data (cache: {paths.data_dir()}; mirror: {data.mirror_dir() or 'not set'}) ==")
    for ds in data.REGISTRY.values():
        states = [data.file_status(ds, remote, check_url=check_urls) for remote in ds.files]
        worst = next((s for s in ("corrupt in cache", "missing") if s in states), None)
        summary = worst or ", ".join(sorted(set(states)))
        print(f"{ds.name:17s} {summary:14s} {ds.title} [{ds.licence}]")
        if worst:
            problems.append(
                f"{ds.name}: {worst} (set {data.MIRROR_ENV} to a mirror folder, connect to the "
                f"internet, or place the files in {paths.data_dir() / ds.folder})"
            )

    if problems:
        print("\nProblems:")
        for problem in problems:
            print(f"- {problem}")
        return 1
    print("\nAll good: every package loads and every data set can be had.")
    return 0


def fetch(names: list[str]) -> int:
    """Fetch the named data sets (or ``all``) into the cache; return 0 on success."""
    wanted = list(data.REGISTRY) if names == ["all"] else names
    unknown = [name for name in wanted if name not in data.REGISTRY]
    if unknown:
        print(
            f"Unknown data set(s): {', '.join(unknown)}. Known: {', '.join(data.REGISTRY)}, all",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for name in wanted:
        try:
            files = data.fetch(name)
            print(f"{name}: {len(files)} file(s) cached and verified in {paths.data_dir()}")
        except data.DataError as error:
            failed += 1
            print(f"{name}: FAILED\n{error}", file=sys.stderr)
    return 1 if failed else 0


def flows(splits: list[str], smoke: bool, original_grid: bool = False) -> int:
    """Generate (or find cached) the CFD lab's steady-flow data sets; return 0 on success."""
    from common.cfd import flow_data

    recipe = flow_data.LESSON_SMOKE if smoke else flow_data.LESSON_FULL
    if original_grid:
        recipe = flow_data.refined(recipe)
    for split in splits:
        dataset = flow_data.load_split(split, recipe)
        meta = dataset.metadata
        print(
            f"{split}: {len(dataset)} flows on {meta['grid'][0]}x{meta['grid'][1]}, "
            f"Re={meta['reynolds']:g}, {meta['seconds_per_sample']:.2f} s per flow when solved, "
            f"median {int(np.median(dataset.steps))} steps"
        )
    return 0


def frames(smoke: bool) -> int:
    """Render (or find cached) the cyclone lab's infrared frames; return 0 on success."""
    from common.cyclone import frames as cyclone_frames

    recipe = cyclone_frames.LESSON_SMOKE if smoke else cyclone_frames.LESSON_FULL
    images = cyclone_frames.load_frames(recipe)
    print(
        f"{len(images):,} frames of {len(images.storms()):,} storms, "
        f"{images.image_size}x{images.image_size} px, in {cyclone_frames.cache_path(recipe)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m common", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    doctor_parser = commands.add_parser("doctor", help="report the environment, GPUs and data sets")
    doctor_parser.add_argument(
        "--no-network", action="store_true", help="do not probe the download URLs"
    )
    doctor_parser.add_argument(
        "--gpu",
        action="store_true",
        help="prove the GPU path instead (make gpu-check): a pass/fail table",
    )
    doctor_parser.add_argument(
        "--notebooks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --gpu: run every notebook in smoke mode (default: only where there is a GPU)",
    )
    fetch_parser = commands.add_parser("fetch", help="download and verify data sets into the cache")
    fetch_parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help=f"one or more of: {', '.join(data.REGISTRY)}, or all",
    )
    flows_parser = commands.add_parser(
        "flows", help="generate the CFD lab's steady-flow data sets with the solver (cached)"
    )
    flows_parser.add_argument(
        "splits", nargs="*", default=["train", "test", "ood"], help="train, test and/or ood"
    )
    flows_parser.add_argument("--smoke", action="store_true", help="the small CI data sets")
    flows_parser.add_argument(
        "--original-grid",
        action="store_true",
        help="every grid twice as fine (128x256 in full mode), the notebooks' ORIGINAL_GRID option",
    )
    frames_parser = commands.add_parser(
        "frames", help="render the cyclone lab's infrared frames from the best tracks (cached)"
    )
    frames_parser.add_argument("--smoke", action="store_true", help="the small CI frame set")
    runs_parser = commands.add_parser(
        "run-notebooks",
        help="run notebooks one at a time with the test runner (make test-full): times and results",
    )
    runs_parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebook files (default: all, in teaching order)"
    )
    runs_parser.add_argument("--mode", choices=mode.MODES, default="full", help="default: full")
    commands.add_parser(
        "lab-settings",
        help="JupyterLab defaults for learners: no news pop-up, kernels start, no *.egg-info",
    )
    args = parser.parse_args(argv)
    if args.command == "lab-settings":
        from common import lab_settings

        for path in lab_settings.write():
            print(f"wrote {path}")
        return 0
    if args.command == "run-notebooks":
        from common import notebook_runs

        return notebook_runs.run_all(args.notebooks, args.mode)[0]
    if args.command == "doctor" and args.gpu:
        from common import gpu_check

        return gpu_check.run(run_notebooks=args.notebooks)[0]
    if args.command == "doctor":
        return doctor(check_urls=not args.no_network)
    if args.command == "flows":
        return flows(args.splits, args.smoke, args.original_grid)
    if args.command == "frames":
        return frames(args.smoke)
    return fetch(args.names)


if __name__ == "__main__":
    sys.exit(main())
