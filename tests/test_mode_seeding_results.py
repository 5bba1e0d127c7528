"""Mode picker, seeding and the results record."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from common import mode, paths, results, seeding


def test_mode_defaults_to_full(monkeypatch):
    monkeypatch.delenv(mode.MODE_ENV, raising=False)
    assert mode.current() == "full"
    assert mode.pick(full=12, smoke=1) == 12


def test_smoke_mode_picks_the_smoke_value(monkeypatch):
    monkeypatch.setenv(mode.MODE_ENV, "SMOKE")
    assert mode.is_smoke()
    assert mode.pick(full=60_000, smoke=2_000) == 2_000


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(mode.MODE_ENV, "fast")
    with pytest.raises(ValueError, match="full, smoke"):
        mode.pick(full=1, smoke=0)


def _draws() -> tuple:
    import keras
    import torch

    return (
        random.random(),
        np.random.rand(3).tolist(),
        torch.rand(3).tolist(),
        keras.ops.convert_to_numpy(keras.random.uniform((3,))).tolist(),
    )


def test_seed_all_makes_python_numpy_torch_and_keras_repeatable():
    seeding.seed_all(123)
    first = _draws()
    seeding.seed_all(123)
    assert _draws() == first
    seeding.seed_all(124)
    assert _draws() != first


def test_record_writes_mode_metrics_and_seconds(isolated_dirs, monkeypatch):
    monkeypatch.setenv(mode.MODE_ENV, "smoke")
    out = results.record(
        {"accuracy": np.float32(0.5), "curve": np.arange(3), "n": 7}, name="99_demo"
    )
    assert out == paths.runs_dir() / "results" / "99_demo.json"
    payload = json.loads(out.read_text())
    assert payload["mode"] == "smoke"
    assert payload["metrics"] == {"accuracy": 0.5, "curve": [0, 1, 2], "n": 7}
    assert payload["seconds"] >= 0
    assert payload["variant"] is None and payload["hardware"].startswith(("CPU", "GPU"))
    assert results.load("99_demo") == payload


def test_a_variant_records_beside_the_lesson_without_overwriting_it(isolated_dirs):
    lesson = results.record({"error": 0.05}, name="99_demo")
    variant = results.record({"error": 0.04}, name="99_demo", variant="original_grid")
    assert variant.name == "99_demo-original_grid.json" and lesson.exists()
    assert results.load("99_demo")["metrics"] == {"error": 0.05}
    assert results.load("99_demo", "original_grid")["variant"] == "original_grid"


def test_record_names_the_file_after_the_running_notebook(isolated_dirs, monkeypatch):
    monkeypatch.setenv(results.NOTEBOOK_ENV, "03_capacity_and_regularization")
    out = results.record({"val_loss": 0.1})
    assert out.name == "03_capacity_and_regularization.json"
