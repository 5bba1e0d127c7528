"""Pytest set-up shared by the unit tests and the notebook runs (nbval).

Notebooks run in smoke mode unless BOOTCAMP_MODE is set, with their exercise cells (which *Run All*
skips for a learner) unless BOOTCAMP_EXERCISES=0, and each notebook's kernel is told its own
name (BOOTCAMP_NOTEBOOK) so that ``common.results.record`` writes to the right file.

nbval reads a cell's output only after the cell has finished. The kernel publishes output on a ZMQ
PUB socket, which drops messages once about a thousand wait unread (the high-water marks of the
kernel's and the client's sockets), and the lost ones include the "idle" status that ends the cell.
A cell that runs for minutes with a progress bar sends more than that, and nbval then fails it with
"Timeout of 5 seconds exceeded waiting for output" although the cell succeeded. So the runner here
reads the output channel *while* it waits for a cell's reply, and nbval takes the output from
that backlog.
"""

import os
import time
from collections import deque
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import zmq
from nbval import kernel as nbval_kernel

_POLL_MS = 200


def _iopub_backlog(running: Any) -> deque:
    if not hasattr(running, "_bootcamp_iopub_backlog"):
        running._bootcamp_iopub_backlog = deque()
    return running._bootcamp_iopub_backlog


def _await_reply_reading_output(
    self: nbval_kernel.RunningKernel, msg_id: str, timeout: float | None = None
) -> None:
    """nbval's await_reply, but every output message that arrives meanwhile goes to a backlog."""
    backlog = _iopub_backlog(self)
    shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
    poller = zmq.Poller()
    poller.register(shell.socket, zmq.POLLIN)
    poller.register(iopub.socket, zmq.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        ready = dict(poller.poll(_POLL_MS))
        while iopub.msg_ready():
            backlog.append(iopub.get_msg(timeout=0))
        if shell.socket in ready:
            reply = shell.get_msg(timeout=0)
            if reply["parent_header"].get("msg_id") == msg_id:
                if reply["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return
        elif deadline is not None and time.monotonic() > deadline:
            raise Empty


_nbval_get_message = nbval_kernel.RunningKernel.get_message


def _get_message_from_backlog(
    self: nbval_kernel.RunningKernel, stream: str, timeout: float | None = None
) -> dict:
    """Serve output messages read while the cell ran before waiting for new ones."""
    backlog = _iopub_backlog(self)
    if stream == "iopub" and backlog:
        return backlog.popleft()
    return _nbval_get_message(self, stream, timeout=timeout)


nbval_kernel.RunningKernel.await_reply = _await_reply_reading_output
nbval_kernel.RunningKernel.get_message = _get_message_from_backlog

os.environ.setdefault("BOOTCAMP_MODE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("BOOTCAMP_EXERCISES", "1")  # the tests run every exercise's worked solution


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Name the notebook before nbval starts its kernel (the kernel inherits this environment)."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        os.environ["BOOTCAMP_NOTEBOOK"] = path.stem


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one line on the fault suite (tests marked ``fault``): faults tried and survived."""
    outcomes = [
        report.outcome
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call" and "fault" in getattr(report, "keywords", {})
    ]
    if outcomes:
        survived = outcomes.count("passed")
        terminalreporter.write_line(
            f"fault suite: {len(outcomes)} faults tried, {survived} survived"
            + ("" if survived == len(outcomes) else f", {len(outcomes) - survived} NOT survived")
        )
