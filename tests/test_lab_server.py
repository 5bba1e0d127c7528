"""`make lab` starts a JupyterLab that serves Start_Here.ipynb."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import psutil
import pytest

from common import lab_settings
from tests.conftest import REPO_ROOT, free_port, make_lab


@pytest.mark.server
def test_make_lab_serves_start_here(tmp_path):
    port, token = free_port(), "bootcamp-test-token"
    env = os.environ | {"JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/lab/tree/Start_Here.ipynb?token={token}"
    status = None
    without_token: dict[str, int | str] = {}
    listening: set[str] = set()
    lab_defaults: dict[str, object] = {}
    listed: list[str] = []
    with make_lab(port, env, tmp_path / "lab.log") as process:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = response.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        if status == 200:
            for path in ("/api/contents", "/api/kernels", "/lab/tree/Start_Here.ipynb"):
                without_token[path] = _status_without_following_redirects(base + path)
            lab_defaults = {
                setting: _get_json(f"{base}/lab/api/settings/{plugin}?token={token}")["schema"][
                    "properties"
                ][setting]["default"]
                for plugin, setting in (
                    ("@jupyterlab/apputils-extension:notification", "fetchNews"),
                    ("@jupyterlab/apputils-extension:notification", "checkForUpdates"),
                    ("@jupyterlab/notebook-extension:tracker", "autoStartDefaultKernel"),
                )
            }
            listed = [
                item["name"] for item in _get_json(f"{base}/api/contents?token={token}")["content"]
            ]
            listening = {
                connection.laddr.ip
                for connection in psutil.net_connections(kind="inet")
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
            }
    output = (tmp_path / "lab.log").read_text()
    assert status == 200, f"JupyterLab did not answer 200 on {url}:\n{output[-3000:]}"
    assert f"localhost:{port}/lab/tree/Start_Here.ipynb" in output, "make lab prints the URL"
    assert without_token["/api/contents"] == 403 and without_token["/api/kernels"] == 403, (
        f"the API must refuse a request without the token: {without_token}"
    )
    assert str(without_token["/lab/tree/Start_Here.ipynb"]).startswith("302 /login"), (
        f"a page asked for without the token must send to the login page: {without_token}"
    )
    assert lab_defaults == {
        "fetchNews": "false",
        "checkForUpdates": False,
        "autoStartDefaultKernel": True,
    }, f"no news pop-up, no update check, kernels start without asking: {lab_defaults}"
    assert "Start_Here.ipynb" in listed and not [n for n in listed if n.endswith(".egg-info")], (
        f"the file browser shows the labs, not the install's metadata: {listed}"
    )
    assert listening and listening <= {"127.0.0.1", "::1"}, (
        f"make lab must listen on localhost only, it listens on {sorted(listening)}"
    )


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _status_without_following_redirects(url: str) -> int | str:
    """The HTTP status of a GET without credentials; a redirect as '302 <path>'."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        if error.code in (301, 302, 303, 307):
            location = urllib.parse.urlsplit(error.headers.get("Location", "")).path
            return f"{error.code} {location}"
        return error.code


def test_make_lab_binds_to_localhost_unless_told_otherwise():
    def dry_run(*options: str) -> str:
        return subprocess.run(
            ["make", "-n", "lab", *options],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "--ip=localhost " in dry_run()
    assert "--ip=0.0.0.0 " in dry_run("LAB_IP=0.0.0.0")


def test_lab_settings_merge_into_what_the_environment_already_has(tmp_path):
    server_config = tmp_path / lab_settings.SERVER_CONFIG_PATH
    server_config.parent.mkdir(parents=True)
    server_config.write_text(json.dumps({"ServerApp": {"port": 9999}}))
    overrides, written_config = lab_settings.write(tmp_path)
    assert written_config == server_config
    assert json.loads(overrides.read_text()) == lab_settings.LAB_OVERRIDES
    merged = json.loads(server_config.read_text())
    assert merged["ServerApp"] == {"port": 9999}, "another package's setting must survive"
    assert "*.egg-info" in merged["ContentsManager"]["hide_globs"]
    assert "__pycache__" in merged["ContentsManager"]["hide_globs"], "Jupyter's defaults stay"
    assert lab_settings.write(tmp_path) == [overrides, server_config]  # idempotent
    assert json.loads(server_config.read_text()) == merged
