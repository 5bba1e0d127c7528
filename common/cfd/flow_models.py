"""What the CFD surrogate notebooks share: the Guo et al. CNN, its layers, training and timing.

A surrogate maps an obstacle encoding of shape (H, W, 1), the binary mask or the signed distance
function (SDF), to the velocity (ux, uy) / u_max of shape (H, W, 2), and multiplies its output by
the fluid mask recovered from the input (``masked_velocity``), so the velocity inside the obstacle
is exactly zero. Notebook 02 teaches the Guo CNN and checks that its own code builds the same
network as ``guo_cnn``, which notebooks 03 and 04 import; the models used by one notebook only
(the fully connected networks of 02, the residual U-Nets of 03) are defined in that notebook.
The code uses ``keras.ops`` only, so it runs on every Keras backend. Importing this module
imports Keras; nothing else happens at import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

ENCODINGS = ("binary", "sdf")


@keras.saving.register_keras_serializable(package="bootcamp")
class FluidMask(layers.Layer):
    """1 in the fluid, 0 in the obstacle, read off the input encoding."""

    def __init__(self, encoding: str = "sdf", **kwargs) -> None:
        super().__init__(**kwargs)
        if encoding not in ENCODINGS:
            raise ValueError(f"Unknown encoding {encoding!r}; choose one of {ENCODINGS}.")
        self.encoding = encoding

    def call(self, geometry):  # noqa: D102 (Keras API)
        if self.encoding == "binary":
            return 1.0 - geometry
        return ops.cast(geometry > 0, geometry.dtype)

    def get_config(self) -> dict:  # noqa: D102 (Keras API)
        return super().get_config() | {"encoding": self.encoding}


@keras.saving.register_keras_serializable(package="bootcamp")
class CoordinateChannels(layers.Layer):
    """Appends the cell position, x and y scaled to [-1, 1], as two channels (CoordConv)."""

    def call(self, geometry):  # noqa: D102 (Keras API)
        height, width = geometry.shape[1], geometry.shape[2]
        y_grid, x_grid = np.meshgrid(
            np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width), indexing="ij"
        )
        grid = np.stack([x_grid, y_grid], axis=-1)[None].astype("float32")
        zeros = ops.zeros_like(geometry[..., :1])
        return ops.concatenate([geometry, zeros + ops.cast(grid, geometry.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):  # noqa: D102 (Keras API)
        return (*input_shape[:-1], input_shape[-1] + 2)


@keras.saving.register_keras_serializable(package="bootcamp")
class UpDownMirror(layers.Layer):
    """Flips (N, H, W, C) fields about the channel's centre line; a velocity's uy changes sign."""

    def __init__(self, velocity: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.velocity = velocity

    def call(self, fields):  # noqa: D102 (Keras API)
        flipped = ops.flip(fields, axis=1)
        if self.velocity:
            flipped = flipped * ops.convert_to_tensor([1.0, -1.0], dtype=flipped.dtype)
        return flipped

    def get_config(self) -> dict:  # noqa: D102 (Keras API)
        return super().get_config() | {"velocity": self.velocity}


def mirror_averaged(model: keras.Model) -> keras.Model:
    """The average of ``model`` and its mirror image: an exactly symmetric surrogate.

    The channel is symmetric about its centre line, so the flow around a mirrored obstacle is the
    mirrored flow. This model predicts both, mirrors the second back and averages them, at twice
    the cost of one prediction and with no training.
    """
    geometry = keras.Input(model.input_shape[1:], name="geometry")
    direct = model(geometry)
    # float32 layers: under mixed precision they would round the prediction to float16
    flipped_geometry = UpDownMirror(dtype="float32")(geometry)
    mirrored = UpDownMirror(velocity=True, dtype="float32")(model(flipped_geometry))
    outputs = layers.Average(dtype="float32")([direct, mirrored])
    return keras.Model(geometry, outputs, name=f"{model.name}_mirror_averaged")


def masked_velocity(
    geometry: keras.KerasTensor, velocity: keras.KerasTensor, encoding: str
) -> keras.KerasTensor:
    """The (H, W, 2) velocity times the fluid mask read off ``geometry``: zero in the obstacle."""
    # Under mixed precision every layer computes in float16 unless told otherwise: the output
    # layers are float32, so that the prediction and the loss are.
    velocity = layers.Activation("linear", dtype="float32")(velocity)
    mask = FluidMask(encoding, dtype="float32")(geometry)
    return layers.Multiply(name="masked_velocity", dtype="float32")([velocity, mask])


def guo_cnn(
    grid: tuple[int, int],
    filters: tuple[int, ...] = (32, 64, 128, 128),
    bottleneck: int = 512,
    encoding: str = "sdf",
    coordinates: bool = False,
) -> keras.Model:
    """Guo, Li and Iorio (2016): strided convolutions, a dense code, a decoder per component."""
    height, width = grid
    factor = 2 ** len(filters)
    if height % factor or width % factor:
        raise ValueError(
            f"The grid {grid} must be divisible by {factor} for {len(filters)} levels."
        )
    geometry = keras.Input((height, width, 1), name="geometry")
    hidden = CoordinateChannels()(geometry) if coordinates else geometry
    for count in filters:
        hidden = layers.Conv2D(count, 4, strides=2, padding="same", activation="relu")(hidden)
    code_shape = (height // factor, width // factor, filters[-1])
    code = layers.Dense(bottleneck, activation="relu")(layers.Flatten()(hidden))
    components = []
    for name in ("ux", "uy"):
        decoded = layers.Dense(int(np.prod(code_shape)), activation="relu")(code)
        decoded = layers.Reshape(code_shape)(decoded)
        for count in reversed(filters[:-1]):
            decoded = layers.Conv2DTranspose(
                count, 4, strides=2, padding="same", activation="relu"
            )(decoded)
        components.append(
            layers.Conv2DTranspose(1, 4, strides=2, padding="same", name=f"{name}_decoder")(decoded)
        )
    velocity = layers.Concatenate()(components)
    outputs = masked_velocity(geometry, velocity, encoding)
    return keras.Model(geometry, outputs, name="guo_cnn")


def fit_surrogate(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    num_epochs: int,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    loss: str | keras.losses.Loss = "mse",
    callbacks: list | None = None,
    verbose: int | str = "auto",
    jit_compile: bool | str = False,
    warmup_fraction: float = 0.05,
    sample_weight: np.ndarray | None = None,
) -> tuple[keras.callbacks.History, float]:
    """Train with Adam and a cosine-decaying learning rate; return the history and the seconds.

    The learning rate first rises linearly over ``warmup_fraction`` of the steps: large early
    steps can silence every ReLU of a network's dense code, which then never learns. XLA
    compilation (``jit_compile``) is off by default: on a CPU it costs seconds per model and gains
    little for these small networks. ``sample_weight`` of shape (N, H, W) weights each cell's
    squared error (Keras averages the MSE over the last axis, the velocity components).
    """
    steps = num_epochs * int(np.ceil(len(train[0]) / batch_size))
    warmup_steps = int(warmup_fraction * steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate / 100 if warmup_steps else learning_rate,
        decay_steps=steps - warmup_steps,
        alpha=0.01,
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=loss,
        metrics=["mae"],
        jit_compile=jit_compile,
    )
    start = time.perf_counter()
    history = model.fit(
        *train,
        sample_weight=sample_weight,
        validation_data=validation,
        epochs=num_epochs,
        batch_size=batch_size,
        callbacks=callbacks or [],
        verbose=verbose,
    )
    return history, time.perf_counter() - start


def predict_fields(model: keras.Model, inputs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The model's float32 velocity fields for ``inputs``, computed in batches."""
    # Direct calls instead of model.predict: predict builds a compiled function per model, and
    # TensorFlow warns about "retracing" when a notebook evaluates many models in a row.
    batches = [
        ops.convert_to_numpy(model(inputs[start : start + batch_size], training=False))
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(batches).astype(np.float32, copy=False)


def relative_errors(model: keras.Model, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-sample relative L2 error of the model's velocity field (see flow_data)."""
    from common.cfd.flow_data import relative_l2_error

    return relative_l2_error(predict_fields(model, inputs), targets)


def inference_seconds(
    model: keras.Model, inputs: np.ndarray, batch_size: int = 32, repeats: int = 3
) -> float:
    """Best wall time of ``repeats`` predictions on all ``inputs`` (after one warm-up call)."""
    model.predict(inputs[:batch_size], batch_size=batch_size, verbose=0)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(inputs, batch_size=batch_size, verbose=0)
        best = min(best, time.perf_counter() - start)
    return float(best)


@dataclass
class Speedup:
    """Solver against surrogate on the same geometries and device (seconds for all of them)."""

    num_flows: int
    solver_seconds: float  # stepping to steady state; torch.compile's first call is not counted
    surrogate_seconds: float  # best of three predictions after a warm-up
    solver_mlups: float
    resolve_difference: float  # largest relative L2 difference of re-solved and stored fields
    mean_solver_steps: float  # time steps the solver took to the steady state, mean over flows

    @property
    def factor(self) -> float:
        """How many times faster the surrogate is."""
        return self.solver_seconds / self.surrogate_seconds


def measure_speedup(
    model: keras.Model,
    dataset,
    num_flows: int,
    *,
    encoding: str = "sdf",
    solver_step: str = "eager",
    solver_batch_size: int = 16,
    progress: bool = True,
) -> Speedup:
    """Re-solve the first ``num_flows`` geometries of a FlowDataset and time the model on them."""
    from common.cfd import flow_data, lbm

    flows = dataset.subset(slice(None, num_flows))
    flow = flow_data.channel_for(flows.obstacles.shape[1:], flows.metadata["reynolds"])
    solved = lbm.solve_steady(
        flows.obstacles,
        flow,
        batch_size=solver_batch_size,
        tolerance=flows.metadata["tolerance"],
        step=solver_step,
        progress=progress,
    )
    resolved = np.stack([solved.ux, solved.uy], axis=-1) / flow.u_max
    return Speedup(
        num_flows=len(flows),
        solver_seconds=solved.seconds,
        surrogate_seconds=inference_seconds(model, flows.inputs(encoding)),
        solver_mlups=solved.mlups,
        resolve_difference=float(flow_data.relative_l2_error(resolved, flows.targets()).max()),
        mean_solver_steps=float(solved.steps.mean()),
    )
