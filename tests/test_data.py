"""The data registry: verified downloads, the mirror, clear errors, a cache with no bad file."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from common import data

REPO_ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = bytes(range(256)) * 64  # 16 KiB
GZ_BYTES = gzip.compress(PAYLOAD)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
STALL_S = 20.0  # how long a stalled reply waits at most; the fixture releases it sooner


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}
    statuses: dict[str, int] = {}  # paths that always answer with this HTTP error
    redirects: dict[str, str] = {}
    faults: dict[str, list[str]] = {}  # per path, the faults its next requests meet, in order
    requests: list[str] = []
    release = threading.Event()  # ends the stalled replies
    stalled_mid_body = threading.Event()  # set once a "stall-mid-body" reply has sent its part

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.path)
        queued = self.faults.get(self.path)
        fault = queued.pop(0) if queued else None
        if fault == "500":
            self.send_error(500)
        elif fault == "reset":
            # close at once with a TCP reset, before any reply
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif fault == "stall":
            self.release.wait(STALL_S)
        elif self.path in self.statuses:
            self.send_error(self.statuses[self.path])
        elif self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path not in self.routes:
            self.send_error(404)
        else:
            self._send_body(*self.routes[self.path], fault)

    def _send_body(self, body: bytes, declared_length: int | None, fault: str | None) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(declared_length or len(body)))
        self.end_headers()
        try:
            if fault == "stall-mid-body":
                self.wfile.write(body[: len(body) * 3 // 4])
                self.stalled_mid_body.set()
                self.release.wait(STALL_S)
            elif fault == "trickle":
                for offset in range(len(body)):
                    self.wfile.write(body[offset : offset + 1])
                    if self.release.wait(0.02):
                        return
            else:
                self.wfile.write(body)
        except OSError:
            pass  # the client hung up, as it should on a fault

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    """A local HTTP server with good, corrupted, truncated, missing and faulty files."""
    _Handler.requests = []
    _Handler.faults = {}
    _Handler.statuses = {}
    _Handler.redirects = {}
    _Handler.release = threading.Event()
    _Handler.stalled_mid_body = threading.Event()
    _Handler.routes = {
        "/good.bin.gz": (GZ_BYTES, None),
        "/good.bin": (PAYLOAD, None),
        "/corrupt.bin": (PAYLOAD[:-1] + b"X", None),
        "/truncated.bin.gz": (GZ_BYTES[: len(GZ_BYTES) // 2], None),  # a short but "complete" reply
        "/cut.bin": (PAYLOAD[:1000], len(PAYLOAD)),  # connection closes before Content-Length
        "/short.bin": (PAYLOAD[:1000], None),  # complete per its Content-Length, but short
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry at once: the tests check which tries happen, not how long the pauses are."""
    monkeypatch.setattr(data, "RETRY_BACKOFF_S", 0.0)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-listens-here.bin"


def _dataset(*files: data.RemoteFile) -> data.Dataset:
    return data.Dataset("toy", "Toy data", "toy", files, "CC0", "nobody", "http://example.invalid")


def _remote(server: str, *paths: str, name: str | None = None) -> data.RemoteFile:
    """A registry entry for PAYLOAD, downloaded from ``paths`` on the server, in that order."""
    name = name or paths[0].rsplit("/", 1)[-1]
    return data.RemoteFile(name, tuple(server + path for path in paths), PAYLOAD_SHA, len(PAYLOAD))


def _fetch(remote: data.RemoteFile, **options: float) -> Path:
    options = {"timeout": 5, "retries": 2, **options}
    return data.fetch_file(_dataset(remote), remote, verbose=False, **options)


def _cache_files(root: Path) -> list[str]:
    folder = root / "cache" / "toy"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_says_how_to_get_it_by_hand(message: str, root: Path, remote: data.RemoteFile) -> None:
    assert f"Download it by hand from {remote.urls[0]}" in message, message
    assert f"place it at {root / 'cache' / 'toy' / remote.name}" in message, message
    assert data.MIRROR_ENV in message, message


