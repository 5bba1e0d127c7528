"""Steady-flow data sets made by the project's own solver: generate, cache under ``data/``, load.

A sample is an obstacle in a channel (its boolean mask and signed distance function) and the
converged velocity field (ux, uy) around it, from :func:`common.cfd.lbm.solve_steady`. A data set is
fixed by its recipe (:func:`dataset_recipe`): the shapes (family, number, seed, grid), the channel
and the solver's options, the versions of the shape generator and the solver, and their code. It is
cached as ``data/cfd/<family>-<grid>-re<Re>-n<N>-seed<seed>-<hash of the recipe>.npz`` with the
metadata (the recipe among it) and per-sample steps and residuals, and generated on first use; a
cached file that cannot be read or whose recipe differs is generated again. Importing this module
imports PyTorch (through ``common.cfd.lbm``); nothing else happens at import.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from common import paths
from common.cfd import lbm, shapes

# The lesson's grid on every device: its data, thresholds and texts are calibrated on it. The finer
# grid of Guo et al. (2016) and the original lab is an explicit option (refined), not a GPU default.
LESSON_GRID = (64, 128)
ORIGINAL_GRID = (128, 256)
FAST_STEP_MIN_NODES = 16 * 64 * 128  # below this, building a faster step costs more than it saves
CACHE_FORMAT = 2  # the layout of a cached .npz; 2: the recipe is stored in the metadata
# The modules whose code makes the data; a change to their code (not to comments) is a new data set
DATA_SOURCES = ("lbm.py", "lbm_generated.py", "shapes.py")

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
    This is :func:`plan`, :func:`solve_part` of every sample and :func:`assemble`; a parallel run
    gives each worker a part and assembles the same data set.
    """
    options = {"family": family, "seed": seed, "grid": grid, "reynolds": reynolds}
    options |= {"tolerance": tolerance, "max_steps": max_steps, "batch_size": batch_size}
    generation = plan(num_samples, step=step, device=device, **options)
    return assemble(generation, [solve_part(generation, range(num_samples), progress=progress)])


@dataclass
class GenerationPlan:
    """What every worker of one data set agrees on: the recipe, the obstacles, the solver step."""

    recipe: dict[str, Any]
    options: dict[str, Any]  # generate's keyword arguments, step resolved
    flow: lbm.ChannelFlow
    obstacles: np.ndarray  # (N, H, W) bool, every sample of the data set


@dataclass
class SolvedPart:
    """The converged flows of some samples of a plan, and what solving them took."""

    indices: np.ndarray  # (n,) the samples' positions in the data set
    ux: np.ndarray
    uy: np.ndarray
    steps: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    seconds: float
    lattice_updates: int
    step: str  # the step that ran


def plan(num_samples: int, **options: Any) -> GenerationPlan:
    """The recipe, obstacles and solver step of a data set; ``options`` are :func:`generate`'s.

    The step is chosen here, from the whole data set, so that workers solving parts of it run the
    same step (and get the same rounding) as one process solving all of it.
    """
    recipe = dataset_recipe(num_samples, **options)
    bound = _GENERATE.bind(num_samples, **options)
    bound.apply_defaults()
    resolved = {name: value for name, value in bound.arguments.items() if name != "num_samples"}
    resolved.pop("progress")
    grid = tuple(resolved["grid"])
    if resolved["step"] is None:
        large = min(resolved["batch_size"], num_samples) * grid[0] * grid[1] >= FAST_STEP_MIN_NODES
        resolved["step"] = lbm.fast_step(resolved["device"]) if large else "eager"
    obstacles = shapes.random_obstacles(
        num_samples, *grid, family=resolved["family"], seed=resolved["seed"]
    )
    return GenerationPlan(recipe, resolved, channel_for(grid, resolved["reynolds"]), obstacles)


