"""``python -m common doctor --gpu``: what its checks do on a CPU, and how they judge a GPU."""

from __future__ import annotations

import nbformat
import pytest

from common import device, gpu_check, notebook_runs, paths, results

CPU_CONTEXT = gpu_check.Context(gpu=False, run_notebooks=True, notebook_workers=2)


def test_on_a_cpu_it_says_there_is_no_gpu_runs_what_it_can_and_exits_non_zero(
    isolated_dirs, capsys
):
    if device.has_gpu():
        pytest.skip("this machine has a GPU: make gpu-check is the test here")
    checks = [
        gpu_check.frameworks_see_the_gpu,
        gpu_check.convolution_torch_first,
        gpu_check.tf32_as_the_notebooks_expect,
        gpu_check.mixed_precision_outputs_float32,
    ]
    code, rows = gpu_check.run(checks=checks)
    printed = capsys.readouterr().out
    assert code == 1, "without a GPU the GPU path is not proven"
    assert "NO GPU" in printed and "| check | result | detail |" in printed
    statuses = {row.name: row.status for row in rows}
    assert statuses["TensorFlow and PyTorch see the GPU"] == gpu_check.NO_GPU
    assert list(statuses.values())[1:] == [gpu_check.CPU_PASS] * 3, statuses
    conv = rows[1].values
    assert (
        conv["torch_device"] == "cpu" and max(conv["torch_error"], conv["tensorflow_error"]) < 1e-5
    )
    record = results.load("gpu_check")
    assert record["metrics"]["gpu"] is False and len(record["metrics"]["rows"]) == 4


def test_a_crashing_check_is_a_failed_row_and_the_table_escapes_its_detail(isolated_dirs, capsys):
    def broken(context):
        raise RuntimeError("cuInit failed | driver too old")

    code, rows = gpu_check.run(checks=[broken])
    assert code == 1 and rows[0].status == gpu_check.FAIL
    assert "cuInit failed" in rows[0].detail
    assert "| driver" not in gpu_check.table(rows), "a | in a detail would split the table's cell"


@pytest.mark.parametrize(
    ("wheels", "torch_cuda", "expected"),
    [
        ({"nvidia-cudnn-cu12": "12", "nvidia-nccl-cu12": "12"}, "12.8", gpu_check.PASS),
        # torch 2.13's CUDA 13 wheels beside tensorflow[and-cuda]'s CUDA 12 ones: two stacks
        ({"nvidia-cudnn-cu12": "12", "nvidia-cudnn-cu13": "13"}, "13.0", gpu_check.FAIL),
        ({"nvidia-cudnn-cu12": "12"}, "13.0", gpu_check.FAIL),
        ({}, None, gpu_check.NO_GPU),
    ],
)
def test_two_cuda_major_versions_fail_the_one_stack_check(
    monkeypatch, wheels, torch_cuda, expected
):
    monkeypatch.setattr(gpu_check, "_cuda_wheels", lambda: wheels)
    monkeypatch.setattr(
        device, "torch_info", lambda: device.FrameworkInfo("PyTorch", "x", cuda=torch_cuda)
    )
    monkeypatch.setattr(
        device, "tensorflow_info", lambda: device.FrameworkInfo("TensorFlow", "y", cuda="12.5.1")
    )
    result = gpu_check.one_cuda_stack(gpu_check.Context(gpu=True, run_notebooks=False))
    assert result.status == expected, result.detail


def test_tf32_reported_but_not_measured_fails(monkeypatch):
    # on a CPU every product is exact: a report of TF32 there contradicts the measurement
    monkeypatch.setattr(device, "tf32_in_effect", lambda: {"torch": False, "keras": True})
    result = gpu_check.tf32_as_the_notebooks_expect(CPU_CONTEXT)
    assert result.status == gpu_check.FAIL, result.detail


def test_each_notebook_gets_a_row_that_fails_when_a_cell_fails(tmp_path, monkeypatch):
    notebooks = []
    for name, check in (("passes", "assert x == 2"), ("fails", "assert x == 3")):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell("x = 1 + 1"), nbformat.v4.new_code_cell(check)]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(notebook, path)
        notebooks.append(path)
    monkeypatch.setattr(notebook_runs, "notebooks", lambda: notebooks)
    rows = gpu_check.notebooks_in_smoke_mode(CPU_CONTEXT)
    assert [row.status for row in rows] == [gpu_check.CPU_PASS, gpu_check.FAIL]
    assert "2 passed" in rows[0].detail and "1 failed" in rows[1].detail


def test_the_notebook_list_is_every_lesson_in_teaching_order():
    names = [path.relative_to(paths.repo_root()).as_posix() for path in notebook_runs.notebooks()]
    assert names[0] == "Start_Here.ipynb"
    folders = [name.split("/")[0] for name in names[1:]]
    assert folders == sorted(folders, key=notebook_runs.LESSON_FOLDERS.index)
    assert len(names) == 1 + sum(
        len(list((paths.repo_root() / folder).glob("[0-9]*.ipynb")))
        for folder in notebook_runs.LESSON_FOLDERS
    )
