"""The GPU path in one command: ``python -m common doctor --gpu`` (``make gpu-check``).

Each check runs the GPU code path the notebooks depend on and prints one row of a pass/fail table:
TensorFlow and PyTorch see the GPU, share one CUDA stack and run a cuDNN convolution in one process
(in both import orders); TF32 and mixed-precision dtypes are what the notebooks expect; the
compiled lattice-Boltzmann step runs on CUDA and reaches a measured fraction of the memory
bandwidth; a Keras CNN trains at a measured rate; every notebook runs in smoke mode. On a machine
without a GPU it says so plainly, runs on the CPU what can run there (marked ``pass (CPU)``) and
exits non-zero. The table and its numbers are recorded in ``runs/results/gpu_check.json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common import device, notebook_runs, paths, results

PASS, CPU_PASS, FAIL, NO_GPU = "pass", "pass (CPU)", "FAIL", "needs a GPU"
FLOAT32_TOLERANCE = 1e-5  # relative error of an exact float32 product or convolution
TF32_MIN_ERROR = 1e-4  # a TF32 product of random matrices is off by ~1e-3 relative
MIN_ROOFLINE_FRACTION = 0.05  # below this the step is not the memory-bound kernel we think it is
NOTEBOOK_TIMEOUT_S = 1800


@dataclass
class CheckResult:
    """One row of the table: what was checked, how it went, and the numbers behind it."""

    name: str
    status: str
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What every check may ask: whether PyTorch sees a CUDA GPU, and where to run notebooks."""

    gpu: bool
    run_notebooks: bool
    notebook_workers: int = 2


def _ran(context: Context) -> str:
    return PASS if context.gpu else CPU_PASS


def _relative_error(value: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(value - reference).max() / np.abs(reference).max())


def frameworks_see_the_gpu(context: Context) -> CheckResult:
    """TensorFlow and PyTorch each list the GPU (name, CUDA and cuDNN of each build)."""
    frameworks = [device.tensorflow_info(), device.torch_info()]
    seen = {fw.name: fw for fw in frameworks if fw.gpus}
    parts = []
    for fw in frameworks:
        build = ", ".join(f"{k} {v}" for k, v in (("CUDA", fw.cuda), ("cuDNN", fw.cudnn)) if v)
        gpus = ", ".join(gpu.name for gpu in fw.gpus) or "no GPU"
        parts.append(f"{fw.name} {fw.version or fw.error} ({build or 'CPU build'}): {gpus}")
    detail = "; ".join(parts)
    values = {fw.name: [gpu.name for gpu in fw.gpus] for fw in frameworks}
    if len(seen) == len(frameworks):
        return CheckResult("TensorFlow and PyTorch see the GPU", PASS, detail, values)
    if not seen:
        hint = " (in a container: docker run --gpus all; on the host: nvidia-smi)"
        return CheckResult("TensorFlow and PyTorch see the GPU", NO_GPU, detail + hint, values)
    return CheckResult("TensorFlow and PyTorch see the GPU", FAIL, detail, values)


def _cuda_wheels() -> dict[str, str]:
    """Installed NVIDIA CUDA wheels (name -> CUDA major version from the -cuNN suffix)."""
    wheels = {}
    for distribution in importlib.metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        match = re.match(r"^nvidia-[a-z0-9-]+-cu(\d+)$", name)
        if match:
            wheels[name] = match.group(1)
    return wheels


