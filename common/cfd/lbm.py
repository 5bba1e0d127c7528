"""A batched D2Q9 lattice-Boltzmann solver for steady 2D channel flow around obstacles (PyTorch).

Everything is in lattice units: grid spacing 1, time step 1, reference density 1, speed of sound
``1/sqrt(3)``. The grid has ``height`` rows (y) and ``width`` columns (x); rows 0 and
``height - 1`` are the channel walls. Fluid enters at column 0 with a parabolic velocity profile
and leaves at the last column, where the density (pressure) is held at 1; both boundaries use the
non-equilibrium extrapolation of Guo, Zheng and Shi (2002). Walls and obstacles are no-slip
through halfway bounce-back, so a wall sits half a cell outside the last fluid node; where the
caller gives the wall's position on each link (``link_fraction``, e.g. for a circle), interpolated
bounce-back puts a curved wall there instead (Bouzidi et al. 2001). The collision
is two-relaxation-time (TRT) with the magic parameter 3/16, which places halfway bounce-back walls
exactly for Poiseuille flow.

The equilibrium is by default the incompressible one of He and Luo (1997): the density enters only
as a pressure, ``f_eq_i = w_i (rho + rho_0 (3 c.u + 9/2 (c.u)^2 - 3/2 u^2))`` with ``rho_0 = 1`` and
``u = sum_i c_i f_i / rho_0``, so the steady fields conserve the volume flux and are
divergence-free up to the truncation error. The standard (weakly compressible) equilibrium stays
available as ``ChannelFlow(equilibrium="standard")`` to show the error it makes: with a velocity
inlet and a pressure outlet, the pressure drop across an obstacle becomes a density drop, and the
velocity downstream rises by the same factor.

One tensor holds many geometries at once, ``f`` of shape ``(batch, 9, height, width)``, on the CPU
or a CUDA GPU. The time step runs as written here ("eager"), through ``torch.compile``
("compiled"), or, on the CPU, as C kernels that pystencils generates from the same formulas
("generated", :mod:`common.cfd.lbm_generated`). Importing this module imports PyTorch; nothing else
happens at import.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

import numpy as np
import torch

SOLVER_VERSION = "2.0"  # 2.0: incompressible equilibrium (He and Luo 1997)

# D2Q9: rest, the four axis directions, the four diagonals; (cx, cy) with x to the right, y down.
VELOCITIES = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (-1, -1), (1, -1))
WEIGHTS = (4 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 36, 1 / 36, 1 / 36, 1 / 36)
OPPOSITE = (0, 3, 4, 1, 2, 7, 8, 5, 6)
MAGIC_LAMBDA = 3 / 16
BYTES_PER_UPDATE_FLOAT32 = 2 * 9 * 4  # read and write nine float32 populations per node and step
EQUILIBRIA = ("incompressible", "standard")
# The range the tests validate: tau near 1/2 is unstable and far above 1 inaccurate; the error of
# the equilibrium grows with the Mach number u_max / c_s (c_s = 1/sqrt(3)).
TAU_RANGE = (0.51, 3.0)
MAX_U_MAX = 0.15  # Mach 0.26
# How the time step runs: the PyTorch step as written, the same step through torch.compile, or the
# fused C kernels that pystencils generates from the same formulas (CPU only, see
# common.cfd.lbm_generated).
STEPS = ("eager", "compiled", "generated")


@dataclass(frozen=True)
class ChannelFlow:
    """The physical set-up: grid size, Reynolds number and inlet speed (lattice units)."""

    height: int = 64
    width: int = 128
    reynolds: float = 20.0
    u_max: float = 0.1
    length_scale: float | None = None
    equilibrium: str = "incompressible"

    def __post_init__(self) -> None:
        if self.equilibrium not in EQUILIBRIA:
            raise ValueError(
                f"Unknown equilibrium {self.equilibrium!r}; choose one of {EQUILIBRIA}."
            )
        if not self.u_max > 0:  # also refuses NaN
            raise ValueError(
                f"u_max = {self.u_max:g} is not a positive inlet speed; raise u_max above 0 "
                f"(at most {MAX_U_MAX}, the top of the low-Mach range)."
            )
        if self.u_max > MAX_U_MAX:
            raise ValueError(
                f"u_max = {self.u_max:g} (Mach {self.u_max * 3**0.5:.2f}) is beyond the low-Mach "
                "range the solver is validated for: the equilibrium's error grows with the square "
                f"of the Mach number u_max / c_s; lower u_max to at most {MAX_U_MAX} (at a fixed "
                "Reynolds number that also lowers tau: lower reynolds with it if tau gets too "
                "close to 1/2)."
            )
        if not (self.reynolds > 0 and math.isfinite(self.reynolds)):
            infinite = self.reynolds == math.inf
            advice = "lower reynolds to a finite value" if infinite else "raise reynolds above 0"
            raise ValueError(
                f"reynolds = {self.reynolds:g} must be positive and finite: the viscosity "
                "u_mean L / Re sets tau = 1/2 + 3 nu, and tau must stay above 1/2 (at 1/2 the "
                f"viscosity vanishes, below it is negative); {advice}."
            )
        if self.length_scale is not None and not (
            self.length_scale > 0 and math.isfinite(self.length_scale)
        ):
            raise ValueError(
                f"length_scale = {self.length_scale:g} must be a positive, finite length in cells "
                "(the obstacle size the Reynolds number refers to); raise length_scale above 0, "
                "or leave it None for a quarter of the channel."
            )
        self._check_tau()

    def _check_tau(self) -> None:
        """Refuse a relaxation time outside TAU_RANGE, saying which parameter to turn which way."""
        low, high = TAU_RANGE
        length = self.reference_length
        # tau - 1/2 = 3 nu = 2 u_max L / Re: what a learner can change, and in which direction
        formula = (
            f"tau = 1/2 + 2 u_max L / Re with Re {self.reynolds:g}, u_max {self.u_max:g} and "
            f"reference length L = {length:g} cells"
        )
        if self.tau < low:
            largest_reynolds = _round(2 * self.u_max * length / (low - 0.5), down=True)
            needed_length = _round((low - 0.5) * self.reynolds / (2 * self.u_max), down=False)
            raise ValueError(
                f"Relaxation time tau = {self.tau:.4f} is too close to 1/2 (it must be at least "
                f"{low}): the viscosity is too small for the grid and the run would blow up. "
                f"{formula}, so raise tau: lower reynolds to at most {largest_reynolds:g}, "
                f"raise u_max (at most {MAX_U_MAX}), or raise the reference length (more rows, "
                f"or a larger length_scale; L >= {needed_length:g} cells would do)."
            )
        if self.tau > high:
            smallest_reynolds = _round(2 * self.u_max * length / (high - 0.5), down=False)
            largest_length = _round((high - 0.5) * self.reynolds / (2 * self.u_max), down=True)
            enough = f"; L <= {largest_length:g} cells would do" if largest_length >= 2 else ""
            raise ValueError(
                f"Relaxation time tau = {self.tau:.4f} is above {high}: the viscosity is so large "
                f"that the scheme's error grows. {formula}, so lower tau: raise reynolds to at "
                f"least {smallest_reynolds:g}, lower u_max, or lower the reference length (a "
                f"coarser grid, or a smaller length_scale{enough})."
            )

    @property
    def incompressible(self) -> bool:
        """Whether the He-Luo incompressible equilibrium is used (the default)."""
        return self.equilibrium == "incompressible"

    @property
    def fluid_height(self) -> int:
        """Channel width between the two walls, in cells."""
        return self.height - 2

    @property
    def reference_length(self) -> float:
        """Obstacle size the Reynolds number refers to (a quarter of the channel by default)."""
        return self.length_scale if self.length_scale is not None else self.fluid_height / 4

    @property
    def u_mean(self) -> float:
        """Mean inlet velocity of the parabolic profile: two thirds of its peak."""
        return 2 * self.u_max / 3

    @property
    def viscosity(self) -> float:
        """Kinematic viscosity from Re = u_mean * L / nu."""
        return self.u_mean * self.reference_length / self.reynolds

    @property
    def tau(self) -> float:
        """BGK-equivalent relaxation time: nu = (tau - 1/2) / 3."""
        return 3 * self.viscosity + 0.5


def _round(value: float, down: bool, digits: int = 3) -> float:
    """``value`` to ``digits`` significant digits, rounded down or up (a bound that still holds)."""
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    return (math.floor(value * scale) if down else math.ceil(value * scale)) / scale


class SolverDivergedError(FloatingPointError):
    """Populations turned NaN or infinite: for ``geometries`` (indices), after ``steps`` steps."""

    def __init__(self, message: str, geometries: list[int], steps: int) -> None:
        super().__init__(message)
        self.geometries = geometries
        self.steps = steps


def inlet_profile(height: int, u_max: float) -> np.ndarray:
    """Parabolic velocity at each row, zero on the walls half a cell outside rows 1 and height-2."""
    y = np.arange(height, dtype=np.float64)
    width = height - 2
    profile = 4 * u_max * (y - 0.5) * (height - 1.5 - y) / width**2
    profile[[0, -1]] = 0.0
    return profile


def poiseuille_pressure_gradient(flow: ChannelFlow) -> float:
    """Analytic dp/dx of fully developed channel flow: -8 rho nu u_max / width**2 (rho = 1)."""
    return -8 * flow.viscosity * flow.u_max / flow.fluid_height**2


@dataclass
class SteadyFlow:
    """Converged fields and what it took to get them, one entry per geometry."""

    ux: np.ndarray
    uy: np.ndarray
    rho: np.ndarray
    solid: np.ndarray
    steps: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    seconds: float  # wall time of the stepping, without the first (compiling) call
    mlups: float  # lattice_updates / seconds / 1e6
    lattice_updates: int  # node updates of geometries still running (finished slots not counted)
    flow: ChannelFlow
    metadata: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, largest residual)
    populations: np.ndarray | None = None  # (batch, 9, H, W) post-collision, if asked for

    @property
    def speed(self) -> np.ndarray:
        """Velocity magnitude |u|."""
        return np.hypot(self.ux, self.uy)


def check_obstacles(obstacles: Any, flow: ChannelFlow) -> np.ndarray:
    """Validate a boolean obstacle mask of shape (batch, height, width) or (height, width)."""
    mask = obstacles.detach().cpu().numpy() if isinstance(obstacles, torch.Tensor) else obstacles
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        kind = getattr(mask, "dtype", type(mask))
        raise TypeError(f"Obstacles must be a boolean array (True = solid), got {kind}.")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or mask.shape[1:] != (flow.height, flow.width):
        raise ValueError(
            f"Obstacles must have shape (batch, {flow.height}, {flow.width}) to match the "
            f"channel, got {mask.shape}."
        )
    if mask.shape[0] == 0:
        raise ValueError("The batch of obstacles is empty.")
    if flow.height < 5 or flow.width < 5:
        raise ValueError(f"The grid {flow.height}x{flow.width} is too small (at least 5x5).")
    interior = mask[:, 1:-1, :]
    for index, sample in enumerate(interior):
        if sample.all():
            raise ValueError(f"Obstacle {index} fills the whole channel: there is no fluid.")
        if sample[:, :2].any() or sample[:, -2:].any():
            raise ValueError(
                f"Obstacle {index} touches the inlet or outlet (first or last two columns); "
                "keep it at least two cells away from both ends."
            )
        if sample.all(axis=0).any():
            raise ValueError(f"Obstacle {index} blocks the channel from wall to wall.")
    return mask


def _lattice(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    velocities = torch.tensor(VELOCITIES, dtype=torch.float32, device=device)
    cx = velocities[:, 0].view(1, 9, 1, 1)
    cy = velocities[:, 1].view(1, 9, 1, 1)
    weights = torch.tensor(WEIGHTS, dtype=torch.float32, device=device).view(1, 9, 1, 1)
    return cx, cy, weights


def equilibrium(
    rho: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor, incompressible: bool = True
) -> torch.Tensor:
    """Equilibrium populations (batch, 9, ...): He-Luo incompressible, or the standard one.

    Standard: ``w_i rho (1 + 3 c.u + 9/2 (c.u)^2 - 3/2 u^2)``; incompressible: ``w_i (rho + 3 c.u
    + 9/2 (c.u)^2 - 3/2 u^2)``, the velocity terms multiplied by the reference density 1.
    """
    cx, cy, weights = _lattice(rho.device)
    cu = cx * ux.unsqueeze(1) + cy * uy.unsqueeze(1)
    usq = (ux * ux + uy * uy).unsqueeze(1)
    velocity_terms = 3 * cu + 4.5 * cu * cu - 1.5 * usq
    rho = rho.unsqueeze(1)
    return weights * (rho + velocity_terms if incompressible else rho * (1 + velocity_terms))


def macroscopic(
    f: torch.Tensor, incompressible: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Density and velocity (rho, ux, uy) from the populations.

    The incompressible model divides the momentum by the reference density 1, the standard one
    by the local density.
    """
    cx, cy, _ = _lattice(f.device)
    rho = f.sum(1)
    scale = 1.0 if incompressible else rho
    ux = (f * cx).sum(1) / scale
    uy = (f * cy).sum(1) / scale
    return rho, ux, uy


