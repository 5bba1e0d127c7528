"""The lattice-Boltzmann solver against analytic solutions, conservation laws and symmetry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common import lbm

# a small, viscous channel (tau = 0.9) converges in a few thousand steps, so the tests stay fast
SMALL = lbm.ChannelFlow(height=18, width=48, reynolds=2.0, u_max=0.1)
# LBM is weakly compressible: the density falls along the channel by 3 dp/dx L, which bends the
# profile by about as much. A low Mach number keeps that below 1% for the analytic comparisons.
LOW_MACH = lbm.ChannelFlow(height=18, width=48, reynolds=0.5, u_max=0.02)


def _empty(flow: lbm.ChannelFlow, batch: int = 1) -> np.ndarray:
    return np.zeros((batch, flow.height, flow.width), dtype=bool)


def _disc(flow: lbm.ChannelFlow, centre_x: float, radius: float) -> np.ndarray:
    y, x = np.mgrid[: flow.height, : flow.width]
    return (x - centre_x) ** 2 + (y - (flow.height - 1) / 2) ** 2 <= radius**2


def test_viscosity_follows_from_reynolds_number_and_sets_the_relaxation_time():
    flow = lbm.ChannelFlow(height=66, width=128, reynolds=20.0, u_max=0.09)
    assert flow.reference_length == 16
    assert flow.viscosity == pytest.approx(0.06 * 16 / 20)
    assert flow.tau == pytest.approx(3 * flow.viscosity + 0.5)


def test_poiseuille_flow_matches_the_analytic_profile_and_pressure_gradient():
    flow = LOW_MACH
    solution = lbm.solve_steady(_empty(flow), flow, tolerance=1e-6, check_every=100)
    assert solution.converged.all()
    middle = solution.ux[0, :, flow.width // 2]
    exact = lbm.inlet_profile(flow.height, flow.u_max)
    rel_l2_error = np.linalg.norm(middle - exact) / np.linalg.norm(exact)
    assert rel_l2_error < 0.01, f"profile off the parabola by {rel_l2_error:.2%}"
    # p = rho / 3; the viscosity-relaxation relation nu = (tau - 1/2) / 3 sets the gradient
    columns = np.arange(8, flow.width - 8)
    pressure = solution.rho[0, 1:-1][:, columns].mean(axis=0) / 3
    gradient = np.polyfit(columns, pressure, 1)[0]
    expected = lbm.poiseuille_pressure_gradient(flow)
    assert gradient == pytest.approx(expected, rel=0.03)


def test_the_parabola_recovers_downstream_of_an_obstacle():
    flow = lbm.ChannelFlow(height=18, width=72, reynolds=0.5, u_max=0.02)
    solution = lbm.solve_steady(_disc(flow, centre_x=12, radius=4), flow, tolerance=1e-6)
    # the obstacle's drag raises the upstream density, so compare shapes at equal volume flux
    exact = lbm.inlet_profile(flow.height, flow.u_max)
    exact = exact / exact.sum()
    behind, far = solution.ux[0, :, 14], solution.ux[0, :, flow.width - 12]
    assert np.linalg.norm(behind / behind.sum() - exact) / np.linalg.norm(exact) > 0.3, "wake"
    assert np.linalg.norm(far / far.sum() - exact) / np.linalg.norm(exact) < 0.01


def test_the_compiled_step_gives_the_same_flow_as_the_eager_one_when_slots_are_refilled():
    obstacles = np.stack([_disc(SMALL, 16, 4), _disc(SMALL, 20, 3), _disc(SMALL, 12, 2)])
    options = {"batch_size": 2, "max_steps": 300, "tolerance": 1e-9}
    eager = lbm.solve_steady(obstacles, SMALL, **options)
    compiled = lbm.solve_steady(obstacles, SMALL, **options, compile_step=True)
    alone = lbm.solve_steady(obstacles[2], SMALL, max_steps=300, tolerance=1e-9)
    np.testing.assert_allclose(eager.ux[2], alone.ux[0], atol=1e-7)
    np.testing.assert_allclose(compiled.ux, eager.ux, atol=1e-6 * SMALL.u_max)
    np.testing.assert_allclose(compiled.uy, eager.uy, atol=1e-6 * SMALL.u_max)


def test_mass_flux_is_the_same_through_every_cross_section_around_an_obstacle():
    obstacle = _disc(SMALL, centre_x=16, radius=3.5)[None]
    solution = lbm.solve_steady(obstacle, SMALL, tolerance=1e-6, check_every=100)
    flux = (solution.rho[0] * solution.ux[0]).sum(axis=0)
    inflow = flux[1]
    assert np.abs(flux[1:-1] / inflow - 1).max() < 1e-4, "mass is created or lost in the channel"
    # the inlet and outlet nodes take their density from a neighbour, so they match less closely
    assert np.abs(flux[[0, -1]] / inflow - 1).max() < 1e-2
    prescribed = lbm.inlet_profile(SMALL.height, SMALL.u_max)
    np.testing.assert_allclose(solution.ux[0, :, 0], prescribed, atol=1e-6)


def test_a_symmetric_obstacle_gives_a_mirror_symmetric_flow():
    obstacle = _disc(SMALL, centre_x=16, radius=4)[None]
    solution = lbm.solve_steady(obstacle, SMALL, tolerance=1e-6, check_every=100)
    ux, uy = solution.ux[0], solution.uy[0]
    assert np.abs(uy).max() > 1e-3 * SMALL.u_max, "the obstacle should deflect the flow"
    assert np.abs(ux - ux[::-1]).max() < 1e-5 * SMALL.u_max
    assert np.abs(uy + uy[::-1]).max() < 1e-5 * SMALL.u_max


def test_solid_nodes_carry_no_velocity_and_the_flow_slows_around_the_obstacle():
    obstacle = _disc(SMALL, centre_x=16, radius=4)
    solution = lbm.solve_steady(obstacle, SMALL, tolerance=1e-5, check_every=100)
    assert solution.solid[0, 0].all() and solution.solid[0, -1].all(), "walls are solid"
    assert np.all(solution.speed[0][solution.solid[0]] == 0)
    centre_row = SMALL.height // 2
    assert solution.ux[0, centre_row, 16 - 5] < 0.5 * SMALL.u_max, "stagnation in front"


def test_a_batch_gives_the_same_fields_as_each_geometry_alone():
    obstacles = np.stack([_disc(SMALL, 16, 3), _disc(SMALL, 20, 3.5), _empty(SMALL)[0]])
    batch = lbm.solve_steady(obstacles, SMALL, tolerance=1e-5, check_every=100)
    for index in (0, 1):
        alone = lbm.solve_steady(obstacles[index], SMALL, tolerance=1e-5, check_every=100)
        assert batch.steps[index] == alone.steps[0]
        np.testing.assert_allclose(batch.ux[index], alone.ux[0], atol=1e-6)
    assert len(set(batch.steps)) > 1, "geometries converge after different numbers of steps"


def test_the_callers_mask_is_left_as_it_was():
    obstacle = _disc(SMALL, centre_x=16, radius=3)
    before = obstacle.copy()
    lbm.solve_steady(obstacle, SMALL, max_steps=100)
    lbm.measure_mlups(obstacle[None], SMALL, num_steps=2)
    np.testing.assert_array_equal(obstacle, before)


def test_geometries_that_run_out_of_steps_are_flagged_not_kept_silently():
    obstacle = _disc(SMALL, centre_x=16, radius=4)
    solution = lbm.solve_steady(obstacle, SMALL, max_steps=200, tolerance=1e-9, check_every=100)
    assert not solution.converged[0]
    assert solution.steps[0] == 200
    assert [step for step, _ in solution.history] == [100, 200]
    assert solution.residual[0] >= 1e-9


@pytest.mark.parametrize(
    ("obstacles", "error", "message"),
    [
        (np.zeros((1, 18, 48), dtype=np.float32), TypeError, "boolean"),
        (np.zeros((1, 18, 40), dtype=bool), ValueError, "shape"),
        (np.zeros((0, 18, 48), dtype=bool), ValueError, "empty"),
        (np.ones((1, 18, 48), dtype=bool), ValueError, "no fluid"),
        (np.pad(np.ones((1, 18, 1), bool), ((0, 0), (0, 0), (0, 47))), ValueError, "inlet"),
        (np.pad(np.ones((1, 18, 2), bool), ((0, 0), (0, 0), (20, 26))), ValueError, "blocks"),
    ],
    ids=["float-mask", "wrong-shape", "empty-batch", "all-solid", "at-inlet", "blocked"],
)
def test_bad_obstacles_get_a_clear_error(obstacles, error, message):
    with pytest.raises(error, match=message):
        lbm.solve_steady(obstacles, SMALL)


def test_torch_masks_are_accepted_and_the_grid_must_not_be_tiny():
    mask = torch.zeros((1, SMALL.height, SMALL.width), dtype=torch.bool)
    assert lbm.check_obstacles(mask, SMALL).shape == (1, SMALL.height, SMALL.width)
    tiny = lbm.ChannelFlow(height=4, width=16)
    with pytest.raises(ValueError, match="too small"):
        lbm.check_obstacles(np.zeros((4, 16), dtype=bool), tiny)