def one_cuda_stack(context: Context) -> CheckResult:
    """The CUDA wheels, PyTorch's CUDA and TensorFlow's CUDA all have one major version."""
    name = "one CUDA stack for both frameworks"
    wheels = _cuda_wheels()
    torch_cuda = device.torch_info().cuda
    tensorflow_cuda = device.tensorflow_info().cuda
    majors = {f"{wheel} wheel": major for wheel, major in wheels.items()}
    if torch_cuda:
        majors["PyTorch build"] = torch_cuda.split(".")[0]
    if tensorflow_cuda and wheels:  # TensorFlow's Linux wheel is built for CUDA either way
        majors["TensorFlow build"] = str(tensorflow_cuda).split(".")[0]
    values = {"cuda_majors": sorted(set(majors.values())), "num_cuda_wheels": len(wheels)}
    if not wheels and not torch_cuda:
        detail = "no CUDA libraries installed (CPU builds; make GPU=1 installs the GPU set)"
        return CheckResult(name, NO_GPU, detail, values)
    if len(set(majors.values())) == 1:
        detail = (
            f"CUDA {next(iter(majors.values()))} throughout: {len(wheels)} nvidia wheels, "
            f"PyTorch {torch_cuda}, TensorFlow {tensorflow_cuda}"
        )
        return CheckResult(name, PASS, detail, values)
    by_major: dict[str, list[str]] = {}
    for what, major in majors.items():
        by_major.setdefault(major, []).append(what)
    detail = "; ".join(f"CUDA {major}: {', '.join(sorted(w))}" for major, w in by_major.items())
    return CheckResult(name, FAIL, detail, values)


CONVOLUTION_SCRIPT = """
import importlib, json, sys
import numpy as np
frameworks = {name: importlib.import_module(name) for name in sys.argv[1:]}
tf, torch = frameworks["tensorflow"], frameworks["torch"]
rng = np.random.default_rng(0)
images = rng.standard_normal((2, 16, 16, 3)).astype("float32")
kernel = rng.standard_normal((3, 3, 3, 4)).astype("float32")
windows = np.lib.stride_tricks.sliding_window_view(images.astype(float), (3, 3), axis=(1, 2))
reference = np.einsum("nhwcij,ijck->nhwk", windows, kernel.astype(float))
cuda = torch.cuda.is_available()
torch.backends.cudnn.allow_tf32 = False
tf.config.experimental.enable_tensor_float_32_execution(False)
torch_device = "cuda" if cuda else "cpu"
x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch_device)
w = torch.from_numpy(kernel).permute(3, 2, 0, 1).to(torch_device)
torch_out = torch.nn.functional.conv2d(x, w).permute(0, 2, 3, 1).cpu().numpy()
tf_device = "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"
with tf.device(tf_device):
    tf_tensor = tf.nn.conv2d(images, kernel, strides=1, padding="VALID")
scale = np.abs(reference).max()
print(json.dumps({
    "torch_error": float(np.abs(torch_out - reference).max() / scale),
    "tensorflow_error": float(np.abs(tf_tensor.numpy() - reference).max() / scale),
    "torch_device": str(x.device), "tensorflow_device": tf_tensor.device.split("device:")[-1],
    "cudnn": torch.backends.cudnn.version() if cuda else None,
}))
"""


FRAMEWORK_NAMES = {"tensorflow": "TensorFlow", "torch": "PyTorch"}


def _convolution_in_one_process(order: tuple[str, str], context: Context) -> CheckResult:
    name = f"cuDNN convolution in one process, {FRAMEWORK_NAMES[order[0]]} imported first"
    command = [sys.executable, "-c", CONVOLUTION_SCRIPT, *order]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if process.returncode:
        lines = (process.stderr or process.stdout).strip().splitlines()
        return CheckResult(name, FAIL, " | ".join(lines[-3:]) or "crashed")
    found = json.loads(process.stdout.strip().splitlines()[-1])
    errors = found["torch_error"], found["tensorflow_error"]
    where = f"PyTorch on {found['torch_device']}, TensorFlow on {found['tensorflow_device']}"
    detail = f"{where}; relative errors {errors[0]:.1e}, {errors[1]:.1e} (float32)"
    on_gpu = "cuda" in found["torch_device"] and "GPU" in found["tensorflow_device"]
    ok = max(errors) < FLOAT32_TOLERANCE and (on_gpu or not context.gpu)
    if found["cudnn"]:
        detail += f"; cuDNN {found['cudnn']}"
    return CheckResult(name, _ran(context) if ok else FAIL, detail, found)


def convolution_tensorflow_first(context: Context) -> CheckResult:
    """Both frameworks convolve on the GPU in one process, TensorFlow loaded first."""
    return _convolution_in_one_process(("tensorflow", "torch"), context)


def convolution_torch_first(context: Context) -> CheckResult:
    """The same with PyTorch loaded first (the other framework's CUDA libraries then serve)."""
    return _convolution_in_one_process(("torch", "tensorflow"), context)


