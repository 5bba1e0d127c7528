"""The instructor container's GPU set (constraints-gpu.txt) resolves to one CUDA stack.

The resolution asks the package index for the wheels' metadata only (``pip install --dry-run
--report``, for Linux x86_64 and Python 3.11 whatever this machine is); nothing is installed, and
the pip that constraints.txt pins reads the metadata without downloading the wheels (older ones
fetch gigabytes). It needs the package index, as ``make install`` does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

GPU_CONSTRAINTS = REPO_ROOT / "constraints-gpu.txt"
CONTAINER_PYTHON = "3.11"
# the container's glibc (Debian 12: 2.36) runs every manylinux wheel up to manylinux_2_36; pip
# takes the platform tags literally, so list them all, with the legacy aliases
MANYLINUX = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)) + (
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
UNREACHABLE = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
    r"ConnectTimeout|Max retries exceeded"
)
# every CUDA library a framework loads, by family; the suffix is the CUDA major version
CUDA_PACKAGE = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _gpu_requirements() -> list[str]:
    """What the container installs: the project's dependencies, TensorFlow with its CUDA wheels."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [
        requirement.replace("tensorflow", "tensorflow[and-cuda]", 1)
        if _name(requirement) == "tensorflow"
        else requirement
        for requirement in requirements
    ]


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict[str, dict]:
    """Name -> metadata of every package pip would install for the GPU set."""
    folder = tmp_path_factory.mktemp("gpu_set")
    report = folder / "report.json"
    platforms = [option for tag in MANYLINUX for option in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
        "--target", str(folder / "target"), "--report", str(report),
        "--only-binary=:all:", "--python-version", CONTAINER_PYTHON, "--implementation", "cp",
        *platforms, "-c", str(GPU_CONSTRAINTS), *_gpu_requirements(),
    ]  # fmt: skip
    # the container's pip reads no machine-wide configuration (local indexes, caps on versions)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIP_") or key == "PIP_CERT"
    }
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode and UNREACHABLE.search(result.stdout + result.stderr):
        pytest.skip("the package index cannot be reached (make install needs it too)")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    return {_name(item["metadata"]["name"]): item["metadata"] for item in installs}


def test_the_gpu_set_resolves_to_exactly_its_pins(resolved):
    pins = _pins(GPU_CONSTRAINTS)
    versions = {name: metadata["version"] for name, metadata in resolved.items()}
    unpinned = sorted(set(versions) - set(pins))
    assert not unpinned, f"resolved but not pinned in constraints-gpu.txt: {unpinned}"
    unused = sorted(set(pins) - set(versions) - {"pip"})
    assert not unused, f"pinned but not needed by the GPU set: {unused}"
    assert all(versions[name] == pins[name] for name in versions)


def test_the_gpu_set_has_one_cuda_major_version(resolved):
    majors = {name: match.group(1) for name in resolved if (match := CUDA_PACKAGE.match(name))}
    assert {"nvidia-cudnn-cu12", "nvidia-nccl-cu12", "nvidia-cublas-cu12"} <= set(majors), (
        f"TensorFlow and PyTorch should share the CUDA 12 libraries, found {sorted(majors)}"
    )
    assert set(majors.values()) == {"12"}, f"more than one CUDA major version: {majors}"
    runtime = resolved["nvidia-cuda-runtime-cu12"]["version"]
    assert runtime.split(".")[0] == "12", runtime
    # both frameworks ask for CUDA libraries, and pip keeps one version of each
    torch_cuda = {
        _name(requirement)
        for requirement in resolved["torch"].get("requires_dist", [])
        if requirement.startswith("nvidia-")
    }
    tensorflow_cuda = {
        _name(requirement)
        for requirement in resolved["tensorflow"].get("requires_dist", [])
        if requirement.startswith("nvidia-") and 'extra == "and-cuda"' in requirement
    }
    assert torch_cuda and tensorflow_cuda, "a framework brings no CUDA wheels: a CPU build?"
    shared = torch_cuda & tensorflow_cuda
    assert {"nvidia-cudnn-cu12", "nvidia-nccl-cu12"} <= shared, sorted(shared)
    assert "triton" in resolved, "torch.compile on a GPU needs Triton"


def test_the_gpu_sets_header_explains_its_torch_and_tensorflow_versions():
    cpu, gpu = _pins(REPO_ROOT / "constraints.txt"), _pins(GPU_CONSTRAINTS)
    header = "\n".join(
        line for line in GPU_CONSTRAINTS.read_text().splitlines() if line.startswith("#")
    )
    for name in ("torch", "tensorflow"):
        assert cpu[name] != gpu[name] and gpu[name] in header, (
            f"{name}: the header explains the GPU set's version {gpu[name]}"
        )
    assert gpu["torch"].split(".")[:2] == ["2", "10"], "the newest PyTorch built for CUDA 12"
