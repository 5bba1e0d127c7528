"""The Keras flow surrogates: shapes, the exact zero inside obstacles, training and timing."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.cfd import flow_data, flow_models, shapes

GRID = (16, 32)


def _geometry(encoding: str, count: int = 4) -> tuple[np.ndarray, np.ndarray]:
    masks = shapes.random_obstacles(count, 32, 64, seed=0)[:, ::2, ::2]
    sdf = shapes.signed_distance(masks)
    inputs = masks.astype(np.float32) if encoding == "binary" else sdf / GRID[0]
    return inputs[..., None].astype(np.float32), masks


# The fully connected networks and the residual U-Nets are defined in notebooks 02 and 03, which
# check them; this module holds what later notebooks import: the Guo CNN and its options.
BUILDERS = {
    "guo": lambda encoding: flow_models.guo_cnn(
        GRID, filters=(4, 8), bottleneck=16, encoding=encoding
    ),
    "coord_guo": lambda encoding: flow_models.guo_cnn(
        GRID, filters=(4, 8), bottleneck=16, encoding=encoding, coordinates=True
    ),
}


@pytest.mark.parametrize("encoding", flow_models.ENCODINGS)
@pytest.mark.parametrize("name", BUILDERS)
def test_every_model_predicts_two_components_and_exact_zeros_inside_the_obstacle(name, encoding):
    model = BUILDERS[name](encoding)
    inputs, masks = _geometry(encoding)
    predicted = model.predict(inputs, verbose=0)
    assert predicted.shape == (len(inputs), *GRID, 2)
    assert predicted.dtype == np.float32
    assert (predicted[masks] == 0).all()
    assert np.abs(predicted[~masks]).max() > 0


def test_coordinate_channels_hold_x_and_y_scaled_to_plus_minus_one():
    geometry = np.zeros((3, *GRID, 1), np.float32)
    features = np.asarray(flow_models.CoordinateChannels()(geometry))
    assert features.shape == (3, *GRID, 3)
    np.testing.assert_allclose(features[1, 5, :, 1], np.linspace(-1, 1, GRID[1]), atol=1e-6)
    np.testing.assert_allclose(features[2, :, 7, 2], np.linspace(-1, 1, GRID[0]), atol=1e-6)
    assert (features[..., 0] == 0).all()


def test_the_mirror_averaged_model_is_exactly_symmetric_and_keeps_symmetric_predictions():
    inputs, _ = _geometry("sdf")
    model = BUILDERS["coord_guo"]("sdf")
    averaged = flow_models.mirror_averaged(model)
    flipped_inputs, _ = flow_data.mirrored(inputs, np.zeros((*inputs.shape[:-1], 2)))
    predicted = averaged.predict(inputs, verbose=0)
    flipped_prediction = averaged.predict(flipped_inputs, verbose=0)
    _, predicted_of_flipped = flow_data.mirrored(inputs, flipped_prediction)
    np.testing.assert_allclose(predicted, predicted_of_flipped, atol=1e-6)
    direct = model.predict(inputs, verbose=0)
    _, mirrored_back = flow_data.mirrored(inputs, model.predict(flipped_inputs, verbose=0))
    np.testing.assert_allclose(predicted, (direct + mirrored_back) / 2, atol=1e-6)


def test_bad_grids_and_encodings_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        flow_models.guo_cnn((16, 30), filters=(4, 8))
    with pytest.raises(ValueError, match="encoding"):
        flow_models.FluidMask("distance")


def _smooth_targets(inputs: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """A smooth target that depends on the obstacle: a parabola slowed near the obstacle."""
    y = np.arange(GRID[0])[:, None]
    parabola = 4 * y * (GRID[0] - 1 - y) / (GRID[0] - 1) ** 2
    along = parabola * np.tanh(inputs[..., 0] * 4)
    targets = np.stack([along, np.zeros_like(along)], axis=-1)
    return (targets * ~masks[..., None]).astype(np.float32)


@pytest.fixture
def mixed_float16():
    """Keras' global dtype policy set to mixed_float16 for one test."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", BUILDERS)
