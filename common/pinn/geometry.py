"""Collocation points for PINNs: quasi-random samples on intervals, rectangles, differences.

Points come from :mod:`scipy.stats.qmc` (scrambled Halton or Sobol sequences, seeded), which cover
a domain more evenly than independent uniform draws, so fewer points resolve the residual. Every
shape knows its **signed distance** (positive inside, zero on the boundary, negative outside): a
difference of shapes is sampled by rejection on that distance, and the distance itself is the
standard loss weight that calms the residual near sharp corners (see :func:`sdf_weight`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

METHODS = ("halton", "sobol", "random")
_ON_BOUNDARY = 1e-9  # distances this small count as "on the boundary"


def sample_box(
    num_points: int,
    lower: np.ndarray | list[float] | tuple[float, ...],
    upper: np.ndarray | list[float] | tuple[float, ...],
    seed: int = 0,
    method: str = "halton",
) -> np.ndarray:
    """Return ``num_points`` quasi-random points in the box ``[lower, upper]`` (shape (n, d))."""
    lower = np.atleast_1d(np.asarray(lower, dtype=float))
    upper = np.atleast_1d(np.asarray(upper, dtype=float))
    if lower.shape != upper.shape or np.any(upper <= lower):
        raise ValueError(f"need lower < upper of one shape, got {lower} and {upper}")
    dims = lower.size
    if method == "halton":
        unit = qmc.Halton(d=dims, scramble=True, seed=seed).random(num_points)
    elif method == "sobol":
        sampler = qmc.Sobol(d=dims, scramble=True, seed=seed)
        # Sobol points are balanced in powers of two: draw the next power and keep the first n.
        unit = sampler.random_base2(max(0, math.ceil(math.log2(max(num_points, 1)))))[:num_points]
    elif method == "random":
        unit = np.random.default_rng(seed).random((num_points, dims))
    else:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return qmc.scale(unit, lower, upper) if dims > 0 else unit


@dataclass(frozen=True)
class Boundary:
    """Points on a boundary with their outward unit normals (both of shape (n, d))."""

    points: np.ndarray
    normals: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def select(self, mask: np.ndarray) -> Boundary:
        """Return the points (and normals) where ``mask`` is true."""
        return Boundary(self.points[mask], self.normals[mask])


class Shape:
    """A domain that can measure signed distance and sample its inside and its boundary."""

    dims: int

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Return the signed distance of each point: positive inside, negative outside."""
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the lower and upper corners of a box that holds the shape."""
        raise NotImplementedError

    def measure(self) -> float:
        """Return the length (1D) or area (2D) of the shape."""
        raise NotImplementedError

    def boundary_measure(self) -> float:
        """Return the size of the boundary: its length in 2D, its number of end points in 1D."""
        raise NotImplementedError

    def sample_boundary(self, num_points: int, seed: int = 0, method: str = "halton") -> Boundary:
        """Return ``num_points`` points on the boundary with outward normals."""
        raise NotImplementedError

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Return True for points strictly inside."""
        return self.sdf(points) > _ON_BOUNDARY

    def sample_interior(self, num_points: int, seed: int = 0, method: str = "halton") -> np.ndarray:
        """Return ``num_points`` quasi-random points strictly inside (by rejection from the box)."""
        lower, upper = self.bounds()
        box_measure = float(np.prod(upper - lower))
        share_inside = self.measure() / box_measure
        draw = int(num_points / share_inside * 1.1) + 16
        for _ in range(8):
            candidates = sample_box(draw, lower, upper, seed=seed, method=method)
            inside = candidates[self.contains(candidates)]
            if len(inside) >= num_points:
                return inside[:num_points]
            draw *= 2
        raise RuntimeError(f"could not place {num_points} points inside {self}")

    def __sub__(self, other: Shape) -> Difference:
        return Difference(self, other)


@dataclass(frozen=True)
class Interval(Shape):
    """The interval (a, b) on the real line."""

    a: float
    b: float
    dims = 1

    def sdf(self, points: np.ndarray) -> np.ndarray:
        x = np.asarray(points, dtype=float).reshape(-1)
        return np.minimum(x - self.a, self.b - x)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.a]), np.array([self.b])

    def measure(self) -> float:
        return self.b - self.a

    def boundary_measure(self) -> float:
        return 2.0

    def sample_boundary(
        self, num_points: int = 2, seed: int = 0, method: str = "halton"
    ) -> Boundary:
        """Return the two end points (repeated to ``num_points`` if asked) with normals -1, +1."""
        ends = np.array([[self.a], [self.b]])
        normals = np.array([[-1.0], [1.0]])
        index = np.arange(max(num_points, 2)) % 2
        return Boundary(ends[index], normals[index])


