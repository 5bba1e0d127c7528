"""The 2D chip channel flow of the PINN lab: geometry, sampled points, Navier-Stokes residuals and
the OpenFOAM reference solution.

A channel x in [-2.5, 2.5], y in [-0.5, 0.5] holds a chip (a block on the lower wall) at
x in [-1, -1 + width], y in [-0.5, -0.5 + height]; the lesson's chip has height 0.6 and width 1.
Fluid enters on the left with a parabolic profile (peak 1.5, mean 1, so the flow rate per unit
depth is 1), leaves on the right at p = 0, and sticks to the walls and the chip. With nu = 0.02 the
Reynolds number on the channel height and the mean velocity is 50. Everything here accepts a chip
height and width per point, so one sampler serves the fixed chip (notebook 04) and the
parameterised one (notebook 05, where height and width are network inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from common import data, plots
from common.pinn import autodiff
from common.pinn.geometry import Rectangle, sample_box

X_RANGE = (-2.5, 2.5)
Y_RANGE = (-0.5, 0.5)
CHIP_X0 = -1.0
CHIP_HEIGHT = 0.6
CHIP_WIDTH = 1.0
HEIGHT_RANGE = (0.4, 0.8)
WIDTH_RANGE = (0.6, 1.4)
NU = 0.02
INLET_U_MAX = 1.5
FLOW_RATE = 1.0  # = mean inlet velocity x channel height; the same through every vertical line

CHANNEL = Rectangle((X_RANGE[0], Y_RANGE[0]), (X_RANGE[1], Y_RANGE[1]))


def chip(
    height: float | np.ndarray = CHIP_HEIGHT, width: float | np.ndarray = CHIP_WIDTH
) -> Rectangle:
    """Return the chip as a rectangle (height and width may be arrays, one value per point)."""
    height, width = np.asarray(height, dtype=float), np.asarray(width, dtype=float)
    lower = np.stack(
        np.broadcast_arrays(np.full_like(height, CHIP_X0), np.full_like(height, Y_RANGE[0])), -1
    )
    upper = np.stack(np.broadcast_arrays(CHIP_X0 + width, Y_RANGE[0] + height), -1)
    return Rectangle(lower, upper)  # type: ignore[arg-type]


def sdf(
    points: np.ndarray,
    height: float | np.ndarray = CHIP_HEIGHT,
    width: float | np.ndarray = CHIP_WIDTH,
) -> np.ndarray:
    """Return the signed distance to the walls of channel minus chip (positive in the fluid)."""
    return np.minimum(CHANNEL.sdf(points), -chip(height, width).sdf(points))


def inlet_velocity(y: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Return the parabolic inlet velocity: 1.5 at the centre line, 0 at the walls."""
    return INLET_U_MAX * (1 - (2 * y) ** 2)


