"""`python -m common doctor` and `python -m common fetch`."""

from __future__ import annotations

import os
import subprocess
import sys

from common import __main__ as cli
from common import data
from tests.conftest import REPO_ROOT


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "common", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _env(tmp_path, mirror=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != data.MIRROR_ENV}
    env["BOOTCAMP_DATA_DIR"] = str(tmp_path / "cache")
    if mirror:
        env[data.MIRROR_ENV] = str(mirror)
    return env


def test_doctor_passes_with_the_mirror(tmp_path, shared_mirror):
    result = _run("doctor", "--no-network", env=_env(tmp_path, shared_mirror))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in mirror" in result.stdout
    assert "=> " in result.stdout, "the device verdict line is printed"


def test_doctor_fails_with_a_clear_message_when_data_is_missing(tmp_path):
    result = _run("doctor", "--no-network", env=_env(tmp_path))
    assert result.returncode == 1
    assert "mnist: missing" in result.stdout
    assert data.MIRROR_ENV in result.stdout


def test_fetch_all_fills_the_cache_from_the_mirror(tmp_path, shared_mirror):
    result = _run("fetch", "all", env=_env(tmp_path, shared_mirror))
    assert result.returncode == 0, result.stderr
    cached = sorted(
        p.relative_to(tmp_path / "cache").as_posix()
        for p in (tmp_path / "cache").rglob("*")
        if p.is_file()
    )
    expected = sorted(f"{ds.folder}/{f.name}" for ds in data.REGISTRY.values() for f in ds.files)
    assert cached == expected


def test_fetch_offline_without_mirror_fails_and_says_what_to_do(isolated_dirs, monkeypatch, capsys):
    unreachable = "http://127.0.0.1:9/unreachable"
    offline = {
        name: data.Dataset(
            ds.name,
            ds.title,
            ds.folder,
            tuple(data.RemoteFile(f.name, (unreachable,), f.sha256, f.size) for f in ds.files),
            ds.licence,
            ds.citation,
            ds.homepage,
        )
        for name, ds in data.REGISTRY.items()
    }
    monkeypatch.setattr(data, "REGISTRY", offline)
    monkeypatch.setattr(data.time, "sleep", lambda seconds: None)
    assert cli.main(["fetch", "mnist"]) == 1
    message = capsys.readouterr().err
    assert "mnist: FAILED" in message and unreachable in message and data.MIRROR_ENV in message
    assert not list((isolated_dirs / "cache").rglob("*.gz"))


def test_fetch_rejects_an_unknown_name(capsys):
    assert cli.main(["fetch", "cifar10"]) == 2
    assert "Unknown data set" in capsys.readouterr().err


def test_frames_renders_the_cyclone_frames_once_and_names_the_cache(
    isolated_dirs, shared_mirror, monkeypatch, capsys
):
    from common.cyclone import frames as cyclone_frames

    tiny = cyclone_frames.FrameRecipe(basins=("atlantic",), first_season=2018, max_storms=2,
                                      cadence_hours=6.0, image_size=16)
    monkeypatch.setenv(data.MIRROR_ENV, str(shared_mirror))
    monkeypatch.setattr(cyclone_frames, "LESSON_SMOKE", tiny)
    assert cli.main(["frames", "--smoke"]) == 0
    out = capsys.readouterr().out
    assert "frames of 2 storms, 16x16 px" in out
    assert str(cyclone_frames.cache_path(tiny)) in out
    assert cyclone_frames.cache_path(tiny).exists()