def solve_part(generation: GenerationPlan, indices: Any, progress: bool = True) -> SolvedPart:
    """Solve the samples ``indices`` of a plan (each flow depends on its own obstacle only)."""
    indices = np.asarray(indices, dtype=np.int64)
    options = generation.options
    try:
        solution = lbm.solve_steady(
            generation.obstacles[indices],
            generation.flow,
            batch_size=options["batch_size"],
            tolerance=options["tolerance"],
            max_steps=options["max_steps"],
            step=options["step"],
            device=options["device"],
            progress=progress,
        )
    except lbm.SolverDivergedError as error:
        samples = [int(indices[position]) for position in error.geometries]
        family, seed, num_samples = options["family"], options["seed"], len(generation.obstacles)
        height, width = options["grid"]
        raise lbm.SolverDivergedError(
            f"{error} In this data set they are samples {samples} of the {family!r} family, "
            f"seed {seed}, on the {height}x{width} grid: shapes.random_obstacles({num_samples}, "
            f"{height}, {width}, family={family!r}, seed={seed})[{samples}] rebuilds them.",
            samples,
            error.steps,
        ) from None
    return SolvedPart(
        indices=indices,
        ux=solution.ux,
        uy=solution.uy,
        steps=solution.steps,
        residual=solution.residual,
        converged=solution.converged,
        seconds=solution.seconds,
        lattice_updates=solution.lattice_updates,
        step=solution.metadata["step"],
    )


def assemble(generation: GenerationPlan, parts: list[SolvedPart]) -> FlowDataset:
    """The data set of a plan from parts that together hold every sample exactly once.

    With several parts (workers running side by side), the solver time is the slowest part's and
    the MLUPS figure the sum of the parts' rates; ``metadata["workers"]`` says how many there were.
    """
    num_samples = len(generation.obstacles)
    order = np.concatenate([part.indices for part in parts])
    if np.sort(order).tolist() != list(range(num_samples)):
        raise ValueError(f"the parts must hold each of the {num_samples} samples exactly once")
    position = np.argsort(order)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])[position]

    options, flow = generation.options, generation.flow
    seconds = max(part.seconds for part in parts)
    mlups = sum(part.lattice_updates / part.seconds / 1e6 for part in parts if part.seconds > 0)
    metadata = {
        "family": options["family"],
        "num_samples": num_samples,
        "seed": options["seed"],
        "grid": list(options["grid"]),
        "reynolds": options["reynolds"],
        "u_max": flow.u_max,
        "reference_length": flow.reference_length,
        "viscosity": flow.viscosity,
        "tau": flow.tau,
        "tolerance": options["tolerance"],
        "max_steps": options["max_steps"],
        "solver_version": lbm.SOLVER_VERSION,
        "solver_seconds": seconds,
        "seconds_per_sample": seconds / max(num_samples, 1),
        "mlups": mlups,
        "batch_size": options["batch_size"],
        "step": parts[0].step,
        "workers": len(parts),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "recipe": generation.recipe,
    }
    return FlowDataset(
        obstacles=generation.obstacles,
        sdf=shapes.signed_distance(with_walls(generation.obstacles)),
        ux=joined("ux"),
        uy=joined("uy"),
        steps=joined("steps"),
        residual=joined("residual"),
        converged=joined("converged"),
        metadata=metadata,
    )


_GENERATE = inspect.signature(generate)


def dataset_recipe(num_samples: int, **options: Any) -> dict[str, Any]:
    """Everything that makes a data set, as plain JSON values; ``options`` are :func:`generate`'s.

    Defaults are filled in, so one recipe spelled two ways is one recipe. It holds the shapes
    (family, number, seed, grid, the generator's version), the channel (Reynolds number, inlet
    speed, equilibrium), the solver's options as requested and its version, and a fingerprint of
    the code of :data:`DATA_SOURCES`. ``batch_size``, ``step`` and ``device`` are in it because
    they change at least the rounding; ``step=None`` stays None, since the step it picks depends
    on the machine (the metadata records the step that ran). ``progress`` changes nothing.
    """
    bound = _GENERATE.bind(num_samples, **options)  # a TypeError names an unknown option
    bound.apply_defaults()
    given = bound.arguments
    grid = [int(cells) for cells in given["grid"]]
    device = given["device"]
    return {
        "format": CACHE_FORMAT,
        "shapes": {
            "family": given["family"],
            "num_samples": int(num_samples),
            "seed": int(given["seed"]),
            "grid": grid,
            "version": shapes.SHAPES_VERSION,
        },
        "channel": asdict(channel_for(tuple(grid), float(given["reynolds"]))),
        "solver": {
            "tolerance": float(given["tolerance"]),
            "max_steps": int(given["max_steps"]),
            "batch_size": int(given["batch_size"]),
            "step": given["step"],
            "device": None if device is None else str(device),
            "version": lbm.SOLVER_VERSION,
        },
        "code": {
            name: code_fingerprint(Path(lbm.__file__).with_name(name)) for name in DATA_SOURCES
        },
    }


