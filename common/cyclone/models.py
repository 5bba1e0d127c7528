"""The lab's CNN (Pradhan et al. 2018, scaled to small images), its training and its scores.

Notebook 03 writes the network out as ``build_cnn``, explains it and checks that it equals
``pradhan_cnn`` (layers, parameters, predictions); notebooks 04 and 05 import it from here.
A change to ``pradhan_cnn`` must be made in notebook 03 as well, or its check fails.
The network has two heads on one trunk: an 8-class softmax (the intensity class) and a linear
output (the wind in units of 100 kt), trained together.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.metrics import recall_score

from common.cyclone.images import CycloneImages
from common.cyclone.intensity import NUM_CLASSES, wind_to_class

WIND_SCALE_KT = 100.0  # the regression head predicts wind / 100 kt, a number of order one
# Global normalisation of the input (notebook 02): the mean and standard deviation of the lesson
# frames' pixels on the [0, 1] scale. One pair for every image keeps the absolute temperature.
PIXEL_MEAN = 0.16
PIXEL_STD = 0.12


def pradhan_cnn(image_size: int = 64, dropout: float = 0.3) -> keras.Model:
    """Normalise; five convolutions, three poolings, two dense layers; a class and a wind head."""
    inputs = keras.Input(shape=(image_size, image_size, 1), name="ir_image")
    x = keras.layers.Rescaling(1 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD)(inputs)
    x = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(96, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(96, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = {
        "intensity_class": keras.layers.Dense(
            NUM_CLASSES, activation="softmax", dtype="float32", name="intensity_class")(x),
        "wind": keras.layers.Dense(1, dtype="float32", name="wind")(x),
    }
    return keras.Model(inputs, outputs, name="pradhan_cnn")


def compile_cnn(model: keras.Model, optimizer: str = "adam", learning_rate: float | None = None,
                decay_steps: int | None = None, wind_weight: float = 5.0) -> keras.Model:
    """Compile with Adam (default 1e-3) or SGD with momentum 0.9 (default 0.01), as in the paper.

    With ``decay_steps`` (epochs times batches per epoch) the learning rate falls to zero on a
    cosine, which steadies the last epochs' weights.
    """
    rate: Any = learning_rate or (1e-3 if optimizer == "adam" else 0.01)
    if decay_steps:
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps)
    if optimizer == "adam":
        opt = keras.optimizers.Adam(rate)
    elif optimizer == "sgd":
        opt = keras.optimizers.SGD(rate, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}")
    model.compile(
        optimizer=opt,
        loss={"intensity_class": "sparse_categorical_crossentropy", "wind": "mse"},
        loss_weights={"intensity_class": 1.0, "wind": wind_weight},
        metrics={"intensity_class": "accuracy"},
    )
    return model


def targets(images: CycloneImages) -> dict[str, np.ndarray]:
    """The two heads' targets: the class index and the wind in units of 100 kt."""
    return {"intensity_class": images.labels,
            "wind": (images.wind_kt / WIND_SCALE_KT).astype(np.float32)[:, None]}


def fit_cnn(model: keras.Model, train: CycloneImages, val: CycloneImages, *, num_epochs: int,
            batch_size: int = 128, sample_weight: np.ndarray | None = None,
            callbacks: list[Any] | None = None, verbose: int | str = "auto") -> dict[str, list]:
    """Train both heads; return the Keras history as a dict of lists."""
    weights = None
    if sample_weight is not None:
        weights = {"intensity_class": sample_weight, "wind": sample_weight}
    history = model.fit(
        train.to_model_input(), targets(train), sample_weight=weights,
        validation_data=(val.to_model_input(), targets(val)), epochs=num_epochs,
        batch_size=batch_size, callbacks=callbacks or [], verbose=verbose, shuffle=True)
    return history.history


def predict(model: keras.Model, images: CycloneImages, batch_size: int = 512) -> (
    tuple[np.ndarray, np.ndarray]
):
    """Return the class probabilities ``(N, 8)`` and the predicted wind in knots ``(N,)``."""
    inputs = images.to_model_input()
    probabilities, winds = [], []
    for start in range(0, len(inputs), batch_size):
        out = model(inputs[start : start + batch_size], training=False)
        probabilities.append(keras.ops.convert_to_numpy(out["intensity_class"]))
        winds.append(keras.ops.convert_to_numpy(out["wind"])[:, 0] * WIND_SCALE_KT)
    if not probabilities:
        return np.zeros((0, NUM_CLASSES), np.float32), np.zeros(0, np.float32)
    return np.concatenate(probabilities), np.concatenate(winds)


def scores(true_wind_kt: np.ndarray, predicted_class: np.ndarray,
           predicted_wind_kt: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, macro recall, per-class recall, share of errors in adjacent classes, RMSE."""
    true_class = wind_to_class(true_wind_kt)
    predicted_class = np.asarray(predicted_class)
    present = np.unique(true_class)
    errors = predicted_class != true_class
    distance = np.abs(predicted_class - true_class)
    out: dict[str, Any] = {
        "accuracy": float(np.mean(~errors)),
        "macro_recall": float(recall_score(true_class, predicted_class, labels=present,
                                           average="macro", zero_division=0)),
        "recall_per_class": {int(c): float(np.mean(predicted_class[true_class == c] == c))
                             for c in present},
        "adjacent_error_share": float(np.mean(distance[errors] == 1)) if errors.any() else 1.0,
        "num_images": int(len(true_class)),
    }
    if predicted_wind_kt is not None:
        out["rmse_kt"] = float(np.sqrt(np.mean((predicted_wind_kt - true_wind_kt) ** 2)))
    return out


def competition_score(result: dict[str, Any]) -> float:
    """The lab's leaderboard score: macro recall minus RMSE / 100 kt (higher is better)."""
    if "rmse_kt" not in result:
        raise ValueError("competition_score needs scores(...) computed with predicted winds")
    return float(result["macro_recall"] - result["rmse_kt"] / 100.0)