def _wait_for(condition: Callable[[], object], seconds: float, what: str) -> object:
    give_up_at = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < give_up_at, f"gave up waiting for {what}"
        time.sleep(0.02)
    return result


# --- Downloads and verification ------------------------------------------------------------------


def test_fetch_downloads_gzip_and_verifies_the_decompressed_payload(isolated_dirs, server):
    remote = data.RemoteFile("good.bin.gz", (server + "/good.bin.gz",), PAYLOAD_SHA, len(PAYLOAD))
    path = _fetch(remote)
    assert path == isolated_dirs / "cache" / "toy" / "good.bin.gz"
    assert gzip.decompress(path.read_bytes()) == PAYLOAD
    assert _cache_files(isolated_dirs) == ["good.bin.gz"]


def test_fetch_uses_the_cache_without_downloading_again(isolated_dirs, server):
    remote = data.RemoteFile("good.bin", (server + "/good.bin",), PAYLOAD_SHA, len(PAYLOAD))
    _fetch(remote)
    _fetch(remote)
    assert _Handler.requests == ["/good.bin"]


@pytest.mark.fault
def test_fetch_rejects_corrupted_download_and_keeps_cache_clean(isolated_dirs, server):
    remote = data.RemoteFile("corrupt.bin", (server + "/corrupt.bin",), PAYLOAD_SHA, len(PAYLOAD))
    with pytest.raises(data.ChecksumError) as error:
        _fetch(remote)
    message = str(error.value)
    assert PAYLOAD_SHA in message, "the expected hash is named"
    assert hashlib.sha256(PAYLOAD[:-1] + b"X").hexdigest() in message, "the actual hash is named"
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _cache_files(isolated_dirs) == []


@pytest.mark.fault
def test_fetch_reports_a_truncated_gzip_as_incomplete_and_keeps_cache_clean(isolated_dirs, server):
    remote = data.RemoteFile(
        "truncated.bin.gz", (server + "/truncated.bin.gz",), PAYLOAD_SHA, len(PAYLOAD)
    )
    with pytest.raises(data.TruncatedDownloadError, match="incomplete") as error:
        _fetch(remote)
    message = str(error.value)
    assert "SHA-256" not in message, "a stream that ends early is not reported as a wrong hash"
    assert f"{len(GZ_BYTES) // 2:,} bytes end inside the gzip stream" in message
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _cache_files(isolated_dirs) == []


@pytest.mark.fault
def test_fetch_reports_a_connection_cut_short_as_truncation_and_keeps_cache_clean(
    isolated_dirs, server
):
    remote = data.RemoteFile("cut.bin", (server + "/cut.bin",), PAYLOAD_SHA, len(PAYLOAD))
    with pytest.raises(data.TruncatedDownloadError) as error:
        _fetch(remote)
    message = str(error.value)
    assert f"1,000 of the {len(PAYLOAD):,} bytes its Content-Length announced" in message
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _cache_files(isolated_dirs) == []


@pytest.mark.fault
def test_fetch_reports_a_body_shorter_than_the_registry_size_as_truncation(isolated_dirs, server):
    remote = _remote(server, "/short.bin")
    with pytest.raises(data.TruncatedDownloadError) as error:
        _fetch(remote)
    message = str(error.value)
    assert f"1,000 bytes, of the expected {len(PAYLOAD):,}" in message
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _cache_files(isolated_dirs) == []


# --- Retries, HTTP errors, stalls and the deadline -----------------------------------------------


@pytest.mark.fault
@pytest.mark.parametrize(
    ("status", "phrase", "tries"),
    [(404, "Not Found", 1), (403, "Forbidden", 1), (503, "Service Unavailable", 2)],
)
def test_fetch_retries_server_errors_but_not_client_errors_and_names_the_status(
    isolated_dirs, server, status, phrase, tries
):
    _Handler.statuses["/answer.bin"] = status
    remote = _remote(server, "/answer.bin")
    with pytest.raises(data.DataUnavailableError) as error:
        _fetch(remote, retries=2)
    assert _Handler.requests == ["/answer.bin"] * tries
    message = str(error.value)
    assert f"HTTP {status} {phrase}" in message
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _cache_files(isolated_dirs) == []


