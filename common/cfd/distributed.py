"""Many processes, one job: PyTorch's distributed engine for the CFD lab's scripts.

``torchrun`` starts one process per device (one per GPU, or several CPU processes) and tells each
its rank and the world size in environment variables; :func:`init` joins them into a process
group (NCCL between GPUs, Gloo between CPU processes), the same code on one laptop or many nodes.
:func:`launch` runs a script under ``torchrun`` from a notebook or a test and streams its output.
Importing this module imports PyTorch; nothing else happens at import.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Worker:
    """This process's place in the job."""

    rank: int  # 0 .. world_size - 1; rank 0 writes files and prints the summary
    local_rank: int  # the rank on this node: which GPU to use
    world_size: int
    device: torch.device
    backend: str  # "nccl" (GPUs) or "gloo" (CPUs)

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0


def init(backend: str | None = None) -> Worker:
    """Join the process group that torchrun set up (or a group of one without torchrun).

    Each process takes the GPU of its local rank when the node has a GPU for every process (NCCL);
    otherwise every process runs on the CPU (Gloo), and :func:`describe` says so.
    """
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    # one GPU per process: with fewer GPUs than processes on this node, every rank runs on the CPU
    use_cuda = torch.cuda.device_count() >= local_world_size and backend != "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    backend = backend or ("nccl" if use_cuda else "gloo")
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:  # run without torchrun: a group of one
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    return Worker(rank, local_rank, world_size, device, backend)


def describe(worker: Worker) -> str:
    """One line on where this rank runs, with the reason when GPUs are present but unused."""
    line = f"rank {worker.rank} of {worker.world_size} on {worker.device} ({worker.backend})"
    gpus = torch.cuda.device_count()
    if gpus and worker.device.type == "cpu":
        local = os.environ.get("LOCAL_WORLD_SIZE", "1")
        line += f": {gpus} GPU(s) for {local} processes on this node, so all run on the CPU"
    return line


def finish() -> None:
    """Leave the process group (call once at the end of a script)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard(num_items: int, worker: Worker) -> np.ndarray:
    """The items this rank handles: every ``world_size``-th, starting at its rank."""
    return np.arange(worker.rank, num_items, worker.world_size)


def gather(value: Any, worker: Worker) -> list[Any] | None:
    """Every rank's ``value`` as a list on rank 0 (None elsewhere), pickled through the group."""
    gathered = [None] * worker.world_size if worker.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def torchrun_command(
    script: str | Path,
    args: Sequence[str] = (),
    nproc_per_node: int = 2,
    nnodes: int = 1,
    node_rank: int = 0,
    rendezvous: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The torchrun command line for a script: standalone on one node, or one node of many.

    ``rendezvous`` (``host:port`` of a machine every node reaches) is required for several nodes;
    each node runs the same command with its own ``node_rank``. ``python`` is the interpreter
    (this one by default; ``"python"`` for a command to run elsewhere).
    """
    command = [python, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    if nnodes == 1 and rendezvous is None:
        command.append("--standalone")
    else:
        if rendezvous is None:
            raise ValueError("several nodes need a rendezvous endpoint host:port")
        command += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--rdzv-backend=c10d",
                    f"--rdzv-endpoint={rendezvous}", "--rdzv-id=bootcamp"]
    return [*command, str(script), *args]


def launch(
    script: str | Path,
    args: Sequence[str] = (),
    nproc_per_node: int = 2,
    env: dict[str, str] | None = None,
    threads_per_process: int | None = None,
    timeout_s: float | None = None,
    echo: bool = True,
) -> str:
    """Run a script under torchrun on this machine, print its output as it comes, return it.

    ``threads_per_process`` sets OMP_NUM_THREADS for each process (by default the CPU cores split
    evenly, so processes do not fight over cores). A failed run, or one killed after ``timeout_s``,
    raises CalledProcessError with the output's tail.
    """
    cores = os.cpu_count() or 1
    threads = threads_per_process or max(1, cores // nproc_per_node)
    run_env = os.environ | (env or {}) | {"OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    command = torchrun_command(script, args, nproc_per_node=nproc_per_node)
    lines: list[str] = []
    with subprocess.Popen(
        command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    ) as process:
        timer = threading.Timer(timeout_s, os.killpg, (process.pid, signal.SIGKILL)) \
            if timeout_s else None
        if timer:
            timer.start()
        try:
            for line in process.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
            process.wait()
        finally:
            if timer:
                timer.cancel()
    output = "".join(lines)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output=output[-4000:])
    return output


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