class _Stepper:
    """One time step on post-collision populations: stream (with bounce-back), boundaries, collide.

    The populations are handled as nine (batch, height, width) planes with every loop unrolled, so
    that ``torch.compile`` can fuse the whole step into one pass over the grid.
    """

    def __init__(
        self,
        solid: torch.Tensor,
        flow: ChannelFlow,
        compile_step: bool,
        link_fraction: torch.Tensor | None = None,
    ) -> None:
        device = solid.device
        self.omega_plus = 1 / flow.tau
        self.omega_minus = 1 / (0.5 + MAGIC_LAMBDA / (flow.tau - 0.5))
        self.solid = solid
        self.incompressible = flow.incompressible
        # halfway bounce-back: f_i arrives from x - c_i; if that node is solid, reflect g_opp(i)
        self.from_solid = [torch.roll(solid, (cy, cx), dims=(-2, -1)) for cx, cy in VELOCITIES]
        # interpolated bounce-back (Bouzidi et al. 2001) where wall distances are given
        self.coefficients = (
            None if link_fraction is None else bouzidi_coefficients(link_fraction, solid)
        )
        profile = inlet_profile(flow.height, flow.u_max)
        self.inlet_ux = torch.tensor(profile, dtype=torch.float32, device=device).view(1, -1, 1)
        self.step = self._compiled_first_step if compile_step else self._step
        self.kind = "compiled" if compile_step else "eager"

    def load(self, slot: int, solid: torch.Tensor, link_fraction: torch.Tensor | None) -> None:
        """Put a new geometry into one slot of the batch, in place (no recompilation)."""
        self.solid[slot] = solid
        for mask, (cx, cy) in zip(self.from_solid, VELOCITIES, strict=True):
            mask[slot] = torch.roll(solid, (cy, cx), dims=(-2, -1))
        if self.coefficients is not None:
            new = bouzidi_coefficients(link_fraction[None], solid[None])
            for planes, new_planes in zip(self.coefficients, new, strict=True):
                for plane, new_plane in zip(planes, new_planes, strict=True):
                    plane[slot] = new_plane[0]

    def _compiled_first_step(self, g: torch.Tensor) -> torch.Tensor:
        """Compile on the first call; fall back to eager mode where compiling fails."""
        compiled = torch.compile(self._step, dynamic=False)
        try:
            result = compiled(g)
        except Exception as error:  # noqa: BLE001 (no C++ compiler, unsupported platform, ...)
            warnings.warn(
                f"torch.compile failed ({type(error).__name__}); the solver runs uncompiled, "
                "several times slower.",
                stacklevel=3,
            )
            self.step, self.kind = self._step, "eager"
            return self._step(g)
        self.step = compiled
        return result

    def _step(self, g: torch.Tensor) -> torch.Tensor:
        streamed = [
            torch.roll(g[:, i], (cy, cx), dims=(-2, -1)) for i, (cx, cy) in enumerate(VELOCITIES)
        ]
        if self.coefficients is None:  # halfway: the population that left towards the wall
            reflected = [g[:, OPPOSITE[i]] for i in range(9)]
        else:
            reflected = _interpolated_bounce_back(g, streamed, self.coefficients)
        f = [torch.where(self.from_solid[i], reflected[i], streamed[i]) for i in range(9)]
        inc = self.incompressible
        inlet = _planes_inlet(
            [plane[..., 1:2] for plane in f], [plane[..., 2:3] for plane in f], self.inlet_ux, inc
        )
        outlet = _planes_outlet([plane[..., -2:-1] for plane in f], inc)
        f = [
            torch.cat([first, plane[..., 1:-1], last], dim=-1)
            for first, plane, last in zip(inlet, f, outlet, strict=True)
        ]
        post = _planes_collide(f, self.omega_plus, self.omega_minus, inc)
        return torch.stack(
            [torch.where(self.solid, WEIGHTS[i], post[i]) for i in range(9)], dim=1
        )  # solid nodes stay at rest and carry no flow


