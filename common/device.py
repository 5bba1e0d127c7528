"""What hardware the notebook runs on, and how to share and free it.

Nothing heavy happens at import. Two environment variables are set there (unless already set):
``TF_CPP_MIN_LOG_LEVEL=2`` hides TensorFlow's C++ info and warning lines, and
``TF_FORCE_GPU_ALLOW_GROWTH=true`` turns on TensorFlow's GPU memory growth, so that several
notebooks can share one GPU. TensorFlow reads the latter when it first sets up the GPU, so it works
wherever this module is imported before TensorFlow touches the GPU; the Python call
``tf.config.experimental.set_memory_growth`` fails once the GPU is set up. :func:`report` loads
TensorFlow and PyTorch and prints one verdict line.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # read when TensorFlow sets up a GPU


@dataclass
class GpuInfo:
    """One GPU as a framework sees it."""

    name: str
    memory_gib: float | None = None
    compute_capability: str | None = None


@dataclass
class FrameworkInfo:
    """A framework's version and the GPUs it sees."""

    name: str
    version: str | None
    gpus: list[GpuInfo] = field(default_factory=list)
    cuda: str | None = None
    cudnn: str | None = None
    error: str | None = None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def torch_info() -> FrameworkInfo:
    """Return PyTorch's version, CUDA/cuDNN versions and visible GPUs."""
    if not _installed("torch"):
        return FrameworkInfo("PyTorch", None, error="not installed")
    import torch

    info = FrameworkInfo("PyTorch", torch.__version__, cuda=torch.version.cuda)
    if torch.cuda.is_available():
        info.cudnn = str(torch.backends.cudnn.version())
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info.gpus.append(
                GpuInfo(
                    props.name, round(props.total_memory / 2**30, 1), f"{props.major}.{props.minor}"
                )
            )
    return info


def tensorflow_info() -> FrameworkInfo:
    """Return TensorFlow's version, build CUDA/cuDNN versions and visible GPUs."""
    if not _installed("tensorflow"):
        return FrameworkInfo("TensorFlow", None, error="not installed")
    import tensorflow as tf

    enable_memory_growth()
    build = tf.sysconfig.get_build_info()
    info = FrameworkInfo(
        "TensorFlow",
        tf.__version__,
        cuda=build.get("cuda_version"),
        cudnn=build.get("cudnn_version"),
    )
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        info.gpus.append(
            GpuInfo(
                details.get("device_name", gpu.name),
                None,
                ".".join(map(str, capability)) if capability else None,
            )
        )
    return info


def enable_memory_growth() -> None:
    """Let TensorFlow allocate GPU memory as needed instead of taking all of it at start.

    Where the GPU is already set up, growth is on only if ``TF_FORCE_GPU_ALLOW_GROWTH`` was set
    before that (this module sets it at import); otherwise this warns.
    """
    if not _installed("tensorflow"):
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is set up: only the environment variable could have done it
            if os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "").lower() != "true":
                import warnings

                warnings.warn(
                    "TensorFlow set up the GPU before memory growth was enabled: this process "
                    "may hold the whole GPU. Set TF_FORCE_GPU_ALLOW_GROWTH=true before starting "
                    "Python, or import common.device before TensorFlow uses the GPU.",
                    stacklevel=2,
                )


