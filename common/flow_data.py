"""Steady-flow data sets made by the project's own solver: generate, cache under ``data/``, load.

A sample is an obstacle in a channel (its boolean mask and signed distance function) and the
converged velocity field (ux, uy) around it, from :func:`common.lbm.solve_steady`. A data set is
fixed by its shape family, number of samples, seed, grid, Reynolds number, tolerance and solver
version; it is cached as ``data/cfd/<that recipe>.npz`` with the metadata and per-sample steps and
residuals, and generated on first use. Importing this module imports PyTorch (through
``common.lbm``); nothing else happens at import.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from common import lbm, paths, shapes

CPU_GRID = (64, 128)
GPU_GRID = (128, 256)  # the grid of Guo et al. (2016)
COMPILE_MIN_NODES = 16 * 64 * 128  # below this, compiling costs more than it saves


@dataclass
class FlowDataset:
    """Obstacles, their signed distance and the converged flow, one entry per sample."""

    obstacles: np.ndarray  # (N, H, W) bool, True = solid (the walls are not included)
    sdf: np.ndarray  # (N, H, W) float32, cells, positive in the fluid
    ux: np.ndarray  # (N, H, W) float32, lattice units
    uy: np.ndarray
    steps: np.ndarray  # (N,) solver steps until converged
    residual: np.ndarray  # (N,) final velocity change per step / u_max
    converged: np.ndarray  # (N,) bool
    metadata: dict[str, Any]

    def __len__(self) -> int:
        return len(self.obstacles)

    @property
    def u_max(self) -> float:
        """Peak inlet velocity, the scale of every velocity in the set."""
        return float(self.metadata["u_max"])

    def inputs(self, encoding: str = "sdf") -> np.ndarray:
        """Network input of shape (N, H, W, 1): the binary mask or the SDF scaled to O(1)."""
        if encoding == "binary":
            return self.obstacles[..., None].astype(np.float32)
        if encoding == "sdf":
            return (self.sdf / self.obstacles.shape[1])[..., None].astype(np.float32)
        raise ValueError(f"Unknown encoding {encoding!r}; choose 'binary' or 'sdf'.")

    def targets(self) -> np.ndarray:
        """Velocity of shape (N, H, W, 2) in units of u_max, so that values are O(1)."""
        return np.stack([self.ux, self.uy], axis=-1) / self.u_max

    def subset(self, index: Any) -> FlowDataset:
        """The samples picked by a boolean mask, slice or index array."""
        return replace(
            self,
            obstacles=self.obstacles[index],
            sdf=self.sdf[index],
            ux=self.ux[index],
            uy=self.uy[index],
            steps=self.steps[index],
            residual=self.residual[index],
            converged=self.converged[index],
        )


def default_grid() -> tuple[int, int]:
    """64x128 on a CPU, 128x256 (the original lab's grid) when a CUDA GPU is present."""
    import torch

    return GPU_GRID if torch.cuda.is_available() else CPU_GRID


def channel_for(grid: tuple[int, int], reynolds: float = 20.0) -> lbm.ChannelFlow:
    """The channel set-up used for the data sets on a given grid."""
    height, width = grid
    return lbm.ChannelFlow(height=height, width=width, reynolds=reynolds)


def generate(
    num_samples: int,
    *,
    family: str = "mixed",
    seed: int = 0,
    grid: tuple[int, int] = CPU_GRID,
    reynolds: float = 20.0,
    tolerance: float = 1e-5,
    max_steps: int = 40_000,
    batch_size: int = 16,
    compile_step: bool | None = None,
    device: str | None = None,
    progress: bool = True,
) -> FlowDataset:
    """Solve ``num_samples`` random obstacles of a shape family, ``batch_size`` at a time."""
    flow = channel_for(grid, reynolds)
    obstacles = shapes.random_obstacles(num_samples, *grid, family=family, seed=seed)
    if compile_step is None:
        compile_step = batch_size * grid[0] * grid[1] >= COMPILE_MIN_NODES
    solution = lbm.solve_steady(
        obstacles,
        flow,
        batch_size=batch_size,
        tolerance=tolerance,
        max_steps=max_steps,
        compile_step=compile_step,
        device=device,
        progress=progress,
    )
    metadata = {
        "family": family,
        "num_samples": num_samples,
        "seed": seed,
        "grid": list(grid),
        "reynolds": reynolds,
        "u_max": flow.u_max,
        "reference_length": flow.reference_length,
        "viscosity": flow.viscosity,
        "tau": flow.tau,
        "tolerance": tolerance,
        "max_steps": max_steps,
        "solver_version": lbm.SOLVER_VERSION,
        "solver_seconds": solution.seconds,
        "seconds_per_sample": solution.seconds / max(num_samples, 1),
        "mlups": solution.mlups,
        "batch_size": batch_size,
        "compiled": compile_step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return FlowDataset(
        obstacles=obstacles,
        sdf=shapes.signed_distance(obstacles),
        ux=solution.ux,
        uy=solution.uy,
        steps=solution.steps,
        residual=solution.residual,
        converged=solution.converged,
        metadata=metadata,
    )


def cache_file(
    num_samples: int,
    family: str,
    seed: int,
    grid: tuple[int, int],
    reynolds: float,
    tolerance: float,
) -> Path:
    """Where a data set with this recipe is cached."""
    name = (
        f"{family}-{grid[0]}x{grid[1]}-re{reynolds:g}-tol{tolerance:g}-n{num_samples}-seed{seed}"
        f"-v{lbm.SOLVER_VERSION}.npz"
    )
    return paths.data_dir() / "cfd" / name


def save(dataset: FlowDataset, path: Path) -> None:
    """Write a data set and its metadata to one compressed ``.npz`` file (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(
        partial,
        obstacles=dataset.obstacles,
        ux=dataset.ux,
        uy=dataset.uy,
        steps=dataset.steps,
        residual=dataset.residual,
        converged=dataset.converged,
        metadata=json.dumps(dataset.metadata),
    )
    partial.replace(path)


def load(path: Path) -> FlowDataset:
    """Read a data set written by :func:`save` (the SDF is recomputed from the masks)."""
    with np.load(path) as stored:
        obstacles = stored["obstacles"]
        return FlowDataset(
            obstacles=obstacles,
            sdf=shapes.signed_distance(obstacles),
            ux=stored["ux"],
            uy=stored["uy"],
            steps=stored["steps"],
            residual=stored["residual"],
            converged=stored["converged"],
            metadata=json.loads(str(stored["metadata"])),
        )


def load_flows(
    num_samples: int,
    *,
    family: str = "mixed",
    seed: int = 0,
    grid: tuple[int, int] | None = None,
    reynolds: float = 20.0,
    tolerance: float = 1e-5,
    keep_unconverged: bool = False,
    progress: bool = True,
    **solver_options: Any,
) -> FlowDataset:
    """A cached data set, generated (and cached) on first use; unconverged samples are dropped."""
    grid = grid or default_grid()
    path = cache_file(num_samples, family, seed, grid, reynolds, tolerance)
    if path.exists():
        dataset = load(path)
    else:
        dataset = generate(
            num_samples,
            family=family,
            seed=seed,
            grid=grid,
            reynolds=reynolds,
            tolerance=tolerance,
            progress=progress,
            **solver_options,
        )
        save(dataset, path)
    failed = int((~dataset.converged).sum())
    if failed and not keep_unconverged:
        print(f"Dropping {failed} of {len(dataset)} samples that did not converge.")
        dataset = dataset.subset(dataset.converged)
    return dataset


def relative_l2_error(
    predicted: np.ndarray, true: np.ndarray, obstacles: np.ndarray | None = None
) -> np.ndarray:
    """Per-sample ||u_pred - u_true|| / ||u_true|| over the fluid, for (N, H, W, 2) fields."""
    predicted, true = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    if predicted.shape != true.shape:
        raise ValueError(f"Shapes differ: predicted {predicted.shape}, true {true.shape}.")
    if obstacles is not None:
        fluid = ~np.asarray(obstacles, bool)[..., None]
        predicted, true = predicted * fluid, true * fluid
    axes = tuple(range(1, true.ndim))
    return np.sqrt(((predicted - true) ** 2).sum(axes) / (true**2).sum(axes))


def divergence(ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    """Central-difference divergence d(ux)/dx + d(uy)/dy on (..., H, W) fields (grid spacing 1)."""
    return np.gradient(ux, axis=-1) + np.gradient(uy, axis=-2)