def code_fingerprint(source: Path) -> str:
    """A short hash of a Python file's code: comments, docstrings and layout do not count."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        documented = isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        )
        if documented and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def cache_file(num_samples: int, **options: Any) -> Path:
    """Where the data set of ``dataset_recipe(num_samples, **options)`` is cached.

    The name starts with what a reader looks for (family, grid, Reynolds number, size, seed) and
    ends in 12 hex digits of the SHA-256 of the whole recipe as canonical JSON, so any change that
    changes the data (an option, a default, a version, the code of the solver or the shape
    generator) is a new file, without a version bump to remember. The code fingerprint ignores
    comments and docstrings but not a refactoring, and may differ between Python versions (the
    syntax tree it hashes does): both only cost a regeneration, never stale data. The versions
    stay in the recipe for what the fingerprint cannot see (a change in PyTorch, say, that a
    maintainer judges to matter). Files of the earlier naming scheme are not found, and left alone.
    """
    return _path_for(dataset_recipe(num_samples, **options))


def cache_path(generation: GenerationPlan) -> Path:
    """Where the data set of a plan is cached (the file :func:`load_flows` reads)."""
    return _path_for(generation.recipe)


def _path_for(made_by: dict[str, Any]) -> Path:
    canonical = json.dumps(made_by, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    shape_recipe, channel = made_by["shapes"], made_by["channel"]
    height, width = shape_recipe["grid"]
    name = (
        f"{shape_recipe['family']}-{height}x{width}-re{channel['reynolds']:g}"
        f"-n{shape_recipe['num_samples']}-seed{shape_recipe['seed']}-{key}.npz"
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
    """A cached data set, generated (and cached) on first use; unconverged samples are dropped.

    A cached file that cannot be read, or whose stored recipe differs from the one asked for, is
    generated again, with a printed note that says why.
    """
    options = {"family": family, "seed": seed, "grid": grid or LESSON_GRID, "reynolds": reynolds}
    options |= {"tolerance": tolerance, **solver_options}
    wanted = dataset_recipe(num_samples, **options)
    path = _path_for(wanted)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Notebooks run side by side (CI's test workers) then build a missing set once, not twice.
    with FileLock(path.with_suffix(".lock")):
        dataset = _from_cache(path, wanted) if path.exists() else None
        if dataset is None:
            dataset = generate(num_samples, progress=progress, **options)
            save(dataset, path)
    failed = int((~dataset.converged).sum())
    if failed and not keep_unconverged:
        print(f"Dropping {failed} of {len(dataset)} samples that did not converge.")
        dataset = dataset.subset(dataset.converged)
    return dataset


# What reading a damaged .npz raises: truncated or not a zip file, not an array, a missing entry
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def _from_cache(path: Path, wanted: dict[str, Any]) -> FlowDataset | None:
    """The cached data set at ``path`` if it is readable and made by ``wanted``; else None."""
    try:
        dataset = load(path)
    except _UNREADABLE as error:
        print(
            f"The cached data set {path.name} is unreadable ({type(error).__name__}: {error}); "
            "regenerating it."
        )
        return None
    difference = _recipe_difference(dataset.metadata.get("recipe"), wanted)
    if difference:
        print(f"The cached data set {path.name} is stale: {difference}; regenerating it.")
        return None
    expected = (wanted["shapes"]["num_samples"], *wanted["shapes"]["grid"])
    fields = (dataset.obstacles, dataset.ux, dataset.uy)
    per_sample = (dataset.steps, dataset.residual, dataset.converged)
    if any(values.shape != expected for values in fields) or any(
        values.shape != expected[:1] for values in per_sample
    ):
        print(
            f"The cached data set {path.name} is unreadable (its arrays do not have the shapes "
            f"of its recipe, {expected} samples x rows x columns); regenerating it."
        )
        return None
    return dataset


def _recipe_difference(stored: Any, wanted: dict[str, Any]) -> str:
    """What differs between a stored recipe and the wanted one, in words ('' if nothing)."""
    if not isinstance(stored, dict):
        return "it records no recipe (a cache of an earlier format)"
    stored_values, wanted_values = _flattened(stored), _flattened(wanted)
    differing = sorted(
        key
        for key in stored_values.keys() | wanted_values.keys()
        if stored_values.get(key) != wanted_values.get(key)
    )
    if not differing:
        return ""
    return "its recipe differs in " + ", ".join(
        f"{key} ({stored_values.get(key)!r} in the file, {wanted_values.get(key)!r} wanted)"
        for key in differing
    )


def _flattened(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat |= _flattened(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


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