def has_gpu() -> bool:
    """Return True when PyTorch sees a CUDA GPU."""
    if not _installed("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def keras_has_gpu() -> bool:
    """Return True when the Keras backend in use (TensorFlow or PyTorch) sees a GPU."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "torch":
        return has_gpu()
    return False


def exact_float32() -> None:
    """Turn off TF32 in PyTorch and TensorFlow so float32 maths on a GPU is exact float32.

    Ampere and newer NVIDIA GPUs round float32 matmuls and convolutions to a 10-bit mantissa
    (TF32) by default, which is fine for training but breaks comparisons at 1e-5. No-op on CPU.
    """
    if _installed("torch"):
        import torch

        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    if _installed("tensorflow"):
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)


def _ampere_or_newer(framework: FrameworkInfo) -> bool:
    """Whether a framework sees a GPU with tensor cores that do TF32 (compute capability >= 8)."""
    return any(
        gpu.compute_capability and int(gpu.compute_capability.split(".")[0]) >= 8
        for gpu in framework.gpus
    )


def tf32_in_effect() -> dict[str, bool]:
    """Whether float32 matrix products run in TF32 right now, for PyTorch and for Keras.

    TF32 keeps 10 of float32's 23 mantissa bits in the inputs of a product; it needs an Ampere or
    newer NVIDIA GPU, where TensorFlow uses it by default and PyTorch does not (for matmuls).
    """
    torch_tf32 = False
    if _installed("torch"):
        import torch

        torch_tf32 = bool(torch.backends.cuda.matmul.allow_tf32) and _ampere_or_newer(torch_info())
    keras_tf32 = torch_tf32
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and _installed("tensorflow"):
        import tensorflow as tf

        keras_tf32 = bool(
            tf.config.experimental.tensor_float_32_execution_enabled()
        ) and _ampere_or_newer(tensorflow_info())
    return {"torch": torch_tf32, "keras": keras_tf32}


def use_mixed_precision(enable: bool | None = None, verbose: bool = True) -> str:
    """Set Keras' global dtype policy: ``mixed_float16`` on a GPU, ``float32`` on a CPU.

    Float16 maths runs on a GPU's tensor cores at several times the float32 rate; on a CPU it is
    slower, so ``enable=None`` decides by the hardware. Returns the policy name. Build models
    after calling this, and keep the last layer (softmax, regression head) in float32.
    """
    import keras

    enable = keras_has_gpu() if enable is None else enable
    policy = "mixed_float16" if enable else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if verbose:
        where = "GPU present" if keras_has_gpu() else "no GPU"
        print(f"Keras dtype policy: {policy} ({where})")
    return policy


def torch_device() -> Any:
    """Return ``torch.device('cuda')`` when a GPU is present, else ``torch.device('cpu')``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def verdict(frameworks: list[FrameworkInfo] | None = None) -> str:
    """Return a one-line summary such as ``no GPU: running on CPU``."""
    frameworks = frameworks if frameworks is not None else [tensorflow_info(), torch_info()]
    seen = [fw for fw in frameworks if fw.gpus]
    if not seen:
        return f"no GPU: running on CPU ({os.cpu_count()} cores)"
    gpu = seen[0].gpus[0]
    who = " and ".join(fw.name for fw in seen)
    missing = [fw.name for fw in frameworks if fw.version and not fw.gpus]
    line = f"GPU: {gpu.name} seen by {who}"
    if missing:
        line += f"; {', '.join(missing)} sees no GPU (it will use the CPU)"
    return line


def report(verbose: bool = True) -> dict[str, Any]:
    """Print framework versions and devices with a verdict line; return the same as a dict."""
    frameworks = [tensorflow_info(), torch_info()]
    keras_version = None
    if _installed("keras"):
        import keras

        keras_version = keras.__version__
    summary = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "keras": keras_version,
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "frameworks": [fw.__dict__ | {"gpus": [g.__dict__ for g in fw.gpus]} for fw in frameworks],
        "verdict": verdict(frameworks),
    }
    if verbose:
        print(f"Python {summary['python']} on {summary['platform']}")
        print(f"Keras {keras_version} (backend: {summary['keras_backend']})")
        for fw in frameworks:
            if fw.error:
                print(f"{fw.name}: {fw.error}")
                continue
            build = ", ".join(f"{k} {v}" for k, v in (("CUDA", fw.cuda), ("cuDNN", fw.cudnn)) if v)
            print(f"{fw.name} {fw.version}" + (f" ({build})" if build else ""))
            for gpu in fw.gpus:
                memory = f", {gpu.memory_gib} GiB" if gpu.memory_gib else ""
                print(f"  GPU: {gpu.name}{memory}")
        print(f"=> {summary['verdict']}")
    return summary


def memory_report() -> str:
    """Return a line with the GPU memory PyTorch and TensorFlow hold now (empty on CPU)."""
    lines = []
    if has_gpu():
        import torch

        allocated = torch.cuda.memory_allocated() / 2**20
        reserved = torch.cuda.memory_reserved() / 2**20
        lines.append(f"PyTorch: {allocated:.0f} MiB allocated, {reserved:.0f} MiB reserved")
    if "tensorflow" in sys.modules:  # only report TensorFlow if the notebook loaded it
        tf = sys.modules["tensorflow"]
        for index, _ in enumerate(tf.config.list_logical_devices("GPU")):
            usage = tf.config.experimental.get_memory_info(f"GPU:{index}")
            lines.append(f"TensorFlow GPU:{index}: {usage['current'] / 2**20:.0f} MiB in use")
    return "; ".join(lines) if lines else "no GPU memory in use (CPU only)"


def release() -> None:
    """Free framework memory at the end of a notebook so the next one can use the GPU."""
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        sys.modules["torch"].cuda.empty_cache()
    print("Released framework memory: " + memory_report())