def test_under_mixed_precision_predictions_and_loss_stay_float32_and_training_works(
    name, mixed_float16
):
    inputs, masks = _geometry("sdf", count=8)
    targets = _smooth_targets(inputs, masks)
    model = BUILDERS[name]("sdf")
    assert any(layer.compute_dtype == "float16" for layer in model.layers), "not mixed"
    for candidate in (model, flow_models.mirror_averaged(model)):
        assert candidate.output.dtype == "float32", candidate.name
        assert candidate.predict(inputs[:2], verbose=0).dtype == np.float32
    history, _ = flow_models.fit_surrogate(
        model, (inputs, targets), (inputs, targets), num_epochs=4, batch_size=4, verbose=0
    )
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_training_lowers_the_error_and_inference_is_timed():
    inputs, masks = _geometry("sdf", count=8)
    targets = _smooth_targets(inputs, masks)
    model = flow_models.guo_cnn(GRID, filters=(8, 16), bottleneck=32)
    before = flow_models.relative_errors(model, inputs, targets).mean()
    history, seconds = flow_models.fit_surrogate(
        model,
        (inputs, targets),
        (inputs, targets),
        num_epochs=30,
        batch_size=4,
        learning_rate=3e-3,
        verbose=0,
    )
    after = flow_models.relative_errors(model, inputs, targets).mean()
    assert seconds > 0 and len(history.history["loss"]) == 30
    assert after < 0.5 * before
    assert history.history["loss"][-1] < history.history["loss"][0]
    timing = flow_models.inference_seconds(model, inputs, batch_size=4, repeats=2)
    assert 0 < timing < 10


def test_relative_errors_match_the_flow_data_metric():
    inputs, _ = _geometry("sdf")
    model = BUILDERS["guo"]("sdf")
    targets = np.ones((len(inputs), *GRID, 2), dtype=np.float32)
    expected = flow_data.relative_l2_error(model.predict(inputs, verbose=0), targets)
    np.testing.assert_allclose(
        flow_models.relative_errors(model, inputs, targets), expected, rtol=1e-5
    )


def test_predict_fields_matches_predict_for_a_ragged_last_batch():
    inputs, _ = _geometry("sdf")
    model = BUILDERS["guo"]("sdf")
    fields = flow_models.predict_fields(model, inputs, batch_size=len(inputs) - 1)
    assert fields.dtype == np.float32 and fields.shape == (len(inputs), *GRID, 2)
    np.testing.assert_allclose(fields, model.predict(inputs, verbose=0), rtol=1e-5, atol=1e-6)


def test_the_speedup_re_solves_stored_flows_and_times_solver_and_model(isolated_dirs):
    grid = (20, 48)
    flows = flow_data.load_flows(3, grid=grid, tolerance=1e-4, progress=False)
    model = flow_models.guo_cnn(grid, filters=(4, 8), bottleneck=16)
    speedup = flow_models.measure_speedup(model, flows, 2, progress=False)
    assert speedup.num_flows == 2
    assert speedup.resolve_difference < 1e-4  # the same solver gives the same fields
    assert speedup.solver_seconds > 0 and speedup.surrogate_seconds > 0
    assert speedup.solver_mlups > 0
    assert speedup.mean_solver_steps > 0
    assert speedup.factor == pytest.approx(speedup.solver_seconds / speedup.surrogate_seconds)


def test_per_cell_sample_weights_reach_the_loss():
    inputs, _ = _geometry("sdf", count=4)
    targets = np.ones((len(inputs), *GRID, 2), dtype=np.float32)
    model = BUILDERS["guo"]("sdf")
    history, _ = flow_models.fit_surrogate(
        model,
        (inputs, targets),
        (inputs, targets),
        num_epochs=1,
        batch_size=4,
        verbose=0,
        sample_weight=np.zeros((len(inputs), *GRID), np.float32),
    )
    assert history.history["loss"][0] == 0.0  # every cell weighted zero
    assert history.history["val_loss"][0] > 0.0  # the validation loss is unweighted


def test_the_full_lesson_models_run_on_the_original_grid():
    # The refined option runs the lesson on the original lab's 128x256 grid: the shared CNN fits it.
    grid = flow_data.ORIGINAL_GRID
    inputs = np.ones((2, *grid, 1), dtype=np.float32)
    guo = flow_models.guo_cnn(grid, filters=(32, 64, 128, 128), bottleneck=512)
    for model in (guo, flow_models.mirror_averaged(guo)):
        fields = flow_models.predict_fields(model, inputs)
        assert fields.shape == (2, *grid, 2) and np.isfinite(fields).all()
