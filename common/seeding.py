"""One call to make a notebook repeatable: seeds Python, NumPy, Keras/TensorFlow and PyTorch."""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np

DEFAULT_SEED = 42


def seed_all(seed: int = DEFAULT_SEED) -> int:
    """Seed ``random``, NumPy, Keras (and its backend) and PyTorch; return the seed."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device
    if importlib.util.find_spec("keras") is not None:
        import keras

        keras.utils.set_random_seed(seed)  # python, numpy and the active backend
    if importlib.util.find_spec("tensorflow") is not None and _keras_backend() == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(seed)
    return seed


def _keras_backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")