@dataclass
class ChipPoints:
    """Sampled points of one training set, as float32 tensors.

    Each point has 2 columns (x, y), or 4 (x, y, height, width) for the parameterised chip.
    """

    interior: torch.Tensor
    interior_sdf: torch.Tensor
    inlet: torch.Tensor
    outlet: torch.Tensor
    walls: torch.Tensor
    lines: torch.Tensor  # (num_lines, points_per_line, columns): vertical lines through the fluid
    line_lengths: torch.Tensor  # (num_lines,): the fluid length of each line

    def to(self, device: torch.device | str) -> ChipPoints:
        """Return the same points on ``device``."""
        return ChipPoints(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _geometry_columns(
    num_points: int,
    unit: np.ndarray,
    height: float | tuple[float, float],
    width: float | tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Map two unit columns to chip heights and widths (constant when given as numbers)."""

    def pick(values: np.ndarray, spec: float | tuple[float, float]) -> np.ndarray:
        if isinstance(spec, tuple):
            return spec[0] + values * (spec[1] - spec[0])
        return np.full(num_points, float(spec))

    return pick(unit[:, 0], height), pick(unit[:, 1], width)


def sample(
    num_interior: int = 4000,
    num_boundary: int = 1000,
    num_lines: int = 20,
    points_per_line: int = 64,
    height: float | tuple[float, float] = CHIP_HEIGHT,
    width: float | tuple[float, float] = CHIP_WIDTH,
    seed: int = 0,
) -> ChipPoints:
    """Sample interior, inlet, outlet, wall and integral-line points (Halton, seeded).

    Give ``height`` and ``width`` as (low, high) ranges to sample the parameterised chip: then
    every point carries its own chip's height and width as columns 3 and 4.
    """
    parameterised = isinstance(height, tuple) or isinstance(width, tuple)

    def with_geometry(xy: np.ndarray, h: np.ndarray, w: np.ndarray) -> torch.Tensor:
        columns = [xy, h[:, None], w[:, None]] if parameterised else [xy]
        return torch.tensor(np.concatenate(columns, axis=1), dtype=torch.float32)

    # Interior: 4D Halton over (x, y, h, w), rejecting points inside their own chip.
    draw = int(num_interior * 1.35) + 64
    box = sample_box(
        draw, [X_RANGE[0], Y_RANGE[0], 0, 0], [X_RANGE[1], Y_RANGE[1], 1, 1], seed=seed
    )
    h, w = _geometry_columns(draw, box[:, 2:], height, width)
    distance = sdf(box[:, :2], h, w)
    keep = np.flatnonzero(distance > 1e-6)[:num_interior]
    if len(keep) < num_interior:
        raise RuntimeError("too few interior points: raise the oversampling factor")
    interior = with_geometry(box[keep, :2], h[keep], w[keep])
    interior_sdf = torch.tensor(distance[keep, None], dtype=torch.float32)

    # Inlet and outlet: vertical lines at the channel ends.
    num_end = max(num_boundary // 8, 16)
    ends = sample_box(num_end, [Y_RANGE[0], 0, 0], [Y_RANGE[1], 1, 1], seed=seed + 1)
    h_end, w_end = _geometry_columns(num_end, ends[:, 1:], height, width)
    inlet = with_geometry(np.stack([np.full(num_end, X_RANGE[0]), ends[:, 0]], 1), h_end, w_end)
    outlet = with_geometry(np.stack([np.full(num_end, X_RANGE[1]), ends[:, 0]], 1), h_end, w_end)

    # Walls: top and bottom of the channel (not under the chip) and the chip's three faces,
    # placed along the wall length s in proportion to each piece's length.
    walls = sample_box(num_boundary, [0, 0, 0], [1, 1, 1], seed=seed + 2)
    h_wall, w_wall = _geometry_columns(num_boundary, walls[:, 1:], height, width)
    channel_length = X_RANGE[1] - X_RANGE[0]
    lengths = np.stack(
        [np.full(num_boundary, channel_length), channel_length - w_wall, h_wall, w_wall, h_wall], 1
    )
    edges = np.cumsum(lengths, axis=1)
    s = walls[:, 0] * edges[:, -1]
    piece = (s[:, None] >= edges).sum(axis=1)
    offset = (
        s
        - np.concatenate([np.zeros((num_boundary, 1)), edges[:, :-1]], 1)[
            np.arange(num_boundary), piece
        ]
    )
    x_chip_end = CHIP_X0 + w_wall
    y_chip_top = Y_RANGE[0] + h_wall
    # Bottom wall: the part left of the chip, then the part right of it.
    left_of_chip = CHIP_X0 - X_RANGE[0]
    bottom_x = np.where(
        offset < left_of_chip, X_RANGE[0] + offset, x_chip_end + offset - left_of_chip
    )
    x = np.select(
        [piece == 0, piece == 1, piece == 2, piece == 3, piece == 4],
        [
            X_RANGE[0] + offset,
            bottom_x,
            np.full(num_boundary, CHIP_X0),
            CHIP_X0 + offset,
            x_chip_end,
        ],
    )
    y = np.select(
        [piece == 0, piece == 1, piece == 2, piece == 3, piece == 4],
        [
            np.full(num_boundary, Y_RANGE[1]),
            np.full(num_boundary, Y_RANGE[0]),
            Y_RANGE[0] + offset,
            y_chip_top,
            Y_RANGE[0] + offset,
        ],
    )
    wall_points = with_geometry(np.stack([x, y], 1), h_wall, w_wall)

    lines, line_lengths = _integral_lines(num_lines, points_per_line, height, width, seed + 3)
    if not parameterised:
        lines = lines[..., :2]
    return ChipPoints(
        interior,
        interior_sdf,
        inlet,
        outlet,
        wall_points,
        torch.tensor(lines, dtype=torch.float32),
        torch.tensor(line_lengths, dtype=torch.float32),
    )


def _integral_lines(
    num_lines: int,
    points_per_line: int,
    height: float | tuple[float, float],
    width: float | tuple[float, float],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return evenly spaced vertical lines through the fluid, each with its own chip."""
    unit = sample_box(num_lines, [0, 0, 0], [1, 1, 1], seed=seed)
    span = X_RANGE[1] - X_RANGE[0] - 0.2
    x_lines = X_RANGE[0] + 0.1 + span * (np.arange(num_lines) + 0.5) / num_lines
    h, w = _geometry_columns(num_lines, unit[:, 1:], height, width)
    return vertical_lines(x_lines, points_per_line, h, w)


def vertical_lines(
    x_lines: np.ndarray,
    points_per_line: int,
    height: float | np.ndarray = CHIP_HEIGHT,
    width: float | np.ndarray = CHIP_WIDTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Return points (x, y, height, width) at the midpoints of ``points_per_line`` equal pieces of
    each vertical line through the fluid (from the floor or the chip's top to the ceiling), shape
    (lines, points, 4), and each line's length: mean u times length is the flow rate."""
    x_lines = np.asarray(x_lines, dtype=float)
    h, w = np.broadcast_to(height, x_lines.shape), np.broadcast_to(width, x_lines.shape)
    over_chip = (x_lines > CHIP_X0) & (x_lines < CHIP_X0 + w)
    bottom = np.where(over_chip, Y_RANGE[0] + h, Y_RANGE[0])
    fraction = (np.arange(points_per_line) + 0.5) / points_per_line
    y = bottom[:, None] + fraction[None, :] * (Y_RANGE[1] - bottom)[:, None]
    x, h, w = (np.broadcast_to(values[:, None], y.shape) for values in (x_lines, h, w))
    return np.stack([x, y, h, w], -1), Y_RANGE[1] - bottom


def navier_stokes(
    model: torch.nn.Module, inputs: torch.Tensor, nu: float | torch.Tensor = NU
) -> dict[str, torch.Tensor]:
    """Return the residuals of steady incompressible Navier-Stokes (rho = 1) at ``inputs``.

    ``continuity`` = u_x + v_y, ``momentum_x`` = u u_x + v u_y + p_x - nu (u_xx + u_yy) and
    ``momentum_y`` likewise; x and y are the first two input columns.
    """
    inputs = inputs.requires_grad_(True)
    u, v, p = model(inputs).split(1, dim=1)
    du, dv, dp = (autodiff.grad(f, inputs) for f in (u, v, p))
    u_x, u_y, v_x, v_y = du[:, :1], du[:, 1:2], dv[:, :1], dv[:, 1:2]
    u_xx = autodiff.grad(u_x, inputs)[:, :1]
    u_yy = autodiff.grad(u_y, inputs)[:, 1:2]
    v_xx = autodiff.grad(v_x, inputs)[:, :1]
    v_yy = autodiff.grad(v_y, inputs)[:, 1:2]
    return {
        "continuity": u_x + v_y,
        "momentum_x": u * u_x + v * u_y + dp[:, :1] - nu * (u_xx + u_yy),
        "momentum_y": u * v_x + v * v_y + dp[:, 1:2] - nu * (v_xx + v_yy),
    }


def flow_rates(
    model: torch.nn.Module, lines: torch.Tensor, line_lengths: torch.Tensor
) -> torch.Tensor:
    """Return the flow rate through each vertical line: the integral of u over the fluid part."""
    num_lines, points_per_line, columns = lines.shape
    u = model(lines.reshape(-1, columns))[:, 0].reshape(num_lines, points_per_line)
    return u.mean(dim=1) * line_lengths


@dataclass
class Reference:
    """A reference flow field at scattered points: coordinates (n, 2), and u, v, p (n,)."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    p: np.ndarray


def load_openfoam(verbose: bool = False) -> Reference:
    """Return the OpenFOAM solution of the lesson's chip (registry ``openfoam-chip2d``) in the
    PINN frame: one z-plane, shifted to the channel x in [-2.5, 2.5], y in [-0.5, 0.5]."""
    path = data.fetch("openfoam-chip2d", verbose=verbose)["2D_chip_fluid0.csv"]
    table = np.genfromtxt(path, delimiter=",", names=True)
    plane = table[table["Points2"] < 0]
    xy = np.stack([plane["Points0"] + X_RANGE[0], plane["Points1"] + Y_RANGE[0]], 1)
    return Reference(xy, plane["U0"].copy(), plane["U1"].copy(), plane["p"].copy())


def predict(
    model: torch.nn.Module,
    xy: np.ndarray,
    height: float | None = None,
    width: float | None = None,
    batch_size: int = 16384,
) -> dict[str, np.ndarray]:
    """Return the model's u, v, p at points ``xy``; pass ``height`` and ``width`` for a
    parameterised model (they become the third and fourth input columns)."""
    inputs = np.asarray(xy, dtype=np.float32)
    if height is not None or width is not None:
        geometry = np.tile([[height or CHIP_HEIGHT, width or CHIP_WIDTH]], (len(inputs), 1))
        inputs = np.concatenate([inputs, geometry.astype(np.float32)], axis=1)
    device = next(model.parameters()).device
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(inputs[start : start + batch_size]).to(device)
            outputs.append(model(batch).cpu().numpy())
    uvp = np.concatenate(outputs).astype(np.float64)
    return {"u": uvp[:, 0], "v": uvp[:, 1], "p": uvp[:, 2]}


def errors(prediction: dict[str, np.ndarray], reference: Reference) -> dict[str, float]:
    """Return the relative L2 error of u, v and p against the reference."""
    return {
        name: float(
            np.linalg.norm(prediction[name] - getattr(reference, name))
            / np.linalg.norm(getattr(reference, name))
        )
        for name in ("u", "v", "p")
    }


def loss_terms(
    model: torch.nn.Module,
    points: ChipPoints,
    nu: float | torch.Tensor = NU,
    sdf_weighting: bool = True,
    integral_continuity: bool = True,
) -> dict[str, torch.Tensor]:
    """Return the chip flow's loss terms: the three PDE residuals, inlet, outlet, walls, and the
    flow rate through the vertical lines (each a mean of squares).

    With ``sdf_weighting`` each residual is weighted by the point's distance to the nearest wall,
    which quiets the singular corners of the chip; with ``integral_continuity`` the flow rate
    through every line must equal the inlet's, which a pointwise continuity residual only
    enforces weakly.
    """
    residuals = navier_stokes(model, points.interior.clone(), nu)
    weight = points.interior_sdf if sdf_weighting else 1.0
    terms = {name: (weight * value**2).mean() for name, value in residuals.items()}
    inlet = model(points.inlet)
    inlet_u = inlet_velocity(points.inlet[:, 1:2])
    terms["inlet"] = ((inlet[:, :1] - inlet_u) ** 2).mean() + (inlet[:, 1:2] ** 2).mean()
    terms["outlet"] = (model(points.outlet)[:, 2] ** 2).mean()
    terms["walls"] = (model(points.walls)[:, :2] ** 2).mean()
    if integral_continuity:
        rates = flow_rates(model, points.lines, points.line_lengths)
        terms["integral_continuity"] = ((rates - FLOW_RATE) ** 2).mean()
    return terms


def _triangulation(xy: np.ndarray) -> Any:
    """Delaunay triangles of scattered points, without the triangles that lie inside the chip."""
    from matplotlib.tri import Triangulation

    triangles = Triangulation(xy[:, 0], xy[:, 1])
    centroids = xy[triangles.triangles].mean(axis=1)
    triangles.set_mask(sdf(centroids) < 0)
    return triangles


@plots.styled
def plot_comparison(
    reference: Reference,
    prediction: dict[str, np.ndarray],
    title: str | None = None,
    label: str = "PINN",
) -> Figure:
    """Draw u, v, p of the reference (left), the prediction (middle) and |error| (right)."""
    import matplotlib.pyplot as plt

    triangles = _triangulation(reference.xy)
    fig, axes = plt.subplots(3, 3, figsize=(15, 7.5), sharex=True, sharey=True)
    for row, name in enumerate(("u", "v", "p")):
        truth, guess = getattr(reference, name), prediction[name]
        levels = np.linspace(truth.min(), truth.max(), 41)
        error = np.abs(guess - truth)
        for col, (values, what, cmap, lev) in enumerate(
            [
                (truth, "OpenFOAM", "viridis", levels),
                (guess, label, "viridis", levels),
                (error, "|error|", "magma", 41),
            ]
        ):
            ax = axes[row, col]
            shown = ax.tricontourf(
                triangles,
                np.clip(values, levels[0], levels[-1]) if col < 2 else values,
                levels=lev,
                cmap=cmap,
            )
            fig.colorbar(shown, ax=ax, shrink=0.85)
            ax.set_title(f"{name}: {what}")
            ax.set_aspect("equal")
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    rel = errors(prediction, reference)
    fig.suptitle(
        title or ("Relative L2 error: " + ", ".join(f"{k} {v:.3f}" for k, v in rel.items()))
    )
    fig.tight_layout()
    return fig


@plots.styled
def plot_points(points: ChipPoints, title: str = "Where the loss is evaluated") -> Figure:
    """Draw the sampled points: interior coloured by wall distance, boundaries, integral lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 3.6))
    interior = points.interior.cpu().numpy()
    shown = ax.scatter(
        interior[:, 0],
        interior[:, 1],
        c=points.interior_sdf.cpu().numpy()[:, 0],
        s=2,
        cmap="viridis",
    )
    fig.colorbar(shown, ax=ax, label="distance to the nearest wall (SDF)")
    for part, colour, name in (
        (points.walls, "black", "no-slip walls"),
        (points.inlet, "tab:blue", "inlet: parabolic u"),
        (points.outlet, "tab:red", "outlet: p = 0"),
    ):
        xy = part.cpu().numpy()
        ax.scatter(xy[:, 0], xy[:, 1], s=4, c=colour, label=name)
    lines = points.lines.cpu().numpy()
    for line in lines:
        ax.plot(line[:, 0], line[:, 1], color="tab:orange", lw=1, alpha=0.7)
    ax.plot([], [], color="tab:orange", label="integral-continuity lines")
    ax.set(xlabel="x", ylabel="y", title=title, aspect="equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, fontsize=8)
    fig.tight_layout()
    return fig