def bouzidi_coefficients(
    link_fraction: torch.Tensor, solid: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Weights (a, b, c) of linear interpolated bounce-back, one (batch, H, W) plane per direction.

    ``link_fraction[:, i]`` at a fluid node x is q, the fraction of the link from x to x + c_i
    that lies in the fluid, where x + c_i is solid (NaN: halfway, q = 1/2). The population
    arriving at x in direction j = opposite(i) is a g_i(x) + b g_i(x - c_i) + c g_j(x), from the
    post-collision populations g (Bouzidi, Firdaouss and Lallemand 2001):
    q < 1/2: a = 2q, b = 1 - 2q, c = 0; q >= 1/2: a = 1/(2q), b = 0, c = 1 - 1/(2q).
    Links where q is missing, or q < 1/2 and x - c_i is solid too, fall back to halfway.
    """
    a_planes, b_planes, c_planes = [], [], []
    for j in range(9):
        i = OPPOSITE[j]
        cx, cy = VELOCITIES[i]
        q = link_fraction[:, i].to(torch.float32)
        behind_solid = torch.roll(solid, (cy, cx), dims=(-2, -1))  # x - c_i is solid
        halfway = torch.isnan(q) | ((q < 0.5) & behind_solid)
        q = torch.where(halfway, torch.full_like(q, 0.5), q)
        near = q < 0.5
        a_planes.append(torch.where(near, 2 * q, 1 / (2 * q)))
        b_planes.append(torch.where(near, 1 - 2 * q, torch.zeros_like(q)))
        c_planes.append(torch.where(near, torch.zeros_like(q), 1 - 1 / (2 * q)))
    return a_planes, b_planes, c_planes


def _interpolated_bounce_back(
    g: torch.Tensor, streamed: list[torch.Tensor], coefficients: tuple
) -> list[torch.Tensor]:
    a_planes, b_planes, c_planes = coefficients
    reflected = []
    for j in range(9):
        i = OPPOSITE[j]
        reflected.append(a_planes[j] * g[:, i] + b_planes[j] * streamed[i] + c_planes[j] * g[:, j])
    return reflected


def _planes_moments(
    f: list[torch.Tensor], incompressible: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rho = f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]
    ux = f[1] - f[3] + f[5] - f[6] - f[7] + f[8]
    uy = f[2] - f[4] + f[5] + f[6] - f[7] - f[8]
    if not incompressible:
        ux, uy = ux / rho, uy / rho
    return rho, ux, uy


def _planes_equilibrium(
    rho: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor, incompressible: bool
) -> list[torch.Tensor]:
    usq = 1.5 * (ux * ux + uy * uy)
    planes = []
    for (cx, cy), weight in zip(VELOCITIES, WEIGHTS, strict=True):
        cu = 3 * (cx * ux + cy * uy) if (cx or cy) else None
        velocity_terms = -usq if cu is None else cu + 0.5 * cu * cu - usq
        if incompressible:
            planes.append(weight * (rho + velocity_terms))
        else:
            planes.append(weight * rho * (1 + velocity_terms))
    return planes


def _planes_collide(
    f: list[torch.Tensor], omega_plus: float, omega_minus: float, incompressible: bool
) -> list:
    """TRT collision: relax the even and odd parts of f - f_eq at their own rates."""
    feq = _planes_equilibrium(*_planes_moments(f, incompressible), incompressible)
    post = []
    for i in range(9):
        j = OPPOSITE[i]
        even = 0.5 * (f[i] + f[j] - feq[i] - feq[j])
        odd = 0.5 * (f[i] - f[j] - feq[i] + feq[j])
        post.append(f[i] - omega_plus * even - omega_minus * odd)
    return post


def _planes_inlet(
    next_column: list[torch.Tensor],
    second_column: list[torch.Tensor],
    ux_in: torch.Tensor,
    incompressible: bool,
) -> list[torch.Tensor]:
    """Velocity inlet: prescribed u, the non-equilibrium part from the next column, and the
    density extrapolated linearly from the next two (a copied density would drop the pressure
    gradient across the first link, and with it part of the inflow)."""
    rho, ux, uy = _planes_moments(next_column, incompressible)
    rho_in = 2 * rho - sum(second_column)
    target = _planes_equilibrium(rho_in, ux_in, 0.0, incompressible)  # ux_in broadcasts over rho
    current = _planes_equilibrium(rho, ux, uy, incompressible)
    return [t + f - c for t, f, c in zip(target, next_column, current, strict=True)]


def _planes_outlet(previous_column: list[torch.Tensor], incompressible: bool) -> list[torch.Tensor]:
    """Pressure outlet: density 1, velocity and non-equilibrium part from the column before."""
    rho, ux, uy = _planes_moments(previous_column, incompressible)
    target = _planes_equilibrium(1.0, ux, uy, incompressible)
    current = _planes_equilibrium(rho, ux, uy, incompressible)
    return [t + f - c for t, f, c in zip(target, previous_column, current, strict=True)]


def _inlet_populations(flow: ChannelFlow, device: torch.device) -> torch.Tensor:
    """Equilibrium populations of the parabolic inlet, shape (1, 9, height, 1)."""
    profile = torch.tensor(inlet_profile(flow.height, flow.u_max), dtype=torch.float32)
    ux = profile.to(device).view(1, -1, 1)
    return equilibrium(torch.ones_like(ux), ux, torch.zeros_like(ux), flow.incompressible)


def initial_state(solid: torch.Tensor, flow: ChannelFlow) -> torch.Tensor:
    """Populations of the undisturbed channel: the inlet profile everywhere, at rest in solids."""
    inlet = _inlet_populations(flow, solid.device)
    f = inlet.expand(solid.shape[0], -1, -1, flow.width).clone()
    rest = torch.tensor(WEIGHTS, dtype=torch.float32, device=solid.device).view(1, 9, 1, 1)
    return torch.where(solid.unsqueeze(1), rest, f)


def solve_steady(
    obstacles: Any,
    flow: ChannelFlow | None = None,
    *,
    batch_size: int | None = None,
    max_steps: int = 40_000,
    tolerance: float = 1e-5,
    check_every: int = 100,
    device: str | torch.device | None = None,
    step: str = "eager",
    progress: bool = False,
    keep_populations: bool = False,
    link_fraction: np.ndarray | None = None,
) -> SteadyFlow:
    """Run every geometry to a steady state and return its fields.

    The solver steps ``batch_size`` geometries at once (all of them by default). A geometry has
    converged when the largest velocity change over ``check_every`` steps, per step and relative
    to ``u_max``, falls below ``tolerance``; its fields are stored and the next waiting geometry
    takes its slot, so the batch keeps its size (a compiled step is compiled once). ``step`` is one
    of :data:`STEPS` (:func:`fast_step` picks the fastest for a device). Geometries
    still changing after ``max_steps`` are flagged ``converged=False``; a geometry whose flow turns
    NaN or infinite stops the run with a :class:`SolverDivergedError` that names it. The MLUPS
    figure counts the updates of geometries still running: a slot whose geometry has finished
    while others still run is stepped, but does no useful work. ``keep_populations`` also
    returns the final post-collision populations (for forces by momentum exchange).
    ``link_fraction`` (batch, 9, H, W), where given, places curved walls between the nodes by
    interpolated bounce-back (see :func:`bouzidi_coefficients`); by default every wall is halfway.
    """
    flow = flow or ChannelFlow()
    mask = check_obstacles(obstacles, flow)
    device = torch.device(device) if device is not None else _default_device()
    solid_all = torch.from_numpy(mask.copy()).to(device)  # the caller keeps its mask
    solid_all[:, [0, -1], :] = True  # the channel walls
    count = solid_all.shape[0]
    slots = min(batch_size or count, count)

    slot_geometry = np.arange(slots)  # which geometry each slot holds; -1 once the queue is empty
    waiting = iter(range(slots, count))
    slot_steps = np.zeros(slots, dtype=np.int64)
    links = None
    if link_fraction is not None:
        links = torch.as_tensor(np.asarray(link_fraction, np.float32), device=device)
        links = links[None] if links.ndim == 3 else links
        if links.shape != (count, 9, flow.height, flow.width):
            raise ValueError(
                f"link_fraction must have shape ({count}, 9, {flow.height}, {flow.width}), "
                f"got {tuple(links.shape)}."
            )
    setup_seconds, start = None, time.perf_counter()
    stepper = _make_stepper(
        solid_all[:slots].clone(), flow, step, None if links is None else links[:slots]
    )
    f = initial_state(stepper.solid, flow)
    fields = torch.empty((count, 3, flow.height, flow.width), device=device)
    kept = torch.empty((count, 9, flow.height, flow.width)) if keep_populations else None
    steps = np.zeros(count, dtype=np.int64)
    residual = np.full(count, np.inf)
    converged = np.zeros(count, dtype=bool)
    _, ux_prev, uy_prev = macroscopic(f, flow.incompressible)
    updates, total_steps, history = 0, 0, []
    bar = _progress_bar(count, progress)
    while (slot_geometry >= 0).any():
        busy = slot_geometry >= 0
        busy_updates = int(busy.sum()) * flow.height * flow.width  # per step
        for _ in range(check_every):
            f = stepper.step(f)
            if setup_seconds is None:  # building the stepper and its first call: timed on its own
                _synchronize(device)
                setup_seconds, start = time.perf_counter() - start, time.perf_counter()
                updates -= busy_updates
        slot_steps += check_every
        total_steps += check_every
        updates += check_every * busy_updates
        rho, ux, uy = macroscopic(f, flow.incompressible)
        change = torch.maximum((ux - ux_prev).abs(), (uy - uy_prev).abs())
        rate = (change.amax(dim=(-2, -1)) / (check_every * flow.u_max)).cpu().numpy()
        # the density sums every population, the rest one too, which moves no momentum
        finite = torch.isfinite(rho).flatten(1).all(1).cpu().numpy() & np.isfinite(rate)
        if not finite[busy].all():
            _raise_diverged(slot_geometry[busy & ~finite], count, slot_steps[busy & ~finite], flow)
        history.append((total_steps, float(rate[busy].max())))
        finished = busy & ((rate < tolerance) | (slot_steps >= max_steps))
        for slot in np.flatnonzero(finished):
            geometry = slot_geometry[slot]
            fields[geometry] = torch.stack([rho[slot], ux[slot], uy[slot]])
            if kept is not None:
                kept[geometry] = f[slot].cpu()
            steps[geometry], residual[geometry] = slot_steps[slot], rate[slot]
            converged[geometry] = rate[slot] < tolerance
            slot_geometry[slot] = next(waiting, -1)
            if slot_geometry[slot] >= 0:
                geometry = slot_geometry[slot]
                stepper.load(slot, solid_all[geometry], None if links is None else links[geometry])
                f[slot] = initial_state(stepper.solid[slot : slot + 1], flow)[0]
                slot_steps[slot] = 0
        if finished.any():
            ux, uy = macroscopic(f, flow.incompressible)[1:]
        ux_prev, uy_prev = ux, uy
        bar.update(int(finished.sum()))
        bar.set_postfix(step=int(slot_steps.max()), residual=f"{rate[busy].max():.1e}")
    bar.close()
    seconds = time.perf_counter() - start
    solid = solid_all.cpu().numpy()
    metadata = {"solver_version": SOLVER_VERSION, "tolerance": tolerance, "step": stepper.kind}
    rho, ux, uy = (fields[:, channel].cpu().numpy() for channel in range(3))
    return SteadyFlow(
        ux=np.where(solid, 0.0, ux).astype(np.float32),
        uy=np.where(solid, 0.0, uy).astype(np.float32),
        rho=rho,
        solid=solid,
        steps=steps,
        residual=residual,
        converged=converged,
        seconds=seconds,
        mlups=updates / seconds / 1e6,
        lattice_updates=updates,
        flow=flow,
        metadata=metadata | {"first_step_seconds": setup_seconds} | asdict(flow),
        history=history,
        populations=None if kept is None else kept.numpy(),
    )


def _raise_diverged(
    geometries: np.ndarray, count: int, steps: np.ndarray, flow: ChannelFlow
) -> NoReturn:
    """Stop a run whose flows turned NaN or infinite, naming them and what to change."""
    raise SolverDivergedError(
        f"The solver diverged (NaN or infinite populations) for geometries {geometries.tolist()} "
        f"of {count} (their indices in the obstacles passed in) after {int(steps.max())} steps: "
        f"tau = {flow.tau:.6g} (Re {flow.reynolds:g}, u_max {flow.u_max:g}, reference length "
        f"{flow.reference_length:g} cells) leaves too little viscosity for these shapes on this "
        "grid. Raise tau: lower reynolds, or use a finer grid (raises the reference length); "
        "a gap of a cell or two between an obstacle and a wall also needs a lower speed there.",
        geometries.tolist(),
        int(steps.max()),
    )


def measure_mlups(
    obstacles: Any,
    flow: ChannelFlow | None = None,
    *,
    num_steps: int = 200,
    step: str = "eager",
    device: str | torch.device | None = None,
) -> float:
    """Million lattice updates per second of the time step on a batch (after a warm-up).

    Every geometry is stepped ``num_steps`` times and none finishes, so every update counts.
    """
    flow = flow or ChannelFlow()
    mask = check_obstacles(obstacles, flow)
    device = torch.device(device) if device is not None else _default_device()
    solid = torch.from_numpy(mask.copy()).to(device)  # the caller keeps its mask
    solid[:, [0, -1], :] = True
    stepper = _make_stepper(solid, flow, step, None)
    f = initial_state(solid, flow)
    for _ in range(10):  # compiles on the first call
        f = stepper.step(f)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(num_steps):
        f = stepper.step(f)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return num_steps * solid.numel() / seconds / 1e6


def copy_bandwidth(device: str | torch.device | None = None, megabytes: int = 512) -> float:
    """Read+write bandwidth of a large float32 tensor copy, in GB/s: a memory-bound step's roofline.

    The step moves ``BYTES_PER_UPDATE_FLOAT32`` bytes per node update, so MLUPS times that over
    this bandwidth is the fraction of the roofline a step reaches.
    """
    import torch.utils.benchmark as torch_benchmark  # not loaded by `import torch`

    device = torch.device(device) if device is not None else _default_device()
    source = torch.empty(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    timer = torch_benchmark.Timer("t.copy_(s)", globals={"t": target, "s": source})
    seconds = timer.blocked_autorange(min_run_time=1.0).median
    return 2 * source.numel() * 4 / seconds / 1e9


def fast_step(device: str | torch.device | None = None) -> str:
    """The fastest step for a device: the generated kernels on a CPU where pystencils is
    installed, else the compiled PyTorch step."""
    from common.cfd import lbm_generated

    device = torch.device(device) if device is not None else _default_device()
    return "generated" if device.type == "cpu" and lbm_generated.available() else "compiled"


def _make_stepper(
    solid: torch.Tensor, flow: ChannelFlow, step: str, link_fraction: torch.Tensor | None
) -> Any:
    """The stepper for one of :data:`STEPS`; its ``kind`` says which step actually runs."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {STEPS}, got {step!r}.")
    if step == "generated":
        if solid.device.type != "cpu":
            raise ValueError("The generated kernels run on the CPU; use step='compiled' on a GPU.")
        if link_fraction is not None:
            raise ValueError("Interpolated walls (link_fraction) need step='eager' or 'compiled'.")
        from common.cfd import lbm_generated

        stepper = lbm_generated.try_stepper(solid, flow)
        if stepper is not None:
            return stepper
        step = "compiled"  # try_stepper has warned
    return _Stepper(solid, flow, step == "compiled", link_fraction)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Steady flows", unit="flow", disable=not enabled)


