"""The CFD lab on many workers: torchrun scripts on two Gloo ranks give what one process gives."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from common.cfd import distributed, flow_data
from tests.conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "cfd_steady_flow" / "scaling"
ARRAYS = ("obstacles", "ux", "uy", "steps", "residual", "converged")
SMOKE_ENV = {"BOOTCAMP_MODE": "smoke", "KERAS_BACKEND": "torch"}
TIMEOUT_S = 240


def run_on_two_ranks(script: str, *args: str) -> str:
    """Launch a scaling script on two CPU ranks (Gloo), one thread each; return its output."""
    return distributed.launch(SCRIPTS / script, args, nproc_per_node=2, env=SMOKE_ENV,
                              threads_per_process=1, timeout_s=TIMEOUT_S, echo=False)


def assert_same_arrays(first: flow_data.FlowDataset, second: flow_data.FlowDataset) -> None:
    """Every array of two data sets equal bit for bit."""
    for name in ARRAYS:
        a, b = getattr(first, name), getattr(second, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), f"{name} differs"


def test_parts_solved_apart_assemble_to_the_single_process_data_set(isolated_dirs):
    options = {"family": "mixed", "seed": 3, "grid": (32, 64), "reynolds": 5.0,
               "tolerance": 1e-3, "batch_size": 2}
    single = flow_data.generate(5, progress=False, **options)
    generation = flow_data.plan(5, **options)
    parts = [flow_data.solve_part(generation, [4, 1], progress=False),
             flow_data.solve_part(generation, [0, 2, 3], progress=False)]
    assembled = flow_data.assemble(generation, parts)
    assert_same_arrays(single, assembled)
    assert assembled.metadata["workers"] == 2
    assert assembled.metadata["recipe"] == single.metadata["recipe"]


def test_parts_must_cover_every_sample_once(isolated_dirs):
    generation = flow_data.plan(3, grid=(32, 64), reynolds=5.0, tolerance=1e-3)
    part = flow_data.solve_part(generation, [0, 1], progress=False)
    with pytest.raises(ValueError, match="exactly once"):
        flow_data.assemble(generation, [part])
    with pytest.raises(ValueError, match="exactly once"):
        flow_data.assemble(generation, [part, part])


def test_shards_split_the_items_between_the_ranks():
    workers = [distributed.Worker(rank, rank, 3, torch.device("cpu"), "gloo") for rank in range(3)]
    shards = [distributed.shard(10, worker) for worker in workers]
    assert sorted(np.concatenate(shards).tolist()) == list(range(10))
    assert [len(shard) for shard in shards] == [4, 3, 3]


def test_the_multi_node_command_names_the_rendezvous_and_the_node():
    command = distributed.torchrun_command("train.py", ["--epochs", "3"], nproc_per_node=4,
                                           nnodes=2, node_rank=1, rendezvous="node0:29400")
    assert "--nnodes=2" in command and "--node-rank=1" in command
    assert "--rdzv-endpoint=node0:29400" in command and "--standalone" not in command
    assert command[-3:] == ["train.py", "--epochs", "3"]
    with pytest.raises(ValueError, match="rendezvous"):
        distributed.torchrun_command("train.py", nnodes=2)


@pytest.mark.notebook
def test_two_ranks_write_the_data_set_of_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BOOTCAMP_MODE", "smoke")
    output = tmp_path / "test-2-ranks.npz"
    run_on_two_ranks("solve_flows.py", "--split", "test", "--output", str(output))
    single = flow_data.generate(
        **flow_data.LESSON_SMOKE["test"], **flow_data.LESSON_SMOKE["solver"], progress=False)
    two_ranks = flow_data.load(output)
    assert_same_arrays(single, two_ranks)
    assert two_ranks.metadata["workers"] == 2
    assert two_ranks.metadata["recipe"] == single.metadata["recipe"]


@pytest.mark.notebook
def test_ddp_step_equals_a_large_batch_step_and_resuming_changes_nothing(tmp_path):
    straight, paused = tmp_path / "straight.pt", tmp_path / "paused.pt"
    report = tmp_path / "report.json"
    output = run_on_two_ranks("train_surrogate.py", "--epochs", "2", "--check-one-step",
                              "--checkpoint", str(straight), "--report", str(report))
    one_step = json.loads(report.read_text())["one_step"]
    assert one_step["relative_difference"] < 1e-4, output[-2000:]
    assert one_step["largest_change"] > 0
    run_on_two_ranks("train_surrogate.py", "--epochs", "2", "--stop-after", "1",
                     "--checkpoint", str(paused))
    assert torch.load(paused, weights_only=False)["epoch"] == 1
    resumed = run_on_two_ranks("train_surrogate.py", "--epochs", "2", "--resume",
                               "--checkpoint", str(paused))
    assert "resumed from" in resumed
    final = [torch.load(path, weights_only=False) for path in (straight, paused)]
    assert final[0]["epoch"] == final[1]["epoch"] == 2
    for a, b in zip(final[0]["weights"], final[1]["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.notebook
def test_a_failing_rank_fails_the_launch(tmp_path):
    with pytest.raises(subprocess.CalledProcessError):
        run_on_two_ranks("train_surrogate.py", "--epochs", "-1", "--batch-per-rank", "0")