@pytest.mark.fault
def test_fetch_moves_to_the_next_url_after_a_client_error(isolated_dirs, server):
    remote = _remote(server, "/missing.bin", "/good.bin", name="good.bin")
    assert _fetch(remote, retries=3).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/missing.bin", "/good.bin"], "a 404 is not retried"


@pytest.mark.fault
def test_fetch_uses_the_second_url_when_the_first_host_is_down(isolated_dirs, server):
    remote = data.RemoteFile(
        "good.bin", (_closed_port_url(), server + "/good.bin"), PAYLOAD_SHA, len(PAYLOAD)
    )
    assert _fetch(remote).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/good.bin"]


@pytest.mark.fault
@pytest.mark.parametrize("fault", ["500", "reset"])
def test_fetch_retries_after_a_server_error_or_reset_and_succeeds(isolated_dirs, server, fault):
    _Handler.faults["/good.bin"] = [fault]
    assert _fetch(_remote(server, "/good.bin")).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/good.bin", "/good.bin"]
    assert _cache_files(isolated_dirs) == ["good.bin"]


@pytest.mark.fault
@pytest.mark.parametrize("fault", ["stall", "stall-mid-body"])
def test_fetch_times_out_on_a_stalled_server_and_caches_nothing(isolated_dirs, server, fault):
    _Handler.faults["/good.bin"] = [fault, fault]
    remote = _remote(server, "/good.bin")
    started = time.monotonic()
    with pytest.raises(data.DataUnavailableError) as error:
        _fetch(remote, timeout=0.3, retries=2)
    assert time.monotonic() - started < 5
    assert "timed out" in str(error.value)
    assert _Handler.requests == ["/good.bin", "/good.bin"]
    assert _cache_files(isolated_dirs) == [], "no part file is left behind"


@pytest.mark.fault
@pytest.mark.parametrize("set_by", ["keyword", "environment"])
def test_fetch_gives_up_on_a_trickling_server_at_the_deadline(
    isolated_dirs, server, monkeypatch, set_by
):
    _Handler.faults["/good.bin"] = ["trickle"]
    remote = _remote(server, "/good.bin")
    options = {"deadline": 0.5} if set_by == "keyword" else {}
    if set_by == "environment":
        monkeypatch.setenv(data.DEADLINE_ENV, "0.5")
    started = time.monotonic()
    with pytest.raises(data.DownloadDeadlineError) as error:
        _fetch(remote, timeout=5, retries=3, **options)
    assert time.monotonic() - started < 3, "the deadline, not the 5 s read timeout, ends it"
    message = str(error.value)
    assert "0.5 s deadline" in message
    assert "deadline=SECONDS" in message and data.DEADLINE_ENV in message, "says how to raise it"
    _assert_says_how_to_get_it_by_hand(message, isolated_dirs, remote)
    assert _Handler.requests == ["/good.bin"], "no retry once the deadline has passed"
    assert _cache_files(isolated_dirs) == []


def test_download_deadline_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(data.DEADLINE_ENV, raising=False)
    assert data.download_deadline() == data.DEFAULT_DEADLINE_S == 900
    monkeypatch.setenv(data.DEADLINE_ENV, "2.5")
    assert data.download_deadline() == 2.5
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(data.DEADLINE_ENV, bad)
        with pytest.raises(ValueError, match=data.DEADLINE_ENV):
            data.download_deadline()


# --- Redirects ------------------------------------------------------------------------------------


def test_fetch_follows_a_redirect_between_http_urls(isolated_dirs, server):
    _Handler.redirects["/moved.bin"] = "/good.bin"
    remote = _remote(server, "/moved.bin", name="good.bin")
    assert _fetch(remote).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/moved.bin", "/good.bin"]


