"""Small, explicit training helpers shared by the notebooks.

The notebooks write their first PyTorch training loop by hand; afterwards they call
:func:`fit_torch`, which does the same thing with a progress bar, an optional live plot and a
validation loss per epoch. :func:`epoch_timer` measures seconds and images per second for Keras.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from common.plots import LivePlot


def train_val_test_split(
    *arrays: np.ndarray, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> list[np.ndarray]:
    """Split arrays into train/validation/test: returns ``a_train, a_val, a_test, b_train, ...``."""
    if not 0 < val_fraction + test_fraction < 1:
        raise ValueError("val_fraction + test_fraction must lie strictly between 0 and 1.")
    first = train_test_split(*arrays, test_size=test_fraction, random_state=seed)
    rest, tests = first[0::2], first[1::2]
    second = train_test_split(
        *rest, test_size=val_fraction / (1 - test_fraction), random_state=seed
    )
    out: list[np.ndarray] = []
    for index in range(len(arrays)):
        out += [second[2 * index], second[2 * index + 1], tests[index]]
    return out


class EpochTimes:
    """Wall-clock seconds of each training epoch and the throughput they imply."""

    def __init__(self, num_samples: int) -> None:
        self.num_samples = num_samples
        self.seconds: list[float] = []

    @property
    def samples_per_s(self) -> list[float]:
        """Training samples processed per second, one value per epoch."""
        return [self.num_samples / seconds for seconds in self.seconds]

    def summary(self) -> dict[str, float]:
        """Median seconds per epoch and samples per second, skipping the first (warm-up) epoch."""
        steady = self.seconds[1:] or self.seconds
        if not steady:
            raise ValueError("No epoch has been timed yet.")
        median = float(np.median(steady))
        return {
            "seconds_per_epoch": median,
            "samples_per_s": self.num_samples / median,
            "total_seconds": float(sum(self.seconds)),
        }


def epoch_timer(num_samples: int, verbose: bool = True) -> Any:
    """Return a Keras callback that times every epoch; read its ``.times`` (:class:`EpochTimes`).

    With ``verbose`` it prints one line per epoch: seconds and training images per second.
    """
    import keras

    class _EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times = EpochTimes(num_samples)
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self.times.seconds.append(time.perf_counter() - self._start)
            if verbose:
                rate = self.times.samples_per_s[-1]
                print(f"epoch {epoch + 1}: {self.times.seconds[-1]:.1f} s, {rate:,.0f} images/s")

    return _EpochTimer()


def fit_torch(
    model: Any,
    x_train: Any,
    y_train: Any,
    *,
    num_epochs: int,
    x_val: Any = None,
    y_val: Any = None,
    optimizer: Any = None,
    lr: float = 1e-2,
    batch_size: int | None = None,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    scheduler: Any = None,
    live: LivePlot | None = None,
    progress: bool = True,
    desc: str = "epochs",
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train a PyTorch model with mini-batches (full batch if ``batch_size`` is None).

    Arrays may be numpy or torch; they are moved to the model's device. A learning-rate
    ``scheduler`` built on ``optimizer`` is stepped once per epoch. Returns the history
    ``{"loss": [...], "val_loss": [...]}``, one value per epoch (``val_loss`` with validation data).
    """
    import torch
    from tqdm.auto import trange

    device = next(model.parameters()).device

    def as_tensor(values: Any) -> Any:
        return torch.as_tensor(values, dtype=torch.float32, device=device)

    x_train, y_train = as_tensor(x_train), as_tensor(y_train)
    has_val = x_val is not None and y_val is not None
    if has_val:
        x_val, y_val = as_tensor(x_val), as_tensor(y_val)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or torch.nn.functional.mse_loss
    generator = torch.Generator().manual_seed(seed)
    num_samples = len(x_train)
    batch = batch_size or num_samples
    history: dict[str, list[float]] = {"loss": []} | ({"val_loss": []} if has_val else {})

    for epoch in trange(num_epochs, desc=desc, disable=not progress, leave=False):
        model.train()
        if batch >= num_samples:  # full batch: no shuffling needed
            batches = [(x_train, y_train)]
        else:
            order = torch.randperm(num_samples, generator=generator).to(device)
            batches = [(x_train[index], y_train[index]) for index in torch.split(order, batch)]
        epoch_loss = 0.0
        for x_batch, y_batch in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x_batch), y_batch)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * len(x_batch)
        if scheduler is not None:
            scheduler.step()
        history["loss"].append(epoch_loss / num_samples)
        if has_val:
            model.eval()
            with torch.no_grad():
                history["val_loss"].append(loss_fn(model(x_val), y_val).item())
        if live is not None:
            live.update(epoch + 1, **{name: values[-1] for name, values in history.items()})
    if live is not None:
        live.close()
    return history


def vector_jacobian_product(function: Callable[[Any], Any], x: Any, v: Any) -> np.ndarray:
    """Return ``v^T J``, J the Jacobian of ``function`` (keras ops) at ``x``, as a NumPy array.

    This is one backward pass (``y.backward(v)`` in PyTorch), run by the framework behind Keras:
    Keras 3 has no gradient function of its own. ``v`` has the shape of ``function(x)``; the result
    has the shape of ``x``. Summing ``v * function(x)`` and differentiating gives the same result.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        x_tensor = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        y_tensor = function(x_tensor)
        weights = keras.ops.convert_to_tensor(v, dtype=y_tensor.dtype)
        (grad,) = torch.autograd.grad(y_tensor, x_tensor, grad_outputs=weights)
        return keras.ops.convert_to_numpy(grad)
    if backend == "tensorflow":
        import tensorflow as tf

        x_tensor = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x_tensor)
            y_tensor = function(x_tensor)
        weights = tf.convert_to_tensor(v, dtype=y_tensor.dtype)
        return tape.gradient(y_tensor, x_tensor, output_gradients=weights).numpy()
    raise NotImplementedError(f"Keras backend {backend!r}: use tensorflow or torch.")
