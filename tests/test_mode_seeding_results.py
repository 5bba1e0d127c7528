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
    assert out == paths.runs_dir() / "results" / "smoke" / "99_demo.json"
    payload = json.loads(out.read_text())
    assert payload["mode"] == "smoke"
    assert payload["metrics"] == {"accuracy": 0.5, "curve": [0, 1, 2], "n": 7}
    assert payload["seconds"] >= 0
    assert payload["variant"] is None and payload["device"].startswith(("CPU", "GPU"))
    assert results.load("99_demo") == payload


def test_record_names_device_framework_versions_and_setup(isolated_dirs):
    import keras
    import torch

    out = results.record({"error": 0.1}, name="99_demo", setup={"grid": (64, 128)})
    payload = json.loads(out.read_text())
    assert payload["setup"] == {"grid": [64, 128]}
    versions = payload["versions"]
    assert versions["torch"] == torch.__version__ and versions["keras"] == keras.__version__
    assert versions["keras_backend"] == keras.backend.backend() and "python" in versions
    assert payload["device"].startswith(("CPU", "GPU"))


@pytest.mark.fault
def test_a_smoke_run_never_overwrites_the_full_run_record(isolated_dirs, monkeypatch):
    monkeypatch.setenv(mode.MODE_ENV, "full")
    full_path = results.record({"accuracy": 0.99}, name="99_demo")
    monkeypatch.setenv(mode.MODE_ENV, "smoke")
    smoke_path = results.record({"accuracy": 0.6}, name="99_demo")
    assert full_path != smoke_path and full_path.exists()
    assert full_path == paths.runs_dir() / "results" / "99_demo.json"
    assert results.load("99_demo")["metrics"] == {"accuracy": 0.6}
    assert results.load("99_demo", run_mode="full")["metrics"] == {"accuracy": 0.99}
    monkeypatch.setenv(mode.MODE_ENV, "full")
    assert results.load("99_demo")["metrics"] == {"accuracy": 0.99}


@pytest.mark.fault
@pytest.mark.parametrize(
    ("name", "variant"),
    [("../../escaped", None), ("/tmp/escaped", None), ("99_demo", "../x"), ("..", None),
     ("a/b", None), ("99_demo", "a\\b"), (".hidden", None)],
)
def test_record_refuses_a_name_that_is_a_path(isolated_dirs, monkeypatch, name, variant):
    with pytest.raises(ValueError, match="cannot name a results file"):
        results.record({"x": 1}, name=name, variant=variant)
    written = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    assert written == [], f"nothing may be written, found {written}"


def test_a_variant_records_beside_the_lesson_without_overwriting_it(isolated_dirs):
    lesson = results.record({"error": 0.05}, name="99_demo")
    variant = results.record({"error": 0.04}, name="99_demo", variant="original_grid")
    assert variant.name == "99_demo-original_grid.json" and lesson.exists()
    assert variant.parent == lesson.parent
    assert results.load("99_demo")["metrics"] == {"error": 0.05}
    assert results.load("99_demo", "original_grid")["variant"] == "original_grid"


def test_record_names_the_file_after_the_running_notebook(isolated_dirs, monkeypatch):
    monkeypatch.setenv(results.NOTEBOOK_ENV, "03_capacity_and_regularization")
    out = results.record({"val_loss": 0.1})
    assert out.name == "03_capacity_and_regularization.json"
