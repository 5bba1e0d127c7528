"""JupyterLab as a learner should meet it: no news pop-up, the kernel starts, no build metadata.

``python -m common lab-settings`` (run by ``make lab`` and the container build) writes two files
into the Python environment's prefix, where JupyterLab and Jupyter Server read them:

- ``share/jupyter/lab/settings/overrides.json``: JupyterLab's defaults for this installation.
  The "official Jupyter news" question is answered "never" (no pop-up, no request to the
  internet, no update check), and a notebook starts its own kernel without asking which one.
- ``etc/jupyter/jupyter_server_config.json``: the file browser also hides ``*.egg-info``, the
  folder that the editable install of ``common`` leaves in the repository. (A file in
  ``jupyter_server_config.d/`` would not do: Jupyter Server reads that folder only to enable
  extensions.)

Both files are merged with what is already there, section by section.

A learner's own settings (Settings menu) still win over these defaults.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}
# Jupyter Server's default hide_globs, and the editable install's metadata folder.
HIDDEN_FILES = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.egg-info"]
SERVER_CONFIG = {"ContentsManager": {"hide_globs": HIDDEN_FILES}}
OVERRIDES_PATH = Path("share", "jupyter", "lab", "settings", "overrides.json")
SERVER_CONFIG_PATH = Path("etc", "jupyter", "jupyter_server_config.json")


def write(prefix: Path | None = None) -> list[Path]:
    """Write the overrides and the server config under ``prefix`` (default: this Python's)."""
    root = Path(prefix or sys.prefix)
    written = []
    for relative, content in ((OVERRIDES_PATH, LAB_OVERRIDES), (SERVER_CONFIG_PATH, SERVER_CONFIG)):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(path.read_text()) if path.exists() else {}
        for section, values in content.items():  # keep what other packages put there
            existing[section] = {**existing.get(section, {}), **values}
        path.write_text(json.dumps(existing, indent=2) + "\n")
        written.append(path)
    return written