def _matmul_errors() -> dict[str, float]:
    """Relative error of a float32 product of random 512x512 matrices, per framework."""
    import keras
    import torch

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 512, 512))
    reference = a @ b
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    keras_product = keras.ops.convert_to_numpy(keras.ops.matmul(a32, b32))
    torch_device = device.torch_device()
    torch_product = (
        (torch.from_numpy(a32).to(torch_device) @ torch.from_numpy(b32).to(torch_device))
        .cpu()
        .numpy()
    )
    return {
        "keras": _relative_error(keras_product, reference),
        "torch": _relative_error(torch_product, reference),
    }


def tf32_as_the_notebooks_expect(context: Context) -> CheckResult:
    """TF32 is on where tf32_in_effect says so, and exact_float32 makes products exact."""
    name = "TF32 reported, measured, and off on request"
    reported = device.tf32_in_effect()
    measured = _matmul_errors()
    # where TF32 is reported, a product is off by ~1e-3; where it is not, it is exact float32
    consistent = all(
        measured[fw] > TF32_MIN_ERROR if reported[fw] else measured[fw] < FLOAT32_TOLERANCE
        for fw in reported
    )
    device.exact_float32()
    try:
        exact = _matmul_errors()
        reported_after = device.tf32_in_effect()
    finally:
        _restore_tf32_defaults()
    ok = consistent and max(exact.values()) < FLOAT32_TOLERANCE and not any(reported_after.values())
    detail = (
        "default: "
        + ", ".join(
            f"{fw} {measured[fw]:.1e}{' (TF32)' if reported[fw] else ''}" for fw in measured
        )
        + "; exact_float32: "
        + ", ".join(f"{fw} {exact[fw]:.1e}" for fw in exact)
    )
    values = {"tf32_in_effect": reported, "default_error": measured, "exact_error": exact}
    return CheckResult(name, _ran(context) if ok else FAIL, detail, values)


