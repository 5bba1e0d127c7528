"""A batched D2Q9 lattice-Boltzmann solver for steady 2D channel flow around obstacles (PyTorch).

Everything is in lattice units: grid spacing 1, time step 1, reference density 1, speed of sound
``1/sqrt(3)``. The grid has ``height`` rows (y) and ``width`` columns (x); rows 0 and
``height - 1`` are the channel walls. Fluid enters at column 0 with a parabolic velocity profile
and leaves at the last column, where the density (pressure) is held at 1; both boundaries use the
non-equilibrium extrapolation of Guo, Zheng and Shi (2002). Walls and obstacles are no-slip
through halfway bounce-back, so a wall sits half a cell outside the last fluid node. The collision
is two-relaxation-time (TRT) with the magic parameter 3/16, which places halfway bounce-back walls
exactly for Poiseuille flow.

One tensor holds many geometries at once, ``f`` of shape ``(batch, 9, height, width)``, on the CPU
or a CUDA GPU. Importing this module imports PyTorch; nothing else happens at import.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

SOLVER_VERSION = "1.0"

# D2Q9: rest, the four axis directions, the four diagonals; (cx, cy) with x to the right, y down.
VELOCITIES = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (-1, -1), (1, -1))
WEIGHTS = (4 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 36, 1 / 36, 1 / 36, 1 / 36)
OPPOSITE = (0, 3, 4, 1, 2, 7, 8, 5, 6)
MAGIC_LAMBDA = 3 / 16
BYTES_PER_UPDATE_FLOAT32 = 2 * 9 * 4  # read and write nine float32 populations per node and step


@dataclass(frozen=True)
class ChannelFlow:
    """The physical set-up: grid size, Reynolds number and inlet speed (lattice units)."""

    height: int = 64
    width: int = 128
    reynolds: float = 20.0
    u_max: float = 0.1
    length_scale: float | None = None

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
    mlups: float
    flow: ChannelFlow
    metadata: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, largest residual)

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


def equilibrium(rho: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor) -> torch.Tensor:
    """Second-order equilibrium f_eq_i = w_i rho (1 + 3 c.u + 9/2 (c.u)^2 - 3/2 u^2)."""
    cx, cy, weights = _lattice(rho.device)
    cu = cx * ux.unsqueeze(1) + cy * uy.unsqueeze(1)
    usq = (ux * ux + uy * uy).unsqueeze(1)
    return weights * rho.unsqueeze(1) * (1 + 3 * cu + 4.5 * cu * cu - 1.5 * usq)


def macroscopic(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Density and velocity (rho, ux, uy) from the populations."""
    cx, cy, _ = _lattice(f.device)
    rho = f.sum(1)
    ux = (f * cx).sum(1) / rho
    uy = (f * cy).sum(1) / rho
    return rho, ux, uy


