"""`make lab` starts a JupyterLab that serves Start_Here.ipynb."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.server
def test_make_lab_serves_start_here(tmp_path):
    port, token = _free_port(), "bootcamp-test-token"
    env = os.environ | {"JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "lab.log").open("w")
    process = subprocess.Popen(
        ["make", "lab", f"PORT={port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/lab/tree/Start_Here.ipynb?token={token}"
    status = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = response.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "lab.log").read_text()
    assert status == 200, f"JupyterLab did not answer 200 on {url}:\n{output[-3000:]}"
    assert f"localhost:{port}/lab/tree/Start_Here.ipynb" in output, "make lab prints the URL"
