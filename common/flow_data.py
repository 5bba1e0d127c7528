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
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from common import lbm, paths, shapes

# The lesson's grid on every device: its data, thresholds and texts are calibrated on it. The finer
# grid of Guo et al. (2016) and the original lab is an explicit option (refined), not a GPU default.
LESSON_GRID = (64, 128)
ORIGINAL_GRID = (128, 256)
FAST_STEP_MIN_NODES = 16 * 64 * 128  # below this, building a faster step costs more than it saves

# The data sets the CFD lab uses: training shapes, held-out shapes of the same family (test) and
# an out-of-distribution family (airfoils). Different seeds keep the three sets apart.
LESSON_FULL: dict[str, dict[str, Any]] = {
    "train": {"num_samples": 800, "family": "mixed", "seed": 0},
    "test": {"num_samples": 100, "family": "mixed", "seed": 1},
    "ood": {"num_samples": 48, "family": "airfoil", "seed": 2},
    "solver": {"grid": LESSON_GRID, "tolerance": 1e-6},
}
LESSON_SMOKE: dict[str, dict[str, Any]] = {
    "train": {"num_samples": 64, "family": "mixed", "seed": 0},
    "test": {"num_samples": 16, "family": "mixed", "seed": 1},
    "ood": {"num_samples": 8, "family": "airfoil", "seed": 2},
    "solver": {"grid": (32, 64), "tolerance": 1e-4, "reynolds": 5.0, "batch_size": 32},
}


@dataclass
class FlowDataset:
    """Obstacles, their signed distance and the converged flow, one entry per sample."""

    obstacles: np.ndarray  # (N, H, W) bool, True = obstacle (the walls are not included)
    sdf: np.ndarray  # (N, H, W) float32, distance to the nearest solid (obstacle or wall), in cells
    ux: np.ndarray  # (N, H, W) float32, lattice units
    uy: np.ndarray
    steps: np.ndarray  # (N,) solver steps until converged
    residual: np.ndarray  # (N,) final velocity change per step / u_max
    converged: np.ndarray  # (N,) bool
    metadata: dict[str, Any]

    def __len__(self) -> int:
        return len(self.obstacles)

    @property
    def solid(self) -> np.ndarray:
        """The obstacles together with the channel walls (the first and last rows)."""
        return with_walls(self.obstacles)

    @property
    def u_max(self) -> float:
        """Peak inlet velocity, the scale of every velocity in the set."""
        return float(self.metadata["u_max"])

    def inputs(self, encoding: str = "sdf") -> np.ndarray:
        """Network input (N, H, W, 1): the solid mask or the SDF / height, walls included."""
        if encoding == "binary":
            return self.solid[..., None].astype(np.float32)
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


def with_walls(obstacles: np.ndarray) -> np.ndarray:
    """A copy of (..., H, W) obstacle masks with the channel walls (first and last rows) solid."""
    solid = np.array(obstacles, dtype=bool)
    solid[..., [0, -1], :] = True
    return solid