@pytest.mark.fault
def test_a_redirect_from_https_to_http_is_refused():
    data.check_redirect("https://a.example/x.gz", "https://b.example/x.gz")
    data.check_redirect("http://a.example/x.gz", "http://b.example/x.gz")
    data.check_redirect("http://a.example/x.gz", "https://b.example/x.gz")
    with pytest.raises(data.InsecureRedirectError, match="http://b.example/x.gz"):
        data.check_redirect("https://a.example/x.gz", "http://b.example/x.gz")

    # the handler that every download's opener uses makes the same decision
    handler = data._HttpsOnlyRedirectHandler()
    request = urllib.request.Request("https://a.example/x.gz")
    follow = handler.redirect_request(
        request, io.BytesIO(), 302, "Found", {}, "https://b.example/x.gz"
    )
    assert follow.full_url == "https://b.example/x.gz"
    with pytest.raises(data.InsecureRedirectError):
        handler.redirect_request(request, io.BytesIO(), 302, "Found", {}, "http://b.example/x.gz")


# --- The mirror and the cache ---------------------------------------------------------------------


def test_fetch_prefers_the_mirror_over_the_url(isolated_dirs, server, monkeypatch):
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "good.bin.gz").write_bytes(GZ_BYTES)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = data.RemoteFile("good.bin.gz", (server + "/good.bin.gz",), PAYLOAD_SHA, len(PAYLOAD))
    path = _fetch(remote)
    assert gzip.decompress(path.read_bytes()) == PAYLOAD
    assert _Handler.requests == [], "nothing is downloaded when the mirror has the file"


@pytest.mark.parametrize("relative_to", ["working folder", "repository root"])
def test_fetch_finds_a_mirror_given_as_a_relative_path(
    isolated_dirs, server, monkeypatch, relative_to
):
    base = isolated_dirs / "base"
    (base / "rel-mirror" / "toy").mkdir(parents=True)
    (base / "rel-mirror" / "toy" / "good.bin").write_bytes(PAYLOAD)
    if relative_to == "working folder":
        monkeypatch.chdir(base)
    else:
        monkeypatch.chdir(isolated_dirs)  # which has no rel-mirror folder
        monkeypatch.setattr(data.paths, "repo_root", lambda: base)
    monkeypatch.setenv(data.MIRROR_ENV, "rel-mirror")
    assert data.mirror_dir() == (base / "rel-mirror").resolve()
    assert _fetch(_remote(server, "/good.bin")).read_bytes() == PAYLOAD
    assert _Handler.requests == []


@pytest.mark.fault
def test_fetch_falls_back_to_the_url_when_the_mirror_copy_is_corrupt(
    isolated_dirs, server, monkeypatch
):
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "good.bin").write_bytes(b"not the payload")
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = data.RemoteFile("good.bin", (server + "/good.bin",), PAYLOAD_SHA, len(PAYLOAD))
    assert _fetch(remote).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/good.bin"]


@pytest.mark.fault
def test_fetch_offline_and_uncached_names_url_cache_path_and_mirror(isolated_dirs):
    url = _closed_port_url()
    remote = data.RemoteFile("offline.bin", (url,), PAYLOAD_SHA, len(PAYLOAD))
    with pytest.raises(data.DataUnavailableError) as error:
        _fetch(remote)
    message = str(error.value)
    assert url in message
    assert str(isolated_dirs / "cache" / "toy" / "offline.bin") in message
    assert data.MIRROR_ENV in message
    assert _cache_files(isolated_dirs) == []


@pytest.mark.fault
def test_corrupt_cached_file_is_removed_and_fetched_again(isolated_dirs, server):
    remote = data.RemoteFile("good.bin", (server + "/good.bin",), PAYLOAD_SHA, len(PAYLOAD))
    cached = isolated_dirs / "cache" / "toy" / "good.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD[:100])
    assert _fetch(remote).read_bytes() == PAYLOAD


