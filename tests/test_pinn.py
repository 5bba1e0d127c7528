"""Specifications of the PINN helpers: sampling, networks, derivatives, training, the chip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.pinn import autodiff, chip, geometry, networks, training


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(before)


# --- geometry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["halton", "sobol", "random"])
def test_sample_box_fills_the_box_and_repeats_with_the_seed(method):
    points = geometry.sample_box(500, [0, -1], [2, 1], seed=3, method=method)
    assert points.shape == (500, 2)
    assert points[:, 0].min() >= 0 and points[:, 0].max() <= 2
    assert points[:, 1].min() >= -1 and points[:, 1].max() <= 1
    np.testing.assert_array_equal(points, geometry.sample_box(500, [0, -1], [2, 1], 3, method))
    assert not np.allclose(points, geometry.sample_box(500, [0, -1], [2, 1], 4, method))


def test_quasi_random_points_cover_the_box_more_evenly_than_random_ones():
    def worst_gap(points: np.ndarray) -> float:
        counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=8, range=[[0, 1], [0, 1]])
        return float(np.abs(counts - len(points) / 64).max())

    halton = geometry.sample_box(1024, [0, 0], [1, 1], seed=0, method="halton")
    uniform = geometry.sample_box(1024, [0, 0], [1, 1], seed=0, method="random")
    assert worst_gap(halton) < worst_gap(uniform)


def test_sample_box_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lower < upper"):
        geometry.sample_box(10, [1.0], [0.0])
    with pytest.raises(ValueError, match="not one of"):
        geometry.sample_box(10, [0.0], [1.0], method="grid")


def test_interval_samples_inside_and_its_ends_have_outward_normals():
    interval = geometry.Interval(0.0, 2.0)
    inside = interval.sample_interior(100, seed=1)
    assert inside.shape == (100, 1) and inside.min() > 0 and inside.max() < 2
    ends = interval.sample_boundary()
    np.testing.assert_array_equal(ends.points[:, 0], [0.0, 2.0])
    np.testing.assert_array_equal(ends.normals[:, 0], [-1.0, 1.0])
    np.testing.assert_allclose(interval.sdf(np.array([[0.5], [1.9], [-1.0]])), [0.5, 0.1, -1.0])


def test_rectangle_signed_distance_inside_on_and_outside():
    box = geometry.Rectangle((0.0, 0.0), (4.0, 2.0))
    points = np.array([[1.0, 1.0], [0.5, 1.0], [4.0, 1.0], [5.0, 1.0], [7.0, 6.0]])
    np.testing.assert_allclose(box.sdf(points), [1.0, 0.5, 0.0, -1.0, -5.0])


def test_rectangle_boundary_points_lie_on_it_in_proportion_to_side_length():
    box = geometry.Rectangle((0.0, 0.0), (4.0, 1.0))
    boundary = box.sample_boundary(1000, seed=0)
    np.testing.assert_allclose(box.sdf(boundary.points), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(boundary.normals, axis=1), 1.0)
    assert np.all(box.sdf(boundary.points + 1e-3 * boundary.normals) < 0), "normals point out"
    on_bottom = np.mean(boundary.points[:, 1] == 0.0)
    assert on_bottom == pytest.approx(0.4, abs=0.01)  # 4 of the perimeter's 10


def test_difference_samples_avoid_the_hole_and_its_boundary_has_outward_normals():
    channel_minus_chip = geometry.Rectangle((-2.5, -0.5), (2.5, 0.5)) - geometry.Rectangle(
        (-1.0, -0.5), (0.0, 0.1)
    )
    inside = channel_minus_chip.sample_interior(2000, seed=0)
    assert len(inside) == 2000
    in_chip = (inside[:, 0] > -1) & (inside[:, 0] < 0) & (inside[:, 1] < 0.1)
    assert not in_chip.any()
    assert channel_minus_chip.measure() == pytest.approx(5.0 - 0.6, rel=0.01)
    boundary = channel_minus_chip.sample_boundary(2000, seed=0)
    assert len(boundary) == 2000
    np.testing.assert_allclose(channel_minus_chip.sdf(boundary.points), 0.0, atol=1e-9)
    assert np.all(channel_minus_chip.sdf(boundary.points + 1e-3 * boundary.normals) < 0)
    under_chip = (boundary.points[:, 0] > -1) & (boundary.points[:, 0] < 0)
    assert np.all(boundary.points[under_chip, 1] > -0.5), "the wall under the chip is not fluid"
    on_chip_top = np.isclose(boundary.points[:, 1], 0.1)
    assert on_chip_top.mean() == pytest.approx(1.0 / 12.2, abs=0.01)  # chip top: 1 of 12.2


def test_sdf_weight_vanishes_on_walls_and_can_be_capped():
    box = geometry.Rectangle((0.0, 0.0), (1.0, 1.0))
    points = np.array([[0.0, 0.5], [0.5, 0.5], [0.1, 0.5]])
    np.testing.assert_allclose(geometry.sdf_weight(points, box), [0.0, 0.5, 0.1])
    np.testing.assert_allclose(geometry.sdf_weight(points, box, cap=0.2), [0.0, 0.2, 0.1])


# --- networks and derivatives ---------------------------------------------------------------------


def test_input_scaling_maps_the_problem_box_to_minus_one_one():
    scaling = networks.InputScaling([5.0, 0.0], [25.0, 2.0])
    out = scaling(torch.tensor([[5.0, 0.0], [25.0, 2.0], [15.0, 1.0]]))
    np.testing.assert_allclose(out.numpy(), [[-1, -1], [1, 1], [0, 0]])


@pytest.mark.parametrize(
    "model",
    [
        networks.FullyConnected(2, 3, width=16, depth=2, input_lower=[0, 0], input_upper=[1, 1]),
        networks.FullyConnected(2, 3, width=16, depth=2, activation="silu"),
        networks.FourierNet(2, 3, width=16, depth=2, num_frequencies=8),
        networks.SiReN(2, 3, width=16, depth=2),
    ],
    ids=["tanh-scaled", "silu", "fourier", "siren"],
)
def test_networks_map_points_to_outputs_and_are_twice_differentiable(model):
    x = torch.rand(10, 2, requires_grad=True)
    u = model(x)
    assert u.shape == (10, 3)
    second = autodiff.partial(u[:, :1], x, 0, 0)
    assert second.shape == (10, 1) and torch.isfinite(second).all()
    assert second.abs().sum() > 0, "a PINN activation must have a non-zero second derivative"


def test_network_arguments_are_checked():
    with pytest.raises(ValueError, match="activation"):
        networks.FullyConnected(1, 1, activation="relu")
    with pytest.raises(ValueError, match="both"):
        networks.FullyConnected(1, 1, input_lower=[0.0])


def test_fourier_features_are_fixed_by_the_seed():
    first = networks.FourierFeatures(2, 8, scale=2.0, seed=5)
    again = networks.FourierFeatures(2, 8, scale=2.0, seed=5)
    torch.testing.assert_close(first.frequencies, again.frequencies)
    assert not any(p.requires_grad for p in first.parameters()), "B is not trained"


def test_hard_constraint_holds_the_boundary_values_whatever_the_network():
    model = networks.HardConstraint(
        networks.FullyConnected(1, 1), lambda x: 3 + 2 * x, lambda x: x * (1 - x)
    )
    ends = model(torch.tensor([[0.0], [1.0]]))
    torch.testing.assert_close(ends, torch.tensor([[3.0], [5.0]]))
    assert networks.count_parameters(model) == networks.count_parameters(model.network)


def test_grad_of_a_cubic_gives_its_first_and_second_derivatives():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None].requires_grad_(True)
    u = x**3
    torch.testing.assert_close(autodiff.grad(u, x), 3 * x**2)
    torch.testing.assert_close(autodiff.grad(u, x, order=2), 6 * x)
    torch.testing.assert_close(autodiff.grad(u, x, order=3), torch.full_like(x, 6.0))


def test_partial_gives_mixed_derivatives():
    xy = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
    u = (xy[:, :1] ** 2) * torch.sin(xy[:, 1:])
    torch.testing.assert_close(autodiff.partial(u, xy, 0, 1), 2 * xy[:, :1] * torch.cos(xy[:, 1:]))
    torch.testing.assert_close(autodiff.partial(u, xy, 1, 1), -u)


def test_grad_explains_misuse():
    x = torch.rand(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match="slice one output"):
        autodiff.grad(torch.cat([x, x], 1), x)
    with pytest.raises(ValueError, match="partial"):
        autodiff.grad(x[:, :1] ** 2, x, order=2)


# --- training -------------------------------------------------------------------------------------


def _poisson_problem(width: int = 16):
    """u'' = 1 on (0, 1), u(0) = u(1) = 0; exact u = x (x - 1) / 2."""
    net = networks.FullyConnected(1, 1, width=width, depth=2)
    x = torch.tensor(geometry.Interval(0, 1).sample_interior(64, seed=0), dtype=torch.float32)
    x.requires_grad_(True)
    ends = torch.tensor([[0.0], [1.0]])
    x_test = torch.linspace(0, 1, 101)[:, None]

    def losses():
        residual = autodiff.grad(net(x), x, order=2) - 1
        return {"residual": (residual**2).mean(), "boundary": (net(ends) ** 2).mean()}

    def validate():
        with torch.no_grad():
            return {"rel_l2_error": training.relative_l2(net(x_test), x_test * (x_test - 1) / 2)}

    return net, losses, validate


def test_train_solves_a_poisson_problem_with_adam_then_lbfgs():
    net, losses, validate = _poisson_problem()
    history = training.train(
        net.parameters(),
        losses,
        400,
        lr=1e-2,
        lr_decay=0.1,
        num_lbfgs_steps=100,
        validate=validate,
        validate_every=100,
        live_plot=False,
    )
    assert history.last("rel_l2_error") < 1e-3
    assert history.validation["rel_l2_error"][0] > 100 * history.last("rel_l2_error")
    assert history.adam_steps == 400 and history.lbfgs_steps == 100
    assert len(history.steps) == len(history.losses["total"]) == len(history.losses["residual"])
    assert history.steps[-1] == 499
    assert history.val_steps == sorted(history.val_steps)
    assert history.steps_per_s() > 0


def test_loss_weights_scale_their_terms_and_unknown_names_are_refused():
    terms = {"residual": torch.tensor(2.0), "boundary": torch.tensor(3.0)}
    assert float(training.weighted_total(terms, {"boundary": 10.0})) == 32.0
    with pytest.raises(KeyError, match="unknown loss terms"):
        training.weighted_total(terms, {"bondary": 1.0})


def test_train_continues_a_history():
    net, losses, _ = _poisson_problem()
    history = training.train(net.parameters(), losses, 20, live_plot=False)
    history = training.train(net.parameters(), losses, 10, live_plot=False, history=history)
    assert history.steps == list(range(30)) and history.adam_steps == 30


def test_plot_history_draws_terms_and_metrics():
    net, losses, validate = _poisson_problem()
    history = training.train(
        net.parameters(), losses, 20, validate=validate, validate_every=10, live_plot=False
    )
    fig = training.plot_history(history, title="test")
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert {"residual", "boundary", "total"} <= set(labels)


def test_relative_l2_error():
    assert training.relative_l2(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.0
    assert training.relative_l2([3.0, 4.0], [0.0, 5.0]) == pytest.approx(np.hypot(3, 1) / 5)
    with pytest.raises(ValueError, match="shapes"):
        training.relative_l2([1.0], [1.0, 2.0])


def test_set_cpu_threads_follows_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert training.set_cpu_threads(verbose=False) == 1
    assert training.set_cpu_threads(2, verbose=False) == 2


# --- the chip flow --------------------------------------------------------------------------------


def test_chip_points_lie_where_they_belong():
    points = chip.sample(num_interior=1000, num_boundary=400, num_lines=10, points_per_line=16)
    interior = points.interior.numpy()
    assert interior.shape == (1000, 2) and np.all(chip.sdf(interior) > 0)
    np.testing.assert_allclose(points.interior_sdf.numpy()[:, 0], chip.sdf(interior), atol=1e-6)
    np.testing.assert_allclose(chip.sdf(points.walls.numpy()), 0.0, atol=1e-6)
    assert np.all(points.inlet.numpy()[:, 0] == -2.5) and np.all(points.outlet.numpy()[:, 0] == 2.5)
    assert points.lines.shape == (10, 16, 2)
    over_chip = (points.lines[:, 0, 0] > -1) & (points.lines[:, 0, 0] < 0)
    np.testing.assert_allclose(points.line_lengths[over_chip].numpy(), 0.4, atol=1e-6)
    np.testing.assert_allclose(points.line_lengths[~over_chip].numpy(), 1.0, atol=1e-6)
    assert np.all(chip.sdf(points.lines.reshape(-1, 2).numpy()) > 0)


def test_parameterised_chip_points_carry_their_own_geometry():
    points = chip.sample(
        num_interior=1000, num_boundary=400, height=chip.HEIGHT_RANGE, width=chip.WIDTH_RANGE
    )
    walls = points.walls.numpy()
    assert walls.shape == (400, 4)
    assert walls[:, 2].min() >= 0.4 and walls[:, 2].max() <= 0.8
    assert walls[:, 3].min() >= 0.6 and walls[:, 3].max() <= 1.4
    np.testing.assert_allclose(chip.sdf(walls[:, :2], walls[:, 2], walls[:, 3]), 0.0, atol=1e-6)
    interior = points.interior.numpy()
    assert np.all(chip.sdf(interior[:, :2], interior[:, 2], interior[:, 3]) > 0)
    assert np.ptp(interior[:, 2]) > 0.3, "each interior point draws its own chip height"


def test_inlet_profile_carries_the_flow_rate():
    y = np.linspace(-0.5, 0.5, 100_001)
    assert np.trapezoid(chip.inlet_velocity(y), y) == pytest.approx(chip.FLOW_RATE, rel=1e-6)
    assert chip.inlet_velocity(0.0) == chip.INLET_U_MAX and chip.inlet_velocity(0.5) == 0.0


class _Poiseuille(torch.nn.Module):
    """The exact fully developed channel flow: u = 1.5 (1 - 4 y^2), v = 0, p = 12 nu (2.5 - x)."""

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        x, y = xy[:, :1], xy[:, 1:2]
        u = chip.INLET_U_MAX * (1 - 4 * y**2)
        p = 8 * chip.NU * chip.INLET_U_MAX * (chip.X_RANGE[1] - x)
        return torch.cat([u, 0 * x, p], dim=1)


def test_navier_stokes_residuals_vanish_for_poiseuille_flow_and_not_for_a_wrong_pressure():
    xy = torch.rand(50, 2, dtype=torch.float64) - 0.5
    residuals = chip.navier_stokes(_Poiseuille(), xy)
    for name, value in residuals.items():
        assert value.abs().max() < 1e-10, f"{name} should vanish for the exact channel flow"
    too_viscous = chip.navier_stokes(_Poiseuille(), xy, nu=2 * chip.NU)
    assert too_viscous["momentum_x"].abs().min() > 0.1


def test_flow_rates_of_poiseuille_flow_equal_one():
    points = chip.sample(num_interior=200, num_boundary=100, num_lines=6, points_per_line=256)
    open_lines = points.line_lengths > 0.99
    rates = chip.flow_rates(
        _Poiseuille(), points.lines[open_lines], points.line_lengths[open_lines]
    )
    np.testing.assert_allclose(rates.numpy(), 1.0, rtol=1e-4)


def test_openfoam_reference_fills_the_fluid_and_conserves_the_flow_rate(
    isolated_dirs, shared_mirror, monkeypatch
):
    monkeypatch.setenv("BOOTCAMP_DATA_MIRROR", str(shared_mirror))
    reference = chip.load_openfoam()
    assert len(reference.xy) == 28_471
    assert reference.xy[:, 0].min() == -2.5 and reference.xy[:, 0].max() == 2.5
    assert np.all(chip.sdf(reference.xy) > -1e-6), "no OpenFOAM point lies inside the chip"
    for x_line in (-2.0, 1.0, 2.4):  # the solver's flow rate through vertical lines is 1
        column = np.abs(reference.xy[:, 0] - x_line) < 0.02
        nearest_x = reference.xy[column, 0][np.argmin(np.abs(reference.xy[column, 0] - x_line))]
        on_line = reference.xy[:, 0] == nearest_x
        order = np.argsort(reference.xy[on_line, 1])
        y, u = reference.xy[on_line, 1][order], reference.u[on_line][order]
        rate = np.trapezoid(u, y) + 0.5 * (y[0] + 0.5) * u[0] + 0.5 * (0.5 - y[-1]) * u[-1]
        assert rate == pytest.approx(1.0, abs=0.03), f"flow rate {rate:.3f} at x = {nearest_x}"


def test_errors_are_zero_for_the_reference_itself_and_predict_feeds_the_geometry():
    reference = chip.Reference(
        np.array([[0.0, 0.2], [1.0, 0.0]]),
        np.array([1.0, 2.0]),
        np.array([0.1, 0.0]),
        np.array([3.0, 1.0]),
    )
    same = {"u": reference.u, "v": reference.v, "p": reference.p}
    assert chip.errors(same, reference) == {"u": 0.0, "v": 0.0, "p": 0.0}
    seen = {}

    class _Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs):
            seen["inputs"] = inputs
            return inputs[:, :3]

    chip.predict(_Probe(), reference.xy, height=0.5, width=0.9)
    np.testing.assert_allclose(seen["inputs"][:, 2:].numpy(), [[0.5, 0.9], [0.5, 0.9]])