# Schaefer and Turek (1996), benchmark 2D-1: steady flow at Re 20 past a cylinder of diameter
# D = 0.1 m at (0.2, 0.2) m in a 2.2 m x 0.41 m channel, parabolic inflow of mean speed 0.2 m/s.
# Reference values of John (2004), to the digits the benchmark quotes.
SCHAEFER_TUREK_2D1 = {"drag": 5.5795, "lift": 0.0106, "pressure_difference": 0.1175}


@dataclass
class CylinderBenchmark:
    """The 2D-1 coefficients on one grid, against the published reference values."""

    diameter: int  # cylinder diameter in cells
    drag: float  # C_D = 2 F_x / (rho u_mean^2 D)
    lift: float  # C_L = 2 F_y / (rho u_mean^2 D)
    pressure_difference: float  # p(front) - p(back) in the benchmark's units (Pa, rho = 1)
    solution: SteadyFlow

    def errors(self) -> dict[str, float]:
        """Relative errors of drag, lift and pressure difference against the reference."""
        return {
            name: getattr(self, name) / reference - 1
            for name, reference in SCHAEFER_TUREK_2D1.items()
        }


def schaefer_turek_setup(diameter: int = 20, u_max: float = 0.1) -> tuple[ChannelFlow, np.ndarray]:
    """The 2D-1 channel and cylinder mask with the cylinder ``diameter`` cells across (even)."""
    if diameter % 2 or diameter < 6:
        raise ValueError(f"Use an even diameter of at least 6 cells, got {diameter}.")
    cells_per_metre = diameter / 0.1
    fluid_height = round(0.41 * cells_per_metre)  # 4.1 D; walls half a cell outside rows 1, H
    width = round(2.2 * cells_per_metre) + 1  # the inlet node at x = 0, the outlet at x = 2.2 m
    flow = ChannelFlow(
        height=fluid_height + 2, width=width, reynolds=20.0, u_max=u_max, length_scale=diameter
    )
    centre_x, centre_y = 0.2 * cells_per_metre, 0.5 + 0.2 * cells_per_metre
    y, x = np.mgrid[: flow.height, : flow.width]
    cylinder = (x - centre_x) ** 2 + (y - centre_y) ** 2 <= (diameter / 2) ** 2
    return flow, cylinder


