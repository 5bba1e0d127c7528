"""The data registry: verified downloads, the mirror, clear errors, a cache with no bad file."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from common import data

PAYLOAD = bytes(range(256)) * 64  # 16 KiB
GZ_BYTES = gzip.compress(PAYLOAD)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.path)
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, declared_length = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(declared_length or len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    """A local HTTP server serving a good, a corrupted and two truncated files."""
    _Handler.requests = []
    _Handler.routes = {
        "/good.bin.gz": (GZ_BYTES, None),
        "/good.bin": (PAYLOAD, None),
        "/corrupt.bin": (PAYLOAD[:-1] + b"X", None),
        "/truncated.bin.gz": (GZ_BYTES[: len(GZ_BYTES) // 2], None),  # a short but "complete" reply
        "/cut.bin": (PAYLOAD[:1000], len(PAYLOAD)),  # connection closes before Content-Length
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-listens-here.bin"


def _dataset(*files: data.RemoteFile) -> data.Dataset:
    return data.Dataset("toy", "Toy data", "toy", files, "CC0", "nobody", "http://example.invalid")


def _fetch(remote: data.RemoteFile) -> Path:
    return data.fetch_file(_dataset(remote), remote, timeout=5, retries=2, verbose=False)


def _cache_files(root: Path) -> list[str]:
    folder = root / "cache" / "toy"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


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


def test_fetch_rejects_corrupted_download_and_keeps_cache_clean(isolated_dirs, server):
    remote = data.RemoteFile("corrupt.bin", (server + "/corrupt.bin",), PAYLOAD_SHA, len(PAYLOAD))
    with pytest.raises(data.ChecksumError) as error:
        _fetch(remote)
    message = str(error.value)
    assert PAYLOAD_SHA in message, "the expected hash is named"
    assert hashlib.sha256(PAYLOAD[:-1] + b"X").hexdigest() in message, "the actual hash is named"
    assert _cache_files(isolated_dirs) == []


def test_fetch_rejects_truncated_gzip_and_keeps_cache_clean(isolated_dirs, server):
    remote = data.RemoteFile(
        "truncated.bin.gz", (server + "/truncated.bin.gz",), PAYLOAD_SHA, len(PAYLOAD)
    )
    with pytest.raises(data.ChecksumError, match="not a complete gzip file"):
        _fetch(remote)
    assert _cache_files(isolated_dirs) == []


def test_fetch_rejects_a_connection_cut_short_and_keeps_cache_clean(isolated_dirs, server):
    remote = data.RemoteFile("cut.bin", (server + "/cut.bin",), PAYLOAD_SHA, len(PAYLOAD))
    with pytest.raises(data.DataError):
        _fetch(remote)
    assert _cache_files(isolated_dirs) == []


def test_fetch_prefers_the_mirror_over_the_url(isolated_dirs, server, monkeypatch):
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "good.bin.gz").write_bytes(GZ_BYTES)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = data.RemoteFile("good.bin.gz", (server + "/good.bin.gz",), PAYLOAD_SHA, len(PAYLOAD))
    path = _fetch(remote)
    assert gzip.decompress(path.read_bytes()) == PAYLOAD
    assert _Handler.requests == [], "nothing is downloaded when the mirror has the file"


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


def test_corrupt_cached_file_is_removed_and_fetched_again(isolated_dirs, server):
    remote = data.RemoteFile("good.bin", (server + "/good.bin",), PAYLOAD_SHA, len(PAYLOAD))
    cached = isolated_dirs / "cache" / "toy" / "good.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD[:100])
    assert _fetch(remote).read_bytes() == PAYLOAD


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


def test_load_idx_reads_a_gzipped_idx_file(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "toy-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">HBB3I", 0, 0x08, 3, 2, 3, 4) + images.tobytes()))
    loaded = data.load_idx(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)


def test_registry_agrees_with_the_mirror_readme(shared_mirror):
    readme = (shared_mirror / "README.md").read_text()
    rows = re.findall(r"^\| (\S+/\S+) \| (\S+) \| ([0-9a-f]{64}) \|", readme, flags=re.M)
    assert len(rows) == 11
    listed = {
        (ds.folder, remote.name): remote for ds in data.REGISTRY.values() for remote in ds.files
    }
    for relative_path, url, sha256 in rows:
        folder, name = relative_path.split("/")
        remote = listed[(folder, name)]
        assert remote.sha256 == sha256, relative_path
        assert url in remote.urls, relative_path


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
