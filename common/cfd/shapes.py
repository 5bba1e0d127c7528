"""Seeded random obstacle shapes rasterized on a channel grid, and their signed distance function.

Two families: ``"mixed"`` (ellipses, rotated rectangles, random polygons and unions of two or
three of them; the training distribution) and ``"airfoil"`` (NACA four-digit profiles at an angle
of attack; a different family for out-of-distribution tests). Every shape is placed in the first
half of the channel, at least two cells from the walls and the inlet, and spans at most 60% of the
channel height, so the flow can always pass it. Importing this module has no side effects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.path import Path as PolygonPath
from scipy import ndimage

FAMILIES = ("mixed", "airfoil")
PRIMITIVES = ("ellipse", "rectangle", "polygon")
MAX_HEIGHT_FRACTION = 0.6
MARGIN = 3  # cells kept free next to the walls and the inlet
# Bump when a seed gives other masks; flow_data's cache key includes it.
SHAPES_VERSION = "1.0"


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates (x, y), each of shape (height, width)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return x, y


def _polygon_mask(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Cells whose centres lie inside the closed polygon (vertices in cell units, (x, y))."""
    x, y = _grid(height, width)
    points = np.column_stack([x.ravel(), y.ravel()])
    return PolygonPath(vertices).contains_points(points).reshape(height, width)


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return points @ np.array([[cos, sin], [-sin, cos]])


def _ellipse(rng: np.random.Generator, size: float) -> np.ndarray:
    semi_axes = rng.uniform(0.25, 0.5, size=2) * size
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    outline = np.column_stack([semi_axes[0] * np.cos(t), semi_axes[1] * np.sin(t)])
    return _rotate(outline, rng.uniform(0, np.pi))


def _rectangle(rng: np.random.Generator, size: float) -> np.ndarray:
    half = rng.uniform(0.15, 0.5, size=2) * size
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    return _rotate(corners, rng.uniform(0, np.pi))


def _polygon(rng: np.random.Generator, size: float) -> np.ndarray:
    """A star-shaped polygon: 3 to 8 vertices at sorted angles and random radii."""
    num_vertices = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, num_vertices))
    radii = rng.uniform(0.25, 0.5, num_vertices) * size
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


_OUTLINES: dict[str, Callable[[np.random.Generator, float], np.ndarray]] = {
    "ellipse": _ellipse,
    "rectangle": _rectangle,
    "polygon": _polygon,
}


def naca_outline(
    thickness: float, camber: float, camber_position: float, points: int = 80
) -> np.ndarray:
    """Closed outline of a NACA four-digit airfoil of unit chord, leading edge at the origin."""
    beta = np.linspace(0, np.pi, points)
    x = (1 - np.cos(beta)) / 2  # cosine spacing resolves the rounded leading edge
    half = (
        5
        * thickness
        * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1036 * x**4)
    )
    p = camber_position
    front = x < p
    camber_line = np.where(
        front,
        camber / p**2 * (2 * p * x - x**2),
        camber / (1 - p) ** 2 * (1 - 2 * p + 2 * p * x - x**2),
    )
    slope = np.where(front, 2 * camber / p**2 * (p - x), 2 * camber / (1 - p) ** 2 * (p - x))
    theta = np.arctan(slope)
    upper = np.column_stack([x - half * np.sin(theta), camber_line + half * np.cos(theta)])
    lower = np.column_stack([x + half * np.sin(theta), camber_line - half * np.cos(theta)])
    return np.vstack([upper, lower[::-1][1:-1]])


def _airfoil(rng: np.random.Generator, size: float) -> np.ndarray:
    outline = naca_outline(
        thickness=rng.uniform(0.10, 0.24),
        camber=rng.uniform(0.0, 0.06),
        camber_position=rng.uniform(0.3, 0.5),
    )
    chord = rng.uniform(1.2, 1.8) * size
    outline = (outline - [0.35, 0.0]) * chord
    outline[:, 1] *= -1  # y grows downwards on the grid; flip so positive camber bulges up
    return _rotate(outline, np.deg2rad(rng.uniform(-20, 20)))


def _place(
    outline: np.ndarray, rng: np.random.Generator, height: int, width: int
) -> np.ndarray | None:
    """Shift an outline (centred near the origin) to a random spot; None if it cannot fit."""
    low, high = outline.min(axis=0), outline.max(axis=0)
    span = high - low
    if span[1] > MAX_HEIGHT_FRACTION * (height - 2) or span[0] > width / 2 - 2 * MARGIN:
        return None
    x_range = (MARGIN + 1 - low[0], width / 2 - high[0])
    y_range = (MARGIN - low[1], height - 1 - MARGIN - high[1])
    if x_range[0] > x_range[1] or y_range[0] > y_range[1]:
        return None
    return outline + [rng.uniform(*x_range), rng.uniform(*y_range)]


def _one_obstacle(rng: np.random.Generator, family: str, height: int, width: int) -> np.ndarray:
    size = (height - 2) * 0.4
    for _ in range(100):
        if family == "airfoil":
            parts = [_airfoil(rng, size)]
        else:
            count = int(rng.choice([1, 1, 2, 3]))
            parts = [_OUTLINES[rng.choice(PRIMITIVES)](rng, size) for _ in range(count)]
            # members of a union overlap: each sits within a third of the size of the first
            parts = [parts[0]] + [p + rng.uniform(-size / 3, size / 3, 2) for p in parts[1:]]
        combined = np.vstack(parts)
        placed = _place(combined, rng, height, width)
        if placed is None:
            continue
        shift = placed[0] - combined[0]
        mask = np.zeros((height, width), dtype=bool)
        for part in parts:
            mask |= _polygon_mask(part + shift, height, width)
        if mask.sum() >= 4:
            return mask
    raise RuntimeError(f"Could not place a {family} obstacle in a {height}x{width} channel.")


def random_obstacles(
    num_obstacles: int, height: int, width: int, *, family: str = "mixed", seed: int = 0
) -> np.ndarray:
    """Boolean masks (True = solid), shape (num_obstacles, height, width), reproducible by seed."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown shape family {family!r}; choose one of {FAMILIES}.")
    if num_obstacles < 0:
        raise ValueError(f"num_obstacles must be >= 0, got {num_obstacles}.")
    rng = np.random.default_rng(seed)
    masks = np.zeros((num_obstacles, height, width), dtype=bool)
    for index in range(num_obstacles):
        masks[index] = _one_obstacle(rng, family, height, width)
    return masks


def signed_distance(masks: np.ndarray) -> np.ndarray:
    """Signed distance to the obstacle surface in cells: positive in the fluid, negative inside."""
    masks = np.asarray(masks, dtype=bool)
    single = masks.ndim == 2
    batch = masks[None] if single else masks
    sdf = np.empty(batch.shape, dtype=np.float32)
    for index, mask in enumerate(batch):
        outside = ndimage.distance_transform_edt(~mask)
        inside = ndimage.distance_transform_edt(mask)
        sdf[index] = np.where(mask, 0.5 - inside, outside - 0.5)
    return sdf[0] if single else sdf