_DOWNLOAD_IN_A_CHILD = """
import sys
from common import data
remote = data.RemoteFile("good.bin", (sys.argv[1],), sys.argv[2], int(sys.argv[3]))
ds = data.Dataset("toy", "Toy data", "toy", (remote,), "CC0", "nobody", "http://example.invalid")
data.fetch_file(ds, remote, timeout=30, retries=1, verbose=False)
"""


@pytest.mark.fault
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")
def test_a_download_killed_mid_body_leaves_nothing_that_the_next_fetch_reads(isolated_dirs, server):
    _Handler.faults["/good.bin"] = ["stall-mid-body"]
    remote = _remote(server, "/good.bin")
    folder = isolated_dirs / "cache" / "toy"
    arguments = [remote.urls[0], PAYLOAD_SHA, str(len(PAYLOAD))]
    child = subprocess.Popen(
        [sys.executable, "-c", _DOWNLOAD_IN_A_CHILD, *arguments],
        cwd=REPO_ROOT,
        env=os.environ.copy(),  # with the isolated cache folder
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(
            lambda: (
                child.poll() is not None
                or (_Handler.stalled_mid_body.is_set() and any(folder.glob(".good.bin.*.part")))
            ),
            seconds=STALL_S / 2,
            what="the child's download to stall mid-body",
        )
        assert child.poll() is None, child.stderr.read().decode()
        time.sleep(0.1)  # let the child take in the part of the body that was sent
    finally:
        child.kill()
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert len(list(folder.glob(".good.bin.*.part"))) == 1, "the killed download left its part"
    assert data.file_status(_dataset(remote), remote, check_url=False) == "missing"
    (dead_part,) = folder.glob(".good.bin.*.part")
    _age(dead_part)

    assert _fetch(remote).read_bytes() == PAYLOAD
    assert _Handler.requests == ["/good.bin", "/good.bin"]
    assert _cache_files(isolated_dirs) == ["good.bin"], "the dead download's part is cleaned up"


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_part_file_that_a_live_download_holds_is_left_alone(isolated_dirs, server):
    import fcntl

    folder = isolated_dirs / "cache" / "toy"
    folder.mkdir(parents=True)
    (folder / ".good.bin.dead.part").write_bytes(b"left by a killed download")
    (folder / ".good.bin.fresh.part").write_bytes(b"just created, not yet locked")
    (folder / ".other.bin.dead.part").write_bytes(b"another file's, not touched")
    _age(folder / ".good.bin.dead.part", folder / ".other.bin.dead.part")
    live = folder / ".good.bin.live.part"
    with live.open("wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _age(live)
        _fetch(_remote(server, "/good.bin"))
        assert live.exists()
    remaining = _cache_files(isolated_dirs)
    assert remaining == [
        ".good.bin.fresh.part", ".good.bin.live.part", ".other.bin.dead.part", "good.bin"
    ]


def _age(*files: Path) -> None:
    """Date the files' last write back a minute, as a killed download's part file would be."""
    a_minute_ago = time.time() - 60
    for file in files:
        os.utime(file, (a_minute_ago, a_minute_ago))


def test_file_status_reports_cached_mirror_and_missing(isolated_dirs, monkeypatch):
    remote = data.RemoteFile("good.bin", (_closed_port_url(),), PAYLOAD_SHA, len(PAYLOAD))
    ds = _dataset(remote)
    assert data.file_status(ds, remote, timeout=2) == "missing"
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "good.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    assert data.file_status(ds, remote) == "in mirror"
    data.fetch_file(ds, remote, verbose=False)
    assert data.file_status(ds, remote) == "cached"


# --- IDX files ------------------------------------------------------------------------------------


def _idx_header(*shape: int, ndim: int | None = None) -> bytes:
    ndim = len(shape) if ndim is None else ndim
    return struct.pack(f">HBB{len(shape)}I", 0, 0x08, ndim, *shape)


def test_load_idx_reads_a_gzipped_idx_file(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "toy-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header(2, 3, 4) + images.tobytes()))
    loaded = data.load_idx(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)


@pytest.mark.fault
@pytest.mark.parametrize(
    ("raw", "expected_size", "actual_size"),
    [
        pytest.param(_idx_header(2, 3, 4) + bytes(20), 40, 36, id="truncated body"),
        pytest.param(_idx_header(5, 3, 4) + bytes(24), 76, 40, id="header announces more items"),
        pytest.param(_idx_header(2, ndim=3), 16, 8, id="header cut short"),
        pytest.param(b"\x00\x00", 4, 2, id="shorter than a header"),
    ],
)
def test_load_idx_rejects_a_bad_header_or_truncated_body_naming_file_and_sizes(
    tmp_path, raw, expected_size, actual_size
):
    path = tmp_path / "toy-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError) as error:
        data.load_idx(path)
    message = str(error.value)
    assert str(path) in message
    assert re.search(rf"\b{expected_size}\b", message), f"expected size named: {message}"
    assert re.search(rf"\b{actual_size}\b", message), f"actual size named: {message}"


@pytest.mark.fault
def test_load_idx_rejects_a_truncated_gzip_naming_the_file(tmp_path):
    path = tmp_path / "toy-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header(2, 3, 4) + bytes(24))[:-12])
    with pytest.raises(ValueError, match="not a complete gzip file") as error:
        data.load_idx(path)
    assert str(path) in str(error.value)


# --- The registry ---------------------------------------------------------------------------------


def test_every_registry_url_is_https():
    for ds in data.REGISTRY.values():
        for remote in ds.files:
            assert remote.urls, f"{ds.name}/{remote.name} has no URL"
            for url in remote.urls:
                assert urlsplit(url).scheme == "https", f"{ds.name}/{remote.name}: {url}"


def test_registry_agrees_with_the_mirror_readme(shared_mirror):
    readme = (shared_mirror / "README.md").read_text()
    rows = re.findall(r"^\| (\S+/\S+) \| (\S+) \| ([0-9a-f]{64}) \|", readme, flags=re.M)
    listed = {
        (ds.folder, remote.name): remote for ds in data.REGISTRY.values() for remote in ds.files
    }
    assert sorted(tuple(path.split("/")) for path, _, _ in rows) == sorted(listed)
    for relative_path, url, sha256 in rows:
        remote = listed[tuple(relative_path.split("/"))]
        assert remote.sha256 == sha256, relative_path
        if url not in remote.urls:
            # the README may list the plain-http original that the registry replaced with https
            assert url in remote.superseded_urls, f"{relative_path}: {url} is not in the registry"
            assert urlsplit(url).scheme == "http", f"{relative_path}: {url} replaced, not http"
            assert Path(urlsplit(url).path).name == remote.name, relative_path


def test_every_mirror_file_verifies_against_the_registry(shared_mirror):
    for ds in data.REGISTRY.values():
        for remote in ds.files:
            data.verify(shared_mirror / ds.folder / remote.name, remote)


def test_load_mnist_and_fashion_mnist_match_keras_shapes(isolated_dirs, shared_mirror, monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV, str(shared_mirror))
    published_label_md5 = {
        "mnist": "27ae3e4e09519cfbb04c329615203637",
        "fashion-mnist": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    for name, loader in (("mnist", data.load_mnist), ("fashion-mnist", data.load_fashion_mnist)):
        (x_train, y_train), (x_test, y_test) = loader()
        assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
        assert y_train.shape == (60000,) and y_test.shape == (10000,)
        assert {x_train.dtype, y_train.dtype, x_test.dtype, y_test.dtype} == {np.dtype(np.uint8)}
        assert set(np.unique(y_train)) == set(range(10))
        test_labels_payload = gzip.decompress(
            (isolated_dirs / "cache" / name / "t10k-labels-idx1-ubyte.gz").read_bytes()
        )
        assert hashlib.md5(test_labels_payload).hexdigest() == published_label_md5[name]
    (_, y_train), _ = data.load_mnist()
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