class _Stepper:
    """One time step on post-collision populations: stream (with bounce-back), boundaries, collide.

    The populations are handled as nine (batch, height, width) planes with every loop unrolled, so
    that ``torch.compile`` can fuse the whole step into one pass over the grid.
    """

    def __init__(self, solid: torch.Tensor, flow: ChannelFlow, compile_step: bool) -> None:
        device = solid.device
        self.omega_plus = 1 / flow.tau
        self.omega_minus = 1 / (0.5 + MAGIC_LAMBDA / (flow.tau - 0.5))
        self.solid = solid
        # halfway bounce-back: f_i arrives from x - c_i; if that node is solid, reflect g_opp(i)
        self.from_solid = [torch.roll(solid, (cy, cx), dims=(-2, -1)) for cx, cy in VELOCITIES]
        profile = inlet_profile(flow.height, flow.u_max)
        self.inlet_ux = torch.tensor(profile, dtype=torch.float32, device=device).view(1, -1, 1)
        self.step = self._compiled_first_step if compile_step else self._step

    def load(self, slot: int, solid: torch.Tensor) -> None:
        """Put a new geometry into one slot of the batch, in place (no recompilation)."""
        self.solid[slot] = solid
        for mask, (cx, cy) in zip(self.from_solid, VELOCITIES, strict=True):
            mask[slot] = torch.roll(solid, (cy, cx), dims=(-2, -1))

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
            self.step = self._step
            return self._step(g)
        self.step = compiled
        return result

    def _step(self, g: torch.Tensor) -> torch.Tensor:
        f = [
            torch.where(
                self.from_solid[i],
                g[:, OPPOSITE[i]],
                torch.roll(g[:, i], (cy, cx), dims=(-2, -1)),
            )
            for i, (cx, cy) in enumerate(VELOCITIES)
        ]
        inlet = _planes_inlet([plane[..., 1:2] for plane in f], self.inlet_ux)
        outlet = _planes_outlet([plane[..., -2:-1] for plane in f])
        f = [
            torch.cat([first, plane[..., 1:-1], last], dim=-1)
            for first, plane, last in zip(inlet, f, outlet, strict=True)
        ]
        post = _planes_collide(f, self.omega_plus, self.omega_minus)
        return torch.stack(
            [torch.where(self.solid, WEIGHTS[i], post[i]) for i in range(9)], dim=1
        )  # solid nodes stay at rest and carry no flow


def _planes_moments(f: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rho = f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]
    ux = (f[1] - f[3] + f[5] - f[6] - f[7] + f[8]) / rho
    uy = (f[2] - f[4] + f[5] + f[6] - f[7] - f[8]) / rho
    return rho, ux, uy


def _planes_equilibrium(
    rho: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor
) -> list[torch.Tensor]:
    usq = 1.5 * (ux * ux + uy * uy)
    planes = []
    for (cx, cy), weight in zip(VELOCITIES, WEIGHTS, strict=True):
        cu = 3 * (cx * ux + cy * uy) if (cx or cy) else None
        planes.append(weight * rho * (1 - usq if cu is None else 1 + cu + 0.5 * cu * cu - usq))
    return planes


def _planes_collide(f: list[torch.Tensor], omega_plus: float, omega_minus: float) -> list:
    """TRT collision: relax the even and odd parts of f - f_eq at their own rates."""
    feq = _planes_equilibrium(*_planes_moments(f))
    post = []
    for i in range(9):
        j = OPPOSITE[i]
        even = 0.5 * (f[i] + f[j] - feq[i] - feq[j])
        odd = 0.5 * (f[i] - f[j] - feq[i] + feq[j])
        post.append(f[i] - omega_plus * even - omega_minus * odd)
    return post


def _planes_inlet(next_column: list[torch.Tensor], ux_in: torch.Tensor) -> list[torch.Tensor]:
    """Velocity inlet: prescribed u, density and non-equilibrium part from the next column."""
    rho, ux, uy = _planes_moments(next_column)
    target = _planes_equilibrium(rho, ux_in.expand_as(rho), torch.zeros_like(uy))
    current = _planes_equilibrium(rho, ux, uy)
    return [t + f - c for t, f, c in zip(target, next_column, current, strict=True)]


def _planes_outlet(previous_column: list[torch.Tensor]) -> list[torch.Tensor]:
    """Pressure outlet: density 1, velocity and non-equilibrium part from the column before."""
    rho, ux, uy = _planes_moments(previous_column)
    target = _planes_equilibrium(torch.ones_like(rho), ux, uy)
    current = _planes_equilibrium(rho, ux, uy)
    return [t + f - c for t, f, c in zip(target, previous_column, current, strict=True)]