def momentum_exchange_force(
    populations: np.ndarray,
    solid: np.ndarray,
    body: np.ndarray,
    link_fraction: np.ndarray | None = None,
) -> np.ndarray:
    """Force (F_x, F_y) per geometry on ``body`` from post-collision populations g.

    A population g_i that leaves a fluid node x towards a node of the body comes back as
    f_j(x) in the opposite direction j, so it hands the body the momentum c_i (g_i(x) + f_j(x))
    (momentum exchange, Ladd 1994); halfway bounce-back returns f_j = g_i. Arrays are
    (batch, 9, H, W) and (batch, H, W); ``solid`` marks every solid node, ``body`` the part whose
    force is wanted, ``link_fraction`` the wall distances of interpolated bounce-back, if used.
    """
    g = torch.as_tensor(np.asarray(populations, np.float64))
    solid_t = torch.as_tensor(np.asarray(solid, bool))
    if link_fraction is None:
        returned = [g[:, OPPOSITE[j]] for j in range(9)]
    else:
        streamed = [
            torch.roll(g[:, i], (cy, cx), dims=(-2, -1)) for i, (cx, cy) in enumerate(VELOCITIES)
        ]
        links = torch.as_tensor(np.asarray(link_fraction, np.float64))
        coefficients = tuple(
            [plane.double() for plane in planes] for planes in bouzidi_coefficients(links, solid_t)
        )
        returned = _interpolated_bounce_back(g, streamed, coefficients)
    fluid = ~np.asarray(solid, bool)
    force = np.zeros((populations.shape[0], 2))
    for i, (cx, cy) in enumerate(VELOCITIES[1:], start=1):
        hits_body = np.roll(body, (-cy, -cx), axis=(-2, -1)) & fluid  # x + c_i is in the body
        momentum = (g[:, i] + returned[OPPOSITE[i]]).numpy()
        transferred = (momentum * hits_body).sum(axis=(-2, -1))
        force += transferred[:, None] * np.array([cx, cy])
    return force