@dataclass(frozen=True)
class Rectangle(Shape):
    """The axis-aligned rectangle with corners ``lower`` = (x0, y0) and ``upper`` = (x1, y1)."""

    lower: tuple[float, float]
    upper: tuple[float, float]
    dims = 2

    def sdf(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float)
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        to_faces = np.minimum(points - lower, upper - points)  # per axis, negative when outside
        inside = to_faces.min(axis=1)
        outside = np.linalg.norm(np.minimum(to_faces, 0.0), axis=1)
        return np.where(inside >= 0, inside, -outside)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.lower, dtype=float), np.asarray(self.upper, dtype=float)

    def measure(self) -> float:
        lower, upper = self.bounds()
        return float(np.prod(upper - lower))

    def boundary_measure(self) -> float:
        lower, upper = self.bounds()
        return float(2 * np.sum(upper - lower))

    def sample_boundary(self, num_points: int, seed: int = 0, method: str = "halton") -> Boundary:
        """Return points spread over the perimeter in proportion to side length, with normals."""
        (x0, y0), (x1, y1) = self.bounds()
        width, height = x1 - x0, y1 - y0
        s = sample_box(num_points, [0.0], [2 * (width + height)], seed=seed, method=method)[:, 0]
        points = np.empty((num_points, 2))
        normals = np.zeros((num_points, 2))
        sides = np.searchsorted([width, width + height, 2 * width + height], s, side="right")
        for side, (start, direction, normal) in enumerate(
            [
                ((x0, y0), (1, 0), (0, -1)),  # bottom, left to right
                ((x1, y0), (0, 1), (1, 0)),  # right, upwards
                ((x1, y1), (-1, 0), (0, 1)),  # top, right to left
                ((x0, y1), (0, -1), (-1, 0)),  # left, downwards
            ]
        ):
            on_side = sides == side
            offset = s[on_side] - [0, width, width + height, 2 * width + height][side]
            points[on_side] = np.asarray(start) + offset[:, None] * np.asarray(direction)
            normals[on_side] = normal
        return Boundary(points, normals)


@dataclass(frozen=True)
class Difference(Shape):
    """The points of ``outer`` that are not in ``hole`` (constructive geometry)."""

    outer: Shape
    hole: Shape

    @property
    def dims(self) -> int:  # type: ignore[override]
        return self.outer.dims

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.minimum(self.outer.sdf(points), -self.hole.sdf(points))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.outer.bounds()

    def measure(self) -> float:
        """Return the measure, estimated from 200,000 quasi-random points (exact for boxes)."""
        lower, upper = self.bounds()
        probe = sample_box(200_000, lower, upper, seed=12345)
        return float(np.prod(upper - lower)) * float(np.mean(self.sdf(probe) > 0))

    def sample_boundary(self, num_points: int, seed: int = 0, method: str = "halton") -> Boundary:
        """Return points on the outer boundary outside the hole and on the hole's boundary inside
        the outer shape (normals of the hole flipped to point out of the domain)."""
        draw = num_points
        for attempt in range(8):
            outer = self.outer.sample_boundary(draw, seed=seed + attempt, method=method)
            hole = self.hole.sample_boundary(draw, seed=seed + 1000 + attempt, method=method)
            keep_outer = outer.select(self.hole.sdf(outer.points) < -_ON_BOUNDARY)
            keep_hole = hole.select(self.outer.sdf(hole.points) > _ON_BOUNDARY)
            # Each part gets points in proportion to the boundary length it keeps.
            outer_length = self.outer.boundary_measure() * len(keep_outer)
            hole_length = self.hole.boundary_measure() * len(keep_hole)
            num_outer = int(round(num_points * outer_length / (outer_length + hole_length)))
            num_hole = num_points - num_outer
            if len(keep_outer) >= num_outer and len(keep_hole) >= num_hole:
                return Boundary(
                    np.concatenate([keep_outer.points[:num_outer], keep_hole.points[:num_hole]]),
                    np.concatenate([keep_outer.normals[:num_outer], -keep_hole.normals[:num_hole]]),
                )
            draw *= 2
        raise RuntimeError(f"could not place {num_points} points on the boundary of {self}")


def sdf_weight(points: np.ndarray, shape: Shape, cap: float | None = None) -> np.ndarray:
    """Return the residual weight ``sdf(x)`` (optionally capped): small next to walls and corners.

    Near a sharp corner the true solution is singular (its derivatives blow up), so residual points
    there would dominate the loss; weighting each interior point by its distance to the boundary,
    as NVIDIA SimNet / PhysicsNeMo-Sym does with ``lambda_weighting={"continuity": Symbol("sdf")}``,
    lets the network fit the bulk of the flow instead.
    """
    weight = np.clip(shape.sdf(points), 0.0, None)
    return np.minimum(weight, cap) if cap is not None else weight
