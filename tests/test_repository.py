"""Repository rules: clean notebooks, one set of dependencies, the agreed layout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

LAB_FOLDERS = ("intro_to_dl", "tropical_cyclone", "cfd_steady_flow", "pinn")
NOTEBOOKS = sorted(
    [REPO_ROOT / "Start_Here.ipynb"]
    + [
        path
        for folder in LAB_FOLDERS
        for path in (REPO_ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts
    ]
)
LESSONS = [path for path in NOTEBOOKS if re.match(r"\d\d_", path.name)]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path in paths]


def test_top_level_layout_is_complete():
    for name in (
        "Start_Here.ipynb",
        *LAB_FOLDERS,
        "common",
        "data/README.md",
        "tests",
        "Dockerfile",
        "environment.yml",
        "README.md",
        "pyproject.toml",
        "Makefile",
        ".ci/run",
        "benchmarks",
        "constraints.txt",
    ):
        assert (REPO_ROOT / name).exists(), f"{name} is missing from the top level"


def test_lab_folders_without_notebooks_say_what_will_come():
    for folder in LAB_FOLDERS:
        if not list((REPO_ROOT / folder).glob("*.ipynb")):
            readme = REPO_ROOT / folder / "README.md"
            assert readme.exists() and len(readme.read_text()) > 200, f"{folder}/README.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs_and_uses_python3(path):
    notebook = json.loads(path.read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{path.name} has outputs: clear them before committing"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_no_pip_install_absolute_path_or_todo(path):
    for cell in _cells(path):
        source = _source(cell)
        assert not re.search(r"^\s*[!%]\s*pip\s+install", source, flags=re.M), (
            f"pip install in {path.name}"
        )
        assert "TODO" not in source, f"TODO left in {path.name}"
        if cell["cell_type"] == "code":
            assert not re.search(r"['\"](/workspace|/work/|/home/|/root/|C:\\\\)", source), (
                f"absolute path in {path.name}: {source[:80]}"
            )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_picks_parameters_checks_records_and_releases(path):
    code = [_source(cell) for cell in _cells(path) if cell["cell_type"] == "code"]
    assert "mode.pick(" in code[0], "the first code cell picks the parameters per mode"
    record_cells = [index for index, cell in enumerate(code) if "results.record(" in cell]
    assert record_cells, "the check records its results with results.record"
    last = record_cells[-1]
    assert any("assert " in cell for cell in code[max(0, last - 3) : last + 1]), (
        "the key results are asserted in the check cells just before (or with) results.record"
    )
    assert "device.release()" in code[-1], "the last cell frees framework memory"
    markdown = "\n".join(_source(cell) for cell in _cells(path) if cell["cell_type"] == "markdown")
    for heading in ("Summary", "Exercises"):
        assert heading in markdown, f"{path.name} has no {heading} section"


# Ampere-or-newer GPUs round the inputs of float32 matrix products to TF32 (about 1e-3 relative;
# on by default in TensorFlow and in cuDNN convolutions), so a check tighter than that must turn
# TF32 off (device.exact_float32) or size its tolerance by device.tf32_in_effect(). These
# notebooks' tight checks involve no float32 matrix product; each says why.
TF32_FREE_TIGHT_CHECKS = {
    "cfd_steady_flow/01_lattice_boltzmann_data.ipynb": "the LBM step is elementwise, no products",
    "cfd_steady_flow/05_scaling_out.ipynb": "the DDP script turns TF32 off; exercise on the CPU",
    "intro_to_dl/04_autograd_and_gpus.ipynb": "gradients in float64; precision demo on the CPU",
    "intro_to_dl/07_fashion_mnist.ipynb": "an upper bound on a vanishing gradient (1e-6 vs 0.1)",
    "pinn/01_pinn_theory.ipynb": "a float64 derivation",
    "pinn/03_spring_mass.ipynb": "SciPy's ODE solver and NumPy finite differences",
}
TIGHT_LITERAL = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?e-\d+)\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_check_tighter_than_tf32_turns_tf32_off_or_sizes_its_tolerance(path):
    code = [_source(cell) for cell in _cells(path) if cell["cell_type"] == "code"]
    check_cells = [cell for cell in code if re.search(r"^\s*assert ", cell, re.MULTILINE)]
    tight = sorted(
        {
            literal
            for cell in check_cells
            for literal in TIGHT_LITERAL.findall(cell)
            if float(literal) < 1e-3
        }
    )
    name = str(path.relative_to(REPO_ROOT))
    handles_tf32 = any("exact_float32()" in cell or "tf32_in_effect()" in cell for cell in code)
    if tight and name not in TF32_FREE_TIGHT_CHECKS:
        assert handles_tf32, (
            f"checks at {', '.join(tight)} would fail where TF32 is on: call "
            "device.exact_float32() or size the tolerance by device.tf32_in_effect()"
        )


def test_tf32_exemptions_name_notebooks_that_exist():
    for name in TF32_FREE_TIGHT_CHECKS:
        assert (REPO_ROOT / name).is_file(), name


def _names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)", requirement)
        if match and not requirement.strip().startswith("-"):
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def test_dependency_names_agree_across_pyproject_environment_and_dockerfile():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    environment = (REPO_ROOT / "environment.yml").read_text()
    pip_section = environment.split("- pip:", 1)[1]
    conda_pip = _names(re.findall(r"^\s+- (\S+)$", pip_section, flags=re.M))
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    install = re.search(r"pip install -c constraints-gpu.txt \\\n(.*?)\n\n", dockerfile, flags=re.S)
    assert install, "the Dockerfile's dependency install step was not found"
    docker = _names(re.findall(r'"([^"]+)"', install.group(1)))
    assert conda_pip == declared, f"environment.yml differs: {conda_pip ^ declared}"
    assert docker == declared, f"Dockerfile differs: {docker ^ declared}"


def test_the_container_and_conda_use_the_gpu_set_and_the_server_runs_as_a_user():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "constraints.txt" not in dockerfile.replace("constraints-gpu.txt", "")
    assert '"tensorflow[and-cuda]' in dockerfile and "g++" in dockerfile
    assert not re.search(r"^FROM .*cuda", dockerfile, flags=re.M), "CUDA comes from the wheels"
    command = dockerfile[dockerfile.index("\nCMD ") :]
    assert "--allow-root" not in command
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.M)
    assert users and users[-1] not in ("root", "0"), "JupyterLab must not run as root"
    environment = (REPO_ROOT / "environment.yml").read_text()
    assert "-c constraints-gpu.txt" in environment and "tensorflow[and-cuda]" in environment
    readme = (REPO_ROOT / "README.md").read_text()
    assert "-p 127.0.0.1:8888:8888" in readme, "the README binds the port to localhost"
    assert "-p 8888:8888" not in readme + dockerfile, "a bare -p publishes to the network"


def test_constraints_pin_every_declared_dependency():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert declared <= pins, f"not pinned in constraints.txt: {declared - pins}"
    assert "torch==2.13.0" in (REPO_ROOT / "constraints.txt").read_text()


def test_start_here_links_point_to_files_that_exist():
    markdown = "\n".join(
        _source(cell)
        for cell in _cells(REPO_ROOT / "Start_Here.ipynb")
        if cell["cell_type"] == "markdown"
    )
    links = re.findall(r"\]\(([^)#]+)\)", markdown)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the agenda links to the notebooks"
    for link in local:
        assert (REPO_ROOT / link).exists(), f"Start_Here links to a missing file: {link}"


def _is_exercise_cell(cell: dict) -> bool:
    return cell["cell_type"] == "code" and _source(cell).startswith("%%exercise\n")


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_exercise_solutions_are_collapsed_and_skipped_by_run_all(path):
    cells = _cells(path)
    markdown = [_source(cell) for cell in cells if cell["cell_type"] == "markdown"]
    heading = next(
        index for index, cell in enumerate(cells)
        if cell["cell_type"] == "markdown"
        and re.search(r"^#+ .*Exercises", _source(cell), flags=re.MULTILINE)
    )
    for index, cell in enumerate(cells):
        hidden = cell["metadata"].get("jupyter", {}).get("source_hidden", False)
        if cell["cell_type"] == "code" and hidden:
            assert _is_exercise_cell(cell), f"cell {index}: a collapsed solution starts %%exercise"
        if _is_exercise_cell(cell):
            assert index > heading, f"cell {index}: an exercise cell before the Exercises heading"
        if cell["cell_type"] == "markdown" and index and _is_exercise_cell(cells[index - 1]):
            text = _source(cell).lstrip()
            assert text.startswith(("<details>", "**", "#")), (
                f"cell {index}: the text after a worked solution is its discussion, so it belongs "
                f"in a collapsed <details> block: {text[:70]!r}"
            )
    assert any(_is_exercise_cell(cell) for cell in cells), "no exercise cell to run in the tests"
    first_code = next(_source(cell) for cell in cells if cell["cell_type"] == "code")
    assert "RUN_EXERCISES = exercises.setup()" in first_code, "the flag sits with the parameters"
    assert all("<details open" not in text for text in markdown), "a discussion opens expanded"


def test_ruff_passes_with_the_exercise_cells_read_as_python(tmp_path):
    # ruff skips cells that start with a cell magic; lint copies with the magic line removed
    for path in LESSONS:
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if _is_exercise_cell(cell):
                cell["source"] = _source(cell).removeprefix("%%exercise\n")
        copy = tmp_path / path.relative_to(REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(json.dumps(notebook))
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
         str(REPO_ROOT / "pyproject.toml"), "."],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:] + ruff.stderr[-1000:]


def test_every_package_under_common_is_installed():
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    found = sorted(
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "common").rglob("__init__.py")
    )
    assert sorted(packages) == found, "pyproject's packages must list every package in common/"
    assert {"common.cfd", "common.cyclone", "common.pinn"} <= set(found), "one package per lab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_wrapped_markdown_line_starts_with_a_number_that_renders_as_a_list(path):
    # "  2014." or "2012) ..." at the start of a wrapped line opens an ordered list item
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "markdown":
            for line in _source(cell).splitlines():
                assert not re.match(r"^\s*\d{3,}[.)](\s|$)", line), (
                    f"cell {index}: rewrap so that this line does not start with a number: {line!r}"
                )
