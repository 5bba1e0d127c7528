"""The project's lattice-Boltzmann solver beside lbmpy, on the same cell count, in MLUPS.

Usage: ``.venv/bin/pip install -e ".[bench]"`` once, then
``.venv/bin/python benchmarks/lbm_lbmpy.py [--steps 1000]``

lbmpy (https://pypi.org/project/lbmpy/) generates C kernels for lattice-Boltzmann methods; it is a
benchmark-only extra here, not a dependency of the lessons (they use pystencils, lbmpy's code
generator, for the solver's own generated step). Three problems, all float32 D2Q9 TRT
with the project's relaxation rates, on the CPU with every thread PyTorch uses:

* the lesson's channel: 16 geometries of 64x128 (131,072 cells): the project's solver steps them
  as a batch (compiled PyTorch step, and the kernels pystencils generates from it), lbmpy as one
  domain of 16 channels stacked across the flow, with a parabolic velocity inlet (UBB), a pressure
  outlet (FixedDensity) and bounce-back (NoSlip) walls and obstacles;
* a periodic box of the same cell count (256x512), lbmpy's best case;
* a periodic box of 1024x1024, too large for the caches.

For each it prints the median MLUPS of three runs and the share of the memory roofline: the copy
bandwidth of a large tensor (read + write) divided by the 72 bytes an update moves. Above 100% the
data sits in the caches.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common.cfd import flow_data, lbm, lbm_generated, shapes

LESSON_BATCH, LESSON_GRID = 16, flow_data.LESSON_GRID


def lesson_obstacles() -> tuple[np.ndarray, lbm.ChannelFlow]:
    """The lesson's batch: 16 random obstacles on 64x128 and its channel."""
    obstacles = shapes.random_obstacles(LESSON_BATCH, *LESSON_GRID, seed=LESSON_BATCH)
    return obstacles, flow_data.channel_for(LESSON_GRID)


def _kernel_config(threads: int):
    """pystencils options: OpenMP, float32, and the widest x86 vector unit this CPU has."""
    import pystencils as ps
    from pystencils.codegen.config import CpuOptions, OpenMpOptions, VectorizationOptions

    target = lbm_generated.vector_target()  # the solver's own generated step uses the same
    return ps.CreateKernelConfig(
        target=target,
        default_dtype="float32",
        cpu=CpuOptions(
            openmp=OpenMpOptions(enable=True, num_threads=threads),
            vectorize=VectorizationOptions(enable=target != ps.Target.CPU),
        ),
    )


def _lbm_config(flow: lbm.ChannelFlow):
    from lbmpy import LBMConfig, LBStencil, Method, Stencil

    omega_minus = 1 / (0.5 + lbm.MAGIC_LAMBDA / (flow.tau - 0.5))
    return LBMConfig(
        stencil=LBStencil(Stencil.D2Q9),
        method=Method.TRT,
        relaxation_rates=[1 / flow.tau, omega_minus],
        compressible=False,
    )


def _time_steps(step, num_steps: int, cells: int, repeats: int = 3) -> float:
    """Median MLUPS of ``repeats`` runs of ``num_steps`` steps, after a warm-up."""
    step.run(20)
    speeds = []
    for _ in range(repeats):
        start = time.perf_counter()
        step.run(num_steps)
        speeds.append(num_steps * cells / (time.perf_counter() - start) / 1e6)
    return float(np.median(speeds))


def lbmpy_channel_mlups(num_steps: int, threads: int) -> float:
    """lbmpy on the lesson's 16 channels, stacked across the flow in one domain."""
    from lbmpy.boundaries import UBB, FixedDensity, NoSlip
    from lbmpy.lbstep import LatticeBoltzmannStep
    from pystencils import make_slice

    obstacles, flow = lesson_obstacles()
    height, width = LESSON_GRID
    solid = np.concatenate(list(flow_data.with_walls(obstacles)), axis=0).T  # (x, y)
    step = LatticeBoltzmannStep(
        domain_size=solid.shape,
        lbm_config=_lbm_config(flow),
        config=_kernel_config(threads),
        periodicity=False,
    )
    profile = lbm.inlet_profile(height, flow.u_max)

    def inflow(data) -> None:
        rows = np.floor(data.link_positions(1)).astype(int) % height
        data["vel_0"] = profile[rows]
        data["vel_1"] = 0.0

    def walls_and_obstacles(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        columns = np.clip(np.floor(x).astype(int), 0, solid.shape[0] - 1)
        rows = np.clip(np.floor(y).astype(int), 0, solid.shape[1] - 1)
        return solid[columns, rows]

    dtype = step.config.get_option("default_dtype")
    step.boundary_handling.set_boundary(UBB(inflow, dim=2, data_type=dtype), make_slice[0, :])
    step.boundary_handling.set_boundary(FixedDensity(1.0), make_slice[-1, :])
    step.boundary_handling.set_boundary(NoSlip(), mask_callback=walls_and_obstacles)
    return _time_steps(step, num_steps, solid.size)


def lbmpy_box_mlups(shape: tuple[int, int], num_steps: int, threads: int) -> float:
    """lbmpy on a fully periodic box at rest (no boundaries)."""
    from lbmpy.scenarios import create_fully_periodic_flow

    _, flow = lesson_obstacles()
    step = create_fully_periodic_flow(
        np.zeros((*shape, 2)), lbm_config=_lbm_config(flow), config=_kernel_config(threads)
    )
    return _time_steps(step, num_steps, shape[0] * shape[1])


def side_by_side(num_steps: int = 1000) -> None:
    """Print the project's solver and lbmpy side by side (lbmpy only where it is installed)."""
    threads = torch.get_num_threads()
    bandwidth = lbm.copy_bandwidth("cpu")
    roofline = bandwidth * 1e9 / lbm.BYTES_PER_UPDATE_FLOAT32 / 1e6
    print(
        f"torch {torch.__version__}, {threads} threads; copy bandwidth {bandwidth:.1f} GB/s, "
        f"memory roofline {roofline:.0f} MLUPS at {lbm.BYTES_PER_UPDATE_FLOAT32} bytes/update"
    )
    obstacles, flow = lesson_obstacles()
    rows = []
    for step in ("compiled", "generated"):
        runs = [lbm.measure_mlups(obstacles, flow, num_steps=num_steps, step=step) for _ in "123"]
        rows.append((f"project, lesson channel ({step})", obstacles.size, float(np.median(runs))))
    try:
        import lbmpy
    except ImportError:
        print('lbmpy is not installed: .venv/bin/pip install -e ".[bench]"')
    else:
        print(f"lbmpy {lbmpy.__version__}")
        rows.append(
            ("lbmpy, lesson channel", obstacles.size, lbmpy_channel_mlups(num_steps, threads))
        )
        for shape in ((256, 512), (1024, 1024)):
            label = f"lbmpy, periodic box {shape[0]}x{shape[1]}"
            rows.append((label, shape[0] * shape[1], lbmpy_box_mlups(shape, num_steps, threads)))
    print(f"{'problem':38s} {'cells':>9s} {'MLUPS':>7s} {'roofline':>9s}")
    for label, cells, mlups in rows:
        print(f"{label:38s} {cells:9,d} {mlups:7.1f} {mlups / roofline:9.0%}")
    if len(rows) > 2:
        for project in rows[:2]:
            print(f"{project[0]} / lbmpy on the lesson channel: {project[2] / rows[2][2]:.2f}")


def main() -> None:
    """Parse the step count and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    side_by_side(parser.parse_args().steps)


if __name__ == "__main__":
    main()