def refined(recipe: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The recipe on a grid twice as fine each way (LESSON_FULL: the original lab's 128x256).

    Same shape families, seeds and Reynolds number on four times the cells: a different data set,
    cached apart, whose results are recorded apart from the lesson's. The tolerance is halved: at
    a fixed Reynolds number the viscosity in lattice units doubles with the grid and a flow takes
    twice as many steps to settle, so half the residual leaves it as close to steady.
    """
    height, width = recipe["solver"]["grid"]
    solver = recipe["solver"] | {"grid": (2 * height, 2 * width)}
    solver["tolerance"] = recipe["solver"]["tolerance"] / 2
    return {**recipe, "solver": solver}


def channel_for(grid: tuple[int, int], reynolds: float = 20.0) -> lbm.ChannelFlow:
    """The channel set-up used for the data sets on a given grid."""
    height, width = grid
    return lbm.ChannelFlow(height=height, width=width, reynolds=reynolds)


def generate(
    num_samples: int,
    *,
    family: str = "mixed",
    seed: int = 0,
    grid: tuple[int, int] = LESSON_GRID,
    reynolds: float = 20.0,
    tolerance: float = 1e-5,
    max_steps: int = 40_000,
    batch_size: int = 16,
    step: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> FlowDataset:
    """Solve ``num_samples`` random obstacles of a shape family, ``batch_size`` at a time.

    ``step`` (one of ``lbm.STEPS``) defaults to the device's fastest for large batches and to the
    eager PyTorch step for small ones, where building a faster step costs more than it saves.
    """
    flow = channel_for(grid, reynolds)
    obstacles = shapes.random_obstacles(num_samples, *grid, family=family, seed=seed)
    if step is None:
        large = min(batch_size, num_samples) * grid[0] * grid[1] >= FAST_STEP_MIN_NODES
        step = lbm.fast_step(device) if large else "eager"
    solution = lbm.solve_steady(
        obstacles,
        flow,
        batch_size=batch_size,
        tolerance=tolerance,
        max_steps=max_steps,
        step=step,
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
        "step": solution.metadata["step"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return FlowDataset(
        obstacles=obstacles,
        sdf=shapes.signed_distance(with_walls(obstacles)),
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
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")  # one per writer
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
        metadata = json.loads(str(stored["metadata"]))
        metadata.setdefault("step", "not recorded")  # caches made before the step was recorded
        return FlowDataset(
            obstacles=obstacles,
            sdf=shapes.signed_distance(with_walls(obstacles)),
            ux=stored["ux"],
            uy=stored["uy"],
            steps=stored["steps"],
            residual=stored["residual"],
            converged=stored["converged"],
            metadata=metadata,
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
    grid = grid or LESSON_GRID
    path = cache_file(num_samples, family, seed, grid, reynolds, tolerance)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Notebooks run side by side (CI's test workers) then build a missing set once, not twice.
    with FileLock(path.with_suffix(".lock")):
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


def load_split(split: str, recipe: dict[str, dict[str, Any]], progress: bool = True) -> FlowDataset:
    """A lesson data set ("train", "test" or "ood") from a recipe such as LESSON_FULL."""
    if split not in recipe or split == "solver":
        raise ValueError(f"Unknown split {split!r}; choose train, test or ood.")
    return load_flows(**recipe[split], **recipe["solver"], progress=progress)


def mirrored(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The up-down mirror image of (N, H, W, C) inputs and (N, H, W, 2) targets: uy changes sign."""
    flipped_targets = targets[:, ::-1].copy()
    flipped_targets[..., 1] *= -1
    return inputs[:, ::-1].copy(), flipped_targets


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


def divergence(ux: np.ndarray, uy: np.ndarray, order: int = 2) -> np.ndarray:
    """Central-difference divergence d(ux)/dx + d(uy)/dy on (..., H, W) fields (grid spacing 1).

    ``order=4`` uses the five-point stencil away from the edges (second order within two cells
    of them): its own truncation error is small enough to measure a solver's divergence.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order}.")
    return _derivative(ux, -1, order) + _derivative(uy, -2, order)


def _derivative(values: np.ndarray, axis: int, order: int) -> np.ndarray:
    result = np.gradient(values, axis=axis)
    if order == 4 and values.shape[axis] > 4:

        def part(start: int, stop: int | None) -> np.ndarray:
            return np.take(values, np.arange(values.shape[axis])[start:stop], axis=axis)

        interior = (-part(4, None) + 8 * part(3, -1) - 8 * part(1, -3) + part(0, -4)) / 12
        index = [slice(None)] * values.ndim
        index[axis] = slice(2, -2)
        result[tuple(index)] = interior
    return result


def vorticity(ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    """Vorticity d(uy)/dx - d(ux)/dy, y the row index (anticlockwise positive in plots.field)."""
    return np.gradient(uy, axis=-1) - np.gradient(ux, axis=-2)
