"""The learner's path in a real browser: JupyterLab started as `make lab` does, notebooks run from
the Run menu in headless Chromium (Debian's package) driven by Playwright.

`make test-browser` runs this file (`make test` leaves it out). Screenshots go to runs/browser/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import exercises, paths
from tests.conftest import REPO_ROOT, free_port, make_lab

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [  # headless as root, and no calls home on a machine without internet
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "browser-test-token"
# JupyterLab user settings for the test only: autosave off, so running a notebook in the browser
# never writes outputs into the repository's notebooks; every cell attached to the page.
TEST_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
RUN_FINISHED = """() => {
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .map(prompt => prompt.textContent.trim());
    return indicator && indicator.dataset.status === 'idle'
        && prompts.some(text => /^\\[\\d+\\]:$/.test(text))
        && !prompts.some(text => text.includes('*'));
}"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(
            "no Chromium found: install Debian's package (sudo apt-get install chromium), "
            "then run make test-browser"
        )
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, shared_mirror: Path) -> Iterator[str]:
    """A JupyterLab started by `make lab` in smoke mode; yields its base URL."""
    tmp = tmp_path_factory.mktemp("lab")
    for name, content in TEST_SETTINGS.items():
        path = tmp / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    port = free_port()
    # the learner's kernel draws inline and skips the exercises: drop what the test session sets
    env = {
        name: value for name, value in os.environ.items()
        if name not in ("MPLBACKEND", exercises.EXERCISES_ENV)
    } | {
        "JUPYTER_TOKEN": TOKEN,
        "BOOTCAMP_MODE": "smoke",
        "BOOTCAMP_DATA_MIRROR": str(shared_mirror),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    log_path = tmp / "lab.log"
    base = f"http://127.0.0.1:{port}"
    with make_lab(port, env, log_path) as process:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from the system, driven by Playwright."""
    executable = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is missing: make test-browser installs it"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _run_all_in_browser(browser: object, base: str, notebook: str, timeout_s: float) -> dict:
    """Open a notebook, run all cells from the Run menu, wait for the end; screenshot; report."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    shots = paths.runs_dir() / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    stem = Path(notebook).stem
    try:
        # a workspace of its own, reset: only this notebook open, as on a first visit
        page.goto(f"{base}/lab/workspaces/{stem}/tree/{notebook}?reset&token={TOKEN}")
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
        )
        page.wait_for_function(  # the status bar says the kernel is ready (the first start of
            # a kernel on a fresh install takes a while; Run All before that runs nothing)
            """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                .some(item => item.textContent.trim().endsWith('| Idle'))""",
            timeout=180_000,
        )
        cells = json.loads((REPO_ROOT / notebook).read_text())["cells"]
        num_markdown = sum(cell["cell_type"] == "markdown" for cell in cells)
        page.wait_for_function(  # every cell attached and every markdown cell rendered
            """([numCells, numMarkdown]) =>
                document.querySelectorAll('.jp-Notebook .jp-Cell').length === numCells
                && document.querySelectorAll('.jp-Notebook .jp-RenderedMarkdown').length
                    === numMarkdown""",
            arg=[len(cells), num_markdown],
            timeout=60_000,
        )
        opened = {
            "dialogs": page.locator(".jp-Dialog").all_inner_texts(),
            "toasts": page.locator(".Toastify__toast").all_inner_texts(),
            "solutions": page.locator(".jp-Notebook details").count(),
            "open_solutions": page.locator(".jp-Notebook details[open]").count(),
            "hidden_inputs": page.locator(".jp-Notebook .jp-InputPlaceholder").count(),
        }
        page.screenshot(path=shots / f"{stem}-opened.png")
        page.click("li.lm-MenuBar-item:has-text('Run')")
        page.click("li.lm-Menu-item:has-text('Run All Cells')")
        start = time.monotonic()
        page.wait_for_function(RUN_FINISHED, timeout=timeout_s * 1000, polling=1000)
        seconds = time.monotonic() - start
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        report = opened | {
            "seconds": seconds,
            "not_run": [text for text in prompts if not any(c.isdigit() for c in text)],
            "outputs": outputs,
            "tracebacks": [text for text in outputs if "Traceback" in text or "Error:" in text],
            "images": page.locator(".jp-OutputArea-output img").count(),
            "progress_bars": page.locator(".jp-OutputArea-output .widget-hprogress").count(),
        }
        page.keyboard.press("Control+End")
        page.screenshot(path=shots / f"{stem}-ran.png")
        (shots / f"{stem}-report.json").write_text(json.dumps(report, indent=1))
        return report
    finally:
        page.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_start_here_runs_in_the_browser_without_a_dialog_an_error_or_a_pop_up(lab, browser):
    notebook = REPO_ROOT / "Start_Here.ipynb"
    before = _digest(notebook)
    report = _run_all_in_browser(browser, lab, "Start_Here.ipynb", timeout_s=300)
    summary = {key: value for key, value in report.items() if key != "outputs"}
    assert not report["dialogs"], f"a dialog greeted the learner: {summary}"
    assert report["solutions"] >= 1 and report["open_solutions"] == 0, summary
    assert not [t for t in report["toasts"] if "news" in t.lower()], report["toasts"]
    assert not report["tracebacks"] and not report["not_run"], summary
    assert any("Your environment is ready" in text for text in report["outputs"])
    assert report["images"] >= 1, f"no figure rendered: {summary}"
    assert _digest(notebook) == before, "running in the browser must not save the notebook"


def test_mnist_lesson_trains_in_the_browser_with_live_plot_and_progress_bar(lab, browser):
    notebook = REPO_ROOT / "intro_to_dl" / "06_mnist.ipynb"
    before = _digest(notebook)
    report = _run_all_in_browser(browser, lab, "intro_to_dl/06_mnist.ipynb", timeout_s=900)
    summary = {key: value for key, value in report.items() if key != "outputs"}
    assert not report["dialogs"], f"a dialog greeted the learner: {summary}"
    assert not report["tracebacks"] and not report["not_run"], summary
    assert report["images"] >= 3, f"only {report['images']} figures rendered"
    assert report["hidden_inputs"] >= 4, "the four worked answers must open collapsed"
    assert report["solutions"] >= 4 and report["open_solutions"] == 0, "discussions show at once"
    assert report["progress_bars"] >= 1, "no tqdm progress bar rendered as a widget"
    skipped = [text for text in report["outputs"] if exercises.SKIPPED_MESSAGE in text]
    assert len(skipped) == 4, f"Run All must skip the four exercises, skipped {len(skipped)}"
    assert _digest(notebook) == before, "running in the browser must not save the notebook"


def test_the_server_refuses_requests_without_the_token(lab):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{lab}/api/contents", timeout=10)
    assert refused.value.code == 403