def _restore_tf32_defaults() -> None:
    """Each framework's own default again (TensorFlow: TF32 on; PyTorch: off for matmuls)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = True
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].config.experimental.enable_tensor_float_32_execution(True)


def mixed_precision_outputs_float32(context: Context) -> CheckResult:
    """Under mixed_float16 the notebooks' models compute in float16 and output float32."""
    import keras

    from common.cfd import flow_models
    from common.cyclone import models as cyclone_models

    name = "mixed precision: float16 inside, float32 out"
    policy = device.use_mixed_precision(enable=True, verbose=False)
    try:
        rng = np.random.default_rng(0)
        grid = (32, 64)
        inputs = rng.uniform(0.05, 1.0, (8, *grid, 1)).astype(np.float32)  # SDF > 0: fluid
        targets = rng.standard_normal((8, *grid, 2)).astype(np.float32)
        surrogate = flow_models.guo_cnn(grid, filters=(8, 16), bottleneck=32)
        history, _ = flow_models.fit_surrogate(
            surrogate, (inputs, targets), (inputs, targets), num_epochs=3, batch_size=4, verbose=0
        )
        classifier = cyclone_models.pradhan_cnn(image_size=64)
        outputs = {
            "flow surrogate": surrogate.output.dtype,
            **{
                f"cyclone {name}": output.dtype
                for name, output in zip(classifier.output_names, classifier.outputs, strict=True)
            },
        }
        float16_inside = all(
            any(layer.compute_dtype == "float16" for layer in model.layers)
            for model in (surrogate, classifier)
        )
        losses = history.history["loss"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    ok = (
        policy == "mixed_float16"
        and float16_inside
        and all(dtype == "float32" for dtype in outputs.values())
        and bool(np.isfinite(losses).all())
    )
    detail = f"outputs {', '.join(f'{k} {v}' for k, v in outputs.items())}; loss "
    detail += " -> ".join(f"{loss:.3f}" for loss in losses)
    values = {"outputs": {k: str(v) for k, v in outputs.items()}, "losses": losses}
    return CheckResult(name, _ran(context) if ok else FAIL, detail, values)


def _lbm_case(batch: int) -> tuple[np.ndarray, Any]:
    from common.cfd import flow_data, shapes

    obstacles = shapes.random_obstacles(batch, *flow_data.LESSON_GRID, seed=batch)
    return obstacles, flow_data.channel_for(flow_data.LESSON_GRID)


def compiled_lbm_step(context: Context) -> CheckResult:
    """torch.compile's LBM step runs on the GPU (no fallback) and matches the eager step."""
    from common.cfd import lbm

    name = "compiled LBM step on " + ("CUDA" if context.gpu else "the CPU")
    obstacles, flow = _lbm_case(4)
    options = {"max_steps": 300, "tolerance": 1e-12, "device": device.torch_device()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = lbm.solve_steady(obstacles, flow, step="compiled", **options)
    eager = lbm.solve_steady(obstacles, flow, step="eager", **options)
    difference = float(
        max(np.abs(compiled.ux - eager.ux).max(), np.abs(compiled.uy - eager.uy).max()) / flow.u_max
    )
    ran = compiled.metadata["step"]
    fallbacks = [str(w.message) for w in caught if "fall" in str(w.message).lower()]
    ok = ran == "compiled" and not fallbacks and difference < 1e-5
    detail = f"ran the {ran} step; max difference from eager {difference:.1e} u_max (300 steps)"
    if fallbacks:
        detail += f"; {fallbacks[0]}"
    values = {"step": ran, "difference": difference}
    return CheckResult(name, _ran(context) if ok else FAIL, detail, values)


def lbm_roofline(context: Context) -> CheckResult:
    """MLUPS of the fastest step on 32 lesson geometries, against the copy bandwidth."""
    from common.cfd import lbm

    obstacles, flow = _lbm_case(32)
    step = lbm.fast_step()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlups = lbm.measure_mlups(obstacles, flow, num_steps=200, step=step)
    bandwidth = lbm.copy_bandwidth(device.torch_device())
    fraction = mlups * 1e6 * lbm.BYTES_PER_UPDATE_FLOAT32 / 1e9 / bandwidth
    fallbacks = [str(w.message) for w in caught if "fall" in str(w.message).lower()]
    ok = fraction > MIN_ROOFLINE_FRACTION and not fallbacks
    detail = (
        f"{step} step: {mlups:,.0f} MLUPS x {lbm.BYTES_PER_UPDATE_FLOAT32} B = "
        f"{mlups * lbm.BYTES_PER_UPDATE_FLOAT32 / 1e3:,.0f} GB/s, {fraction:.0%} of the "
        f"{bandwidth:,.0f} GB/s copy bandwidth"
    )
    if fraction > 1:
        detail += " (above 100%: the batch fits in the cache)"
    values = {"step": step, "mlups": mlups, "copy_bandwidth_gbs": bandwidth, "fraction": fraction}
    return CheckResult("LBM benchmark, bandwidth roofline", _ran(context) if ok else FAIL, detail,
                       values)  # fmt: skip


def keras_cnn_throughput(context: Context) -> CheckResult:
    """Images per second of a Keras MNIST-sized CNN training step, in the notebooks' precision."""
    import keras

    name = "Keras CNN training throughput"
    policy = device.use_mixed_precision(verbose=False)
    try:
        batch_size, num_batches = 256, 40
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 1, (batch_size * num_batches, 28, 28, 1)).astype(np.float32)
        labels = rng.integers(0, 10, len(images))
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.Conv2D(64, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Flatten(),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10, activation="softmax", dtype="float32"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(images[:batch_size * 4], labels[:batch_size * 4], batch_size=batch_size,
                  verbose=0)  # fmt: skip  # compiles the step
        start = time.perf_counter()
        history = model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images_per_s = len(images) / seconds
    loss = history.history["loss"][-1]
    on_gpu = device.keras_has_gpu()
    ok = bool(np.isfinite(loss)) and on_gpu == context.gpu  # Keras trains where PyTorch sees a GPU
    detail = (
        f"{images_per_s:,.0f} images/s ({policy}, batch {batch_size}, {keras.backend.backend()})"
    )
    if on_gpu != context.gpu:
        detail += f"; Keras {'sees' if on_gpu else 'does not see'} the GPU, PyTorch does" + (
            " not" if on_gpu else ""
        )
    values = {"images_per_s": images_per_s, "policy": policy, "loss": loss, "keras_gpu": on_gpu}
    return CheckResult(name, _ran(context) if ok else FAIL, detail, values)


def _run_notebook(path: Path) -> tuple[int, float, str]:
    """Run one notebook with nbval in smoke mode; return (exit code, seconds, last line)."""
    return notebook_runs.run_notebook(path, "smoke", NOTEBOOK_TIMEOUT_S)


def notebooks_in_smoke_mode(context: Context) -> list[CheckResult]:
    """Every notebook run by nbval in smoke mode on this machine: one row per notebook."""
    if not context.run_notebooks:
        detail = "not run (the CPU's notebooks are make test's job; --notebooks runs them here)"
        return [CheckResult("every notebook in smoke mode", NO_GPU, detail)]
    root = paths.repo_root()
    paths_to_run = notebook_runs.notebooks()
    with ThreadPoolExecutor(max_workers=context.notebook_workers) as pool:
        outcomes = list(pool.map(_run_notebook, paths_to_run))
    rows = []
    for path, (code, seconds, last_line) in zip(paths_to_run, outcomes, strict=True):
        name = f"smoke: {os.path.relpath(path, root)}"
        status = _ran(context) if code == 0 else FAIL
        rows.append(CheckResult(name, status, f"{last_line.strip('= ')}, {seconds:.0f} s",
                                {"seconds": seconds, "exit_code": code}))  # fmt: skip
    return rows


CHECKS: list[Callable[[Context], CheckResult]] = [
    frameworks_see_the_gpu,
    one_cuda_stack,
    convolution_tensorflow_first,
    convolution_torch_first,
    tf32_as_the_notebooks_expect,
    mixed_precision_outputs_float32,
    compiled_lbm_step,
    lbm_roofline,
    keras_cnn_throughput,
]


def run(
    checks: list[Callable[[Context], Any]] | None = None,
    run_notebooks: bool | None = None,
    notebook_workers: int | None = None,
) -> tuple[int, list[CheckResult]]:
    """Run the checks (all, and the notebooks, by default), print the table and record it.

    ``run_notebooks=None`` runs the notebooks where there is a GPU (a row says so elsewhere).
    Returns the exit code, 0 only when a GPU is present and nothing failed, and the rows.
    """
    gpu = device.has_gpu()
    workers = notebook_workers or max(1, min(4, (os.cpu_count() or 2) // 4))
    context = Context(gpu, gpu if run_notebooks is None else run_notebooks, workers)
    print("== GPU check ==")
    print(device.verdict())
    rows: list[CheckResult] = []
    for check in checks if checks is not None else [*CHECKS, notebooks_in_smoke_mode]:
        start = time.perf_counter()
        try:
            found = check(context)
        except Exception as error:  # noqa: BLE001 (a crash is a failed check, reported in its row)
            found = CheckResult(check.__name__.replace("_", " "), FAIL,
                                f"{type(error).__name__}: {error}")  # fmt: skip
        for row in found if isinstance(found, list) else [found]:
            row.values.setdefault("seconds", round(time.perf_counter() - start, 1))
            rows.append(row)
            print(f"{row.status:12s} {row.name}: {row.detail}", flush=True)
    failed = [row for row in rows if row.status == FAIL]
    print("\n" + table(rows))
    if not gpu:
        print(
            "\nNO GPU: PyTorch sees no CUDA GPU, so the GPU path was not proven. The rows marked "
            f"'{CPU_PASS}' ran on this machine's CPU; those marked '{NO_GPU}' need a GPU."
        )
    summary = f"{len(failed)} of {len(rows)} checks failed" if failed else "no check failed"
    print(("GPU check: " if gpu else "CPU only: ") + summary)
    results.record(
        {"gpu": gpu, "rows": [row.__dict__ for row in rows], "failed": len(failed)},
        name="gpu_check",
    )
    return (0 if gpu and not failed else 1), rows


def table(rows: list[CheckResult]) -> str:
    """The rows as a Markdown table (check, result, detail), ready for the README."""
    lines = ["| check | result | detail |", "|---|---|---|"]
    lines += [f"| {row.name} | {row.status} | {row.detail.replace('|', '¦')} |" for row in rows]
    return "\n".join(lines)