def _inlet_populations(flow: ChannelFlow, device: torch.device) -> torch.Tensor:
    """Equilibrium populations of the parabolic inlet, shape (1, 9, height, 1)."""
    profile = torch.tensor(inlet_profile(flow.height, flow.u_max), dtype=torch.float32)
    ux = profile.to(device).view(1, -1, 1)
    return equilibrium(torch.ones_like(ux), ux, torch.zeros_like(ux))


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
    compile_step: bool = False,
    progress: bool = False,
) -> SteadyFlow:
    """Run every geometry to a steady state and return its fields.

    The solver steps ``batch_size`` geometries at once (all of them by default). A geometry has
    converged when the largest velocity change over ``check_every`` steps, per step and relative
    to ``u_max``, falls below ``tolerance``; its fields are stored and the next waiting geometry
    takes its slot, so the batch keeps its size (a compiled step is compiled once). Geometries
    still changing after ``max_steps`` are flagged ``converged=False``.
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
    stepper = _Stepper(solid_all[:slots].clone(), flow, compile_step)
    f = initial_state(stepper.solid, flow)
    fields = torch.empty((count, 3, flow.height, flow.width), device=device)
    steps = np.zeros(count, dtype=np.int64)
    residual = np.full(count, np.inf)
    converged = np.zeros(count, dtype=bool)
    _, ux_prev, uy_prev = macroscopic(f)
    updates, total_steps, history = 0, 0, []
    setup_seconds, start = None, time.perf_counter()
    bar = _progress_bar(count, progress)
    while (slot_geometry >= 0).any():
        for _ in range(check_every):
            f = stepper.step(f)
            if setup_seconds is None:  # the first call compiles (compile_step): timed on its own
                _synchronize(device)
                setup_seconds, start = time.perf_counter() - start, time.perf_counter()
                updates -= slots * flow.height * flow.width
        slot_steps += check_every
        total_steps += check_every
        updates += check_every * slots * flow.height * flow.width
        rho, ux, uy = macroscopic(f)
        change = torch.maximum((ux - ux_prev).abs(), (uy - uy_prev).abs())
        rate = (change.amax(dim=(-2, -1)) / (check_every * flow.u_max)).cpu().numpy()
        busy = slot_geometry >= 0
        if not np.isfinite(rate[busy]).all():
            bad = slot_geometry[busy & ~np.isfinite(rate)]
            raise FloatingPointError(f"The solver diverged for geometries {bad.tolist()}.")
        history.append((total_steps, float(rate[busy].max())))
        finished = busy & ((rate < tolerance) | (slot_steps >= max_steps))
        for slot in np.flatnonzero(finished):
            geometry = slot_geometry[slot]
            fields[geometry] = torch.stack([rho[slot], ux[slot], uy[slot]])
            steps[geometry], residual[geometry] = slot_steps[slot], rate[slot]
            converged[geometry] = rate[slot] < tolerance
            slot_geometry[slot] = next(waiting, -1)
            if slot_geometry[slot] >= 0:
                stepper.load(slot, solid_all[slot_geometry[slot]])
                f[slot] = initial_state(stepper.solid[slot : slot + 1], flow)[0]
                slot_steps[slot] = 0
        if finished.any():
            ux, uy = macroscopic(f)[1:]
        ux_prev, uy_prev = ux, uy
        bar.update(int(finished.sum()))
        bar.set_postfix(step=int(slot_steps.max()), residual=f"{rate[busy].max():.1e}")
    bar.close()
    seconds = time.perf_counter() - start
    solid = solid_all.cpu().numpy()
    metadata = {"solver_version": SOLVER_VERSION, "tolerance": tolerance, "compiled": compile_step}
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
        flow=flow,
        metadata=metadata | {"first_step_seconds": setup_seconds} | asdict(flow),
        history=history,
    )


def measure_mlups(
    obstacles: Any,
    flow: ChannelFlow | None = None,
    *,
    num_steps: int = 200,
    compile_step: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """Million lattice updates per second of the time step on a batch (after a warm-up)."""
    flow = flow or ChannelFlow()
    mask = check_obstacles(obstacles, flow)
    device = torch.device(device) if device is not None else _default_device()
    solid = torch.from_numpy(mask.copy()).to(device)  # the caller keeps its mask
    solid[:, [0, -1], :] = True
    stepper = _Stepper(solid, flow, compile_step)
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Steady flows", unit="flow", disable=not enabled)
