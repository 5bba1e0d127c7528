"""One call to make a notebook repeatable: seeds Python, NumPy, TensorFlow, Keras and PyTorch."""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np

DEFAULT_SEED = 42


def seed_all(seed: int = DEFAULT_SEED) -> int:
    """Seed ``random``, NumPy, TensorFlow, Keras and PyTorch; return the seed."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device, whatever the Keras backend
    if importlib.util.find_spec("keras") is not None:
        import keras

        # Seeds Python, NumPy, TensorFlow (whenever it is installed) and Keras' own generator.
        keras.utils.set_random_seed(seed)
    return seed
