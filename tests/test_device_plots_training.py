"""Device report, plots without a display, and the PyTorch training helper."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from common import device, plots, training

matplotlib.use("Agg")


def test_report_lists_both_frameworks_and_a_verdict(capsys):
    summary = device.report()
    names = [fw["name"] for fw in summary["frameworks"]]
    assert names == ["TensorFlow", "PyTorch"]
    assert all(fw["version"] for fw in summary["frameworks"])
    printed = capsys.readouterr().out
    assert summary["verdict"] in printed
    if not device.has_gpu():
        assert summary["verdict"].startswith("no GPU: running on CPU")


@pytest.mark.parametrize(("preset", "expected"), [(None, "true"), ("false", "false")])
def test_importing_device_turns_on_tensorflow_memory_growth_before_tensorflow_starts(
    preset, expected
):
    # set_memory_growth fails once TensorFlow has set up a GPU; the environment variable it reads
    # at that moment does not, so importing common.device must set it (and leave a user's value)
    environment = {k: v for k, v in os.environ.items() if k != "TF_FORCE_GPU_ALLOW_GROWTH"}
    if preset is not None:
        environment["TF_FORCE_GPU_ALLOW_GROWTH"] = preset
    script = (
        "import os, sys; from common import device; "
        "assert 'tensorflow' not in sys.modules, 'device imported TensorFlow'; "
        "print(os.environ['TF_FORCE_GPU_ALLOW_GROWTH'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == expected


def test_tf32_is_reported_only_for_ampere_or_newer_gpus():
    def framework(*capabilities):
        gpus = [device.GpuInfo("GPU", 40.0, capability) for capability in capabilities]
        return device.FrameworkInfo("TensorFlow", "2.x", gpus=gpus)

    assert device._ampere_or_newer(framework("8.0"))  # A100
    assert device._ampere_or_newer(framework("7.0", "9.0"))  # V100 and H100
    assert not device._ampere_or_newer(framework("7.5"))  # T4: no TF32
    assert not device._ampere_or_newer(framework(None))
    assert not device._ampere_or_newer(framework())
    if not device.has_gpu():
        assert device.tf32_in_effect() == {"torch": False, "keras": False}


def test_verdict_names_the_gpu_and_a_framework_that_misses_it():
    torch_fw = device.FrameworkInfo("PyTorch", "2.x", gpus=[device.GpuInfo("NVIDIA H100", 80.0)])
    tf_fw = device.FrameworkInfo("TensorFlow", "2.x")
    line = device.verdict([tf_fw, torch_fw])
    assert "NVIDIA H100" in line and "TensorFlow sees no GPU" in line
    assert device.verdict([device.FrameworkInfo("PyTorch", "2.x")]).startswith("no GPU")


def test_release_frees_memory_and_says_so(capsys):
    device.release()
    assert "Released framework memory" in capsys.readouterr().out


def test_static_plots_work_without_a_display():
    rng = np.random.default_rng(0)
    figures = [
        plots.loss_curves(
            {
                "loss": [1.0, 0.5, 0.2],
                "val_loss": [1.1, 0.6, 0.3],
                "accuracy": [0.5, 0.7, 0.9],
                "val_accuracy": [0.4, 0.6, 0.8],
            }
        ),
        plots.image_grid(
            rng.integers(0, 255, (10, 28, 28)), labels=list(range(10)), predictions=[0] * 10
        ),
        plots.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], class_names=["a", "b", "c"]),
        plots.field(rng.normal(size=(16, 32)), mask=np.eye(16, 32, dtype=bool), title="field"),
        plots.prediction_vs_truth(np.arange(10), np.arange(10) + 0.1),
    ]
    assert len(figures[0].axes) == 2, "one panel per metric"
    assert figures[0].axes[0].get_yscale() == "log" and figures[0].axes[1].get_yscale() == "linear"
    for figure in figures:
        figure.canvas.draw()
        matplotlib.pyplot.close(figure)


def test_plots_keep_a_learners_own_matplotlib_settings():
    """Each drawing helper styles its own figure and leaves the global rcParams as it found them."""
    rng = np.random.default_rng(0)
    learners = {"axes.grid": False, "image.cmap": "magma", "axes.titlesize": 20.0}
    with matplotlib.rc_context(learners):
        before = dict(matplotlib.rcParams)
        figures = [
            plots.loss_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}),
            plots.image_grid(rng.integers(0, 255, (2, 8, 8)), labels=[0, 1]),
            plots.confusion_matrix([0, 1], [0, 1]),
            plots.field(rng.normal(size=(8, 16))),
            plots.prediction_vs_truth(np.arange(4), np.arange(4)),
            plots.flow_prediction(
                np.zeros((8, 16), bool), rng.normal(size=(8, 16, 2)), rng.normal(size=(8, 16, 2))
            ),
            plots.neuron_diagram([1.0, 2.0], [0.5, -0.5], 0.1, "tanh"),
            plots.loss_curves_loglog({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}, floor=0.1),
            plots.fit_and_loss_curves(
                {"loss": [1.0, 0.5]}, np.arange(4), np.arange(4), np.arange(4), [0, 1], [0, 1]
            ),
        ]
        live = plots.LivePlot()
        live.update(1, loss=1.0)
        figures.append(live.figure())
        assert dict(matplotlib.rcParams) == before, "a helper changed the global settings"
        own = matplotlib.pyplot.figure()
        assert not own.add_subplot().xaxis.get_gridlines()[0].get_visible()
    assert figures[0].axes[0].xaxis.get_gridlines()[0].get_visible(), "helpers draw in style"
    for figure in [*figures, own]:
        matplotlib.pyplot.close(figure)


def test_neuron_diagram_draws_every_input_with_its_weight_the_bias_and_the_activation():
    figure = plots.neuron_diagram(
        [0.5, -1.0, 2.0, 3.0], [0.8, 0.2, -0.5, 1.5], 0.1, "ReLU", title="one neuron"
    )
    ax = figure.axes[0]
    texts = [text.get_text() for text in ax.texts]
    for j, (value, weight) in enumerate(((0.5, 0.8), (-1, 0.2), (2, -0.5), (3, 1.5)), start=1):
        assert f"$x_{{{j}}}$ = {value:g}" in texts and f"$w_{{{j}}}$ = {weight:g}" in texts
    assert "b = 0.1" in texts and r"$\varphi$ = ReLU" in texts
    assert len(ax.patches) == 4 + 2, "a circle per input, the summing node and the activation box"
    assert ax.get_title() == "one neuron" and not ax.axison
    _, top = ax.get_ylim()
    assert all(patch.get_center()[1] < top for patch in ax.patches if hasattr(patch, "get_center"))
    figure.canvas.draw()
    matplotlib.pyplot.close(figure)


def test_neuron_diagram_draws_on_a_given_axes_and_needs_a_weight_per_input():
    figure, ax = matplotlib.pyplot.subplots()
    assert plots.neuron_diagram([1.0], [2.0], 0.0, "tanh", ax=ax) is figure
    assert len(ax.patches) == 3
    with pytest.raises(ValueError, match="one weight per input"):
        plots.neuron_diagram([1.0, 2.0], [1.0], 0.0, "tanh")
    matplotlib.pyplot.close("all")


def test_loss_curves_loglog_draws_train_validation_and_the_floor_on_log_axes():
    history = {"loss": [1.0, 0.1, 0.01], "val_loss": [1.2, 0.2, 0.05]}
    figure = plots.loss_curves_loglog(history, floor=0.01, floor_label="noise", ylabel="MSE")
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation", "noise"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), history["val_loss"])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "MSE" and ax.get_xlabel() == "epoch"
    no_floor = plots.loss_curves_loglog({"loss": [1.0, 0.5]}, title=None)
    assert len(no_floor.axes[0].get_lines()) == 1 and no_floor.axes[0].get_title() == ""
    with pytest.raises(ValueError, match="no 'loss'"):
        plots.loss_curves_loglog({"accuracy": [0.5]})
    matplotlib.pyplot.close("all")


def test_fit_and_loss_curves_puts_the_losses_left_and_truth_model_and_data_right():
    x = np.linspace(0, 1, 50)
    figure = plots.fit_and_loss_curves(
        {"loss": [1.0, 0.1], "val_loss": [1.1, 0.2]},
        x,
        np.sin(x),
        np.sin(x) + 0.01,
        x[:10],
        np.sin(x[:10]),
        floor=0.01,
        truth_label="true signal",
        model_label="order 5",
        xlabel="t (s)",
        ylim=(-2.0, 2.0),
        title="A fit",
    )
    ax_loss, ax_fit = figure.axes
    assert len(ax_loss.get_lines()) == 3 and ax_loss.get_yscale() == "log"
    assert [line.get_label() for line in ax_fit.get_lines()] == ["true signal", "order 5"]
    (data,) = ax_fit.collections
    assert len(data.get_offsets()) == 10 and data.get_label() == "training data (10)"
    assert ax_fit.get_ylim() == (-2.0, 2.0) and ax_fit.get_xlabel() == "t (s)"
    assert figure._suptitle.get_text() == "A fit"
    matplotlib.pyplot.close(figure)


def test_plain_number_ticks_label_linear_and_log_axes_without_exponents():
    figure, (ax_linear, ax_log) = matplotlib.pyplot.subplots(1, 2)
    ax_linear.plot([0, 400_000], [0, 1])
    ax_log.plot([0.5, 300], [0, 1])
    assert plots.plain_number_ticks(ax_linear) is ax_linear
    plots.plain_number_ticks(ax_log, log=True)
    figure.canvas.draw()
    linear_labels = [label.get_text() for label in ax_linear.get_xticklabels()]
    log_labels = [label.get_text() for label in ax_log.get_xticklabels()]
    assert "400,000" in linear_labels and not any("e" in label for label in linear_labels)
    assert ax_log.get_xscale() == "log"
    assert {"0.5", "1", "2", "5", "10", "20", "50", "100", "200"} <= set(log_labels)
    assert not any(label.get_text() for label in ax_log.xaxis.get_minorticklabels())
    plots.plain_number_ticks(ax_linear, axis="y", log=True)
    assert ax_linear.get_yscale() == "log" and ax_linear.get_xscale() == "linear"
    with pytest.raises(ValueError, match="'x' or 'y'"):
        plots.plain_number_ticks(ax_linear, axis="z")
    matplotlib.pyplot.close(figure)


def test_loss_curves_rejects_what_is_not_a_history():
    with pytest.raises(TypeError, match="Keras History"):
        plots.loss_curves([1, 2, 3])


def test_live_plot_collects_points_from_a_loop_and_draws_once_headless():
    live = plots.LivePlot(title="demo")
    for epoch in range(1, 4):
        live.update(epoch, loss=1.0 / epoch, val_loss=2.0 / epoch)
    live.close()
    assert live.history == {"loss": [1.0, 0.5, 1 / 3], "val_loss": [2.0, 1.0, 2 / 3]}
    assert matplotlib.pyplot.get_fignums(), "headless, the final figure is drawn on pyplot"
    matplotlib.pyplot.close("all")


def test_live_plot_works_as_a_keras_callback():
    import keras

    live = plots.LivePlot()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 32).reshape(-1, 1)
    model.fit(x, x, epochs=3, validation_split=0.25, verbose=0, callbacks=[live.keras_callback()])
    assert len(live.history["loss"]) == 3 and len(live.history["val_loss"]) == 3
    matplotlib.pyplot.close("all")


def test_train_val_test_split_is_disjoint_and_sized():
    x = np.arange(100).reshape(-1, 1)
    y = np.arange(100)
    x_train, x_val, x_test, y_train, y_val, y_test = training.train_val_test_split(
        x, y, val_fraction=0.2, test_fraction=0.1
    )
    assert (len(x_train), len(x_val), len(x_test)) == (70, 20, 10)
    assert set(x_train.ravel()) | set(x_val.ravel()) | set(x_test.ravel()) == set(range(100))
    np.testing.assert_array_equal(x_val.ravel(), y_val)


def test_fit_torch_recovers_a_linear_law():
    import torch

    torch.manual_seed(0)
    x = np.linspace(-1, 1, 128).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    history = training.fit_torch(
        model,
        x,
        0.3 * x,
        x_val=x,
        y_val=0.3 * x,
        num_epochs=400,
        lr=0.05,
        batch_size=32,
        progress=False,
    )
    assert history["val_loss"][-1] < 1e-6
    assert model.weight.item() == pytest.approx(0.3, rel=1e-3)


def test_fit_torch_steps_the_scheduler_once_per_epoch():
    import torch

    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    x = np.linspace(-1, 1, 16).reshape(-1, 1)
    training.fit_torch(
        model,
        x,
        x,
        num_epochs=3,
        optimizer=optimizer,
        scheduler=scheduler,
        batch_size=4,
        progress=False,
    )
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_use_mixed_precision_follows_the_hardware_and_can_be_forced(capsys):
    import keras

    try:
        policy = device.use_mixed_precision()
        assert policy == ("mixed_float16" if device.keras_has_gpu() else "float32")
        assert keras.mixed_precision.global_policy().name == policy
        assert "Keras dtype policy" in capsys.readouterr().out
        assert device.use_mixed_precision(enable=True, verbose=False) == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_exact_float32_turns_tf32_off_in_both_frameworks():
    import tensorflow as tf
    import torch

    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        device.exact_float32()
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert not tf.config.experimental.tensor_float_32_execution_enabled()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
        tf.config.experimental.enable_tensor_float_32_execution(True)


def test_epoch_timer_records_one_time_per_epoch_and_a_throughput(capsys):
    import keras

    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = training.epoch_timer(num_samples=len(x))
    model.fit(x, x[:, :1], epochs=3, batch_size=16, verbose=0, callbacks=[timer])
    times = timer.times
    assert len(times.seconds) == 3 and all(s > 0 for s in times.seconds)
    summary = times.summary()
    assert summary["samples_per_s"] == pytest.approx(64 / summary["seconds_per_epoch"])
    assert summary["total_seconds"] == pytest.approx(sum(times.seconds))
    assert capsys.readouterr().out.count("images/s") == 3


def test_epoch_times_summary_needs_an_epoch():
    with pytest.raises(ValueError, match="No epoch"):
        training.EpochTimes(10).summary()


VJP_CHECK = """
import keras, numpy as np
from common import training
rng = np.random.default_rng(0)
matrix = rng.standard_normal((3, 4)).astype("float32")
x = rng.standard_normal((2, 3)).astype("float32")
v = rng.standard_normal((2, 4)).astype("float32")
function = lambda t: keras.ops.sin(keras.ops.matmul(t, keras.ops.convert_to_tensor(matrix)))
# y_ij = sin(sum_k x_ik M_kj): (v^T J)_ik = sum_j v_ij cos(x M)_ij M_kj
expected = (v * np.cos(x.astype(float) @ matrix)) @ matrix.T
result = training.vector_jacobian_product(function, x, v)
assert result.shape == x.shape, result.shape
np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)  # float32, on the CPU
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_vector_jacobian_product_matches_the_analytic_backward_pass_on_both_backends(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", VJP_CHECK], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ok {backend}" in done.stdout