def circle_link_fraction(
    shape: tuple[int, int], centre_x: float, centre_y: float, radius: float
) -> np.ndarray:
    """Wall distances q (9, H, W) of a circle: where the link from x to x + c_i crosses it."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    inside = (x - centre_x) ** 2 + (y - centre_y) ** 2 <= radius**2
    fractions = np.full((9, *shape), np.nan)
    for i, (cx, cy) in enumerate(VELOCITIES[1:], start=1):
        crosses = ~inside & np.roll(inside, (-cy, -cx), axis=(0, 1))
        # |x + t c - centre| = radius: the smaller root t in (0, 1] of a quadratic in t
        dx, dy = x - centre_x, y - centre_y
        a, b, c = cx * cx + cy * cy, 2 * (dx * cx + dy * cy), dx * dx + dy * dy - radius**2
        root = (-b - np.sqrt(np.maximum(b * b - 4 * a * c, 0))) / (2 * a)
        fractions[i] = np.where(crosses, np.clip(root, 1e-6, 1.0), np.nan)
    return fractions


def cylinder_benchmark(
    diameter: int = 20,
    *,
    u_max: float = 0.1,
    interpolated: bool = True,
    tolerance: float = 1e-7,
    step: str = "eager",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> CylinderBenchmark:
    """Solve the Schaefer-Turek 2D-1 cylinder (Re 20) and return drag, lift and pressure drop.

    ``interpolated`` places the cylinder's wall where the circle cuts each link (Bouzidi);
    otherwise it is the staircase of halfway bounce-back around the solid nodes.
    """
    flow, cylinder = schaefer_turek_setup(diameter, u_max)
    cells_per_metre = diameter / 0.1
    centre_x, centre_row = round(0.2 * cells_per_metre), round(0.2 * cells_per_metre)
    links = None
    if interpolated:
        links = circle_link_fraction(cylinder.shape, centre_x, centre_row + 0.5, diameter / 2)
    solution = solve_steady(
        cylinder,
        flow,
        tolerance=tolerance,
        max_steps=400_000,
        step=step,
        device=device,
        progress=progress,
        keep_populations=True,
        link_fraction=links,
    )
    force = momentum_exchange_force(
        solution.populations, solution.solid, cylinder[None], None if links is None else links[None]
    )[0]
    coefficients = 2 * force / (flow.u_mean**2 * diameter)  # rho_0 = 1
    # The front and back points (x_c -/+ R, y_c) fall on a column of nodes, midway between two
    # rows, and those nodes are fluid (they lie sqrt(R^2 + 1/4) from the centre).
    rows = [centre_row, centre_row + 1]
    front = solution.rho[0, rows, centre_x - diameter // 2].mean()
    back = solution.rho[0, rows, centre_x + diameter // 2].mean()
    pressure_scale = (0.2 / flow.u_mean) ** 2  # lattice pressure to Pa at u_mean = 0.2 m/s
    return CylinderBenchmark(
        diameter=diameter,
        drag=float(coefficients[0]),
        lift=float(coefficients[1]),
        pressure_difference=float((front - back) / 3 * pressure_scale),
        solution=solution,
    )
