"""The data registry: every real data set the bootcamp uses, fetched once, verified, cached.

Each file is listed with its canonical https URL(s), the SHA-256 and size of its payload (of the
decompressed bytes for ``.gz`` files), and its data set's licence and citation. :func:`fetch`
looks in the cache (``data/``, or ``$BOOTCAMP_DATA_DIR``), then in an offline mirror folder
(``$BOOTCAMP_DATA_MIRROR``, laid out as ``<mirror>/<folder>/<file>``; a relative path is taken
from the current folder, else from the repository root), then downloads:

- Each read waits at most ``timeout`` seconds, and each file has an overall deadline
  (``deadline=`` or ``$BOOTCAMP_DOWNLOAD_DEADLINE`` in seconds, 15 minutes by default) for all
  its tries together, so a server that trickles bytes cannot hold a download forever.
- Network errors and HTTP 5xx are retried with a doubling pause (``RETRY_BACKOFF_S``); an HTTP
  4xx answer (other than 408 and 429, which ask for a retry) is not, and the next URL is tried.
- A redirect from https to a plain-text URL is refused (:class:`InsecureRedirectError`).

A file is written as ``.<name>.<random>.part`` beside its place in the cache and moved there only
once its payload verifies, so a corrupt or truncated file never stays in the cache. A body shorter
than its Content-Length, a payload shorter than the registry's size, or a gzip stream that ends
early is reported as truncated (:class:`TruncatedDownloadError`); any other mismatch as a wrong
hash (:class:`ChecksumError`). Every final error says how to get the file by hand.

A download holds an exclusive ``flock`` on its part file until it is renamed; the kernel drops
the lock when the process dies, so each fetch of a file first deletes that file's part files that
no process holds and nothing has written to for a few seconds (left by a download that was
killed). Where ``flock`` does not exist (Windows), an open part file cannot be deleted, so deleting
the ones that can be is just as safe.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import http.client
import math
import os
import shutil
import struct
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np

from common import paths

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

MIRROR_ENV = "BOOTCAMP_DATA_MIRROR"
DEADLINE_ENV = "BOOTCAMP_DOWNLOAD_DEADLINE"
DEFAULT_DEADLINE_S = 15 * 60.0
RETRY_BACKOFF_S = 0.5  # the pause after a failed try; it doubles after each try
RETRY_BACKOFF_MAX_S = 4.0
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})  # Request Timeout, Too Many Requests
CHUNK_BYTES = 1 << 20
FRESH_PART_S = 5.0  # a part file written to this recently is never treated as a dead download's
USER_AGENT = "ai-science-bootcamp/0.1 (+data registry)"


class DataError(RuntimeError):
    """A data set could not be provided."""


class DataUnavailableError(DataError):
    """A file is neither cached nor in the mirror, and could not be downloaded."""


class DownloadDeadlineError(DataUnavailableError):
    """A file did not download within its overall deadline."""


class InsecureRedirectError(DataError):
    """A download from an https URL was redirected to a plain-text URL."""


class VerificationError(DataError):
    """A file is not the payload the registry expects."""


class ChecksumError(VerificationError):
    """A file's payload does not have the SHA-256 the registry expects."""


class TruncatedDownloadError(VerificationError):
    """A file ends early: a download cut short, or a payload shorter than the registry's size."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: where it comes from and what its payload must hash to."""

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    # Plain-http URLs that published this same payload and that ``urls`` replaced with https
    # copies; kept so that older listings (the mirror's README) can be traced to the registry.
    superseded_urls: tuple[str, ...] = ()

    @property
    def gzipped(self) -> bool:
        """True when the file is gzip-compressed (its hash is that of the decompressed payload)."""
        return self.name.endswith(".gz")


@dataclass(frozen=True)
class Dataset:
    """A data set: its files, where it is cached, and the terms it comes under."""

    name: str
    title: str
    folder: str
    files: tuple[RemoteFile, ...]
    licence: str
    citation: str
    homepage: str

    def file(self, name: str) -> RemoteFile:
        """Return the file called ``name``."""
        for remote in self.files:
            if remote.name == name:
                return remote
        raise KeyError(f"{self.title} has no file {name!r}: it has {[f.name for f in self.files]}")


_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# Fashion-MNIST's own host serves plain http only; Keras' copy (what keras.datasets.fashion_mnist
# downloads) is the same four files over https.
_FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FASHION_HTTP_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_GPUBOOTCAMP_URL = (
    "https://raw.githubusercontent.com/openhackathons-org/gpubootcamp/"
    "e64493e47433ba2bb48a4b36ddbea4dc315fddb1/archived/hpc_ai/"
)


def _idx_files(
    base_url: str, hashes: dict[str, str], superseded_base_url: str | None = None
) -> tuple[RemoteFile, ...]:
    sizes = {
        "train-images-idx3-ubyte.gz": 47_040_016,
        "train-labels-idx1-ubyte.gz": 60_008,
        "t10k-images-idx3-ubyte.gz": 7_840_016,
        "t10k-labels-idx1-ubyte.gz": 10_008,
    }
    return tuple(
        RemoteFile(
            name,
            (base_url + name,),
            hashes[name],
            sizes[name],
            superseded_urls=(superseded_base_url + name,) if superseded_base_url else (),
        )
        for name in sizes
    )


REGISTRY: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="mnist",
            title="MNIST handwritten digits",
            folder="mnist",
            files=_idx_files(
                _MNIST_URL,
                {
                    "train-images-idx3-ubyte.gz": (
                        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
                    ),
                    "train-labels-idx1-ubyte.gz": (
                        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
                    ),
                    "t10k-images-idx3-ubyte.gz": (
                        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
                    ),
                    "t10k-labels-idx1-ubyte.gz": (
                        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
                    ),
                },
            ),
            licence="CC BY-SA 3.0 (Y. LeCun, C. Cortes)",
            citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning "
            "applied to "
            "document recognition. Proc. IEEE 86(11), 1998.",
            homepage="http://yann.lecun.com/exdb/mnist/",
        ),
        Dataset(
            name="fashion-mnist",
            title="Fashion-MNIST clothing images",
            folder="fashion-mnist",
            files=_idx_files(
                _FASHION_URL,
                {
                    "train-images-idx3-ubyte.gz": (
                        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
                    ),
                    "train-labels-idx1-ubyte.gz": (
                        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
                    ),
                    "t10k-images-idx3-ubyte.gz": (
                        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
                    ),
                    "t10k-labels-idx1-ubyte.gz": (
                        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
                    ),
                },
                superseded_base_url=_FASHION_HTTP_URL,
            ),
            licence="MIT (Zalando SE)",
            citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a novel image dataset for "
            "benchmarking machine learning algorithms. arXiv:1708.07747, 2017.",
            homepage="https://github.com/zalandoresearch/fashion-mnist",
        ),
        Dataset(
            name="hurdat2-atlantic",
            title="HURDAT2 Atlantic best track, 1851-2018 (CSV)",
            folder="hurdat2",
            files=(
                RemoteFile(
                    "atlantic.csv",
                    (
                        _GPUBOOTCAMP_URL + "ai_science_climate/English/python/jupyter_notebook/"
                        "Tropical_Cyclone_Intensity_Estimation/atlantic.csv",
                    ),
                    "e70c2eb6ecf1bd31b270c755845a665e0097ea90db97de781586f7fffdfe3bb3",
                    3_702_943,
                ),
            ),
            licence="NOAA HURDAT2, US public domain (CSV form)",
            citation="C. W. Landsea, J. L. Franklin. Atlantic hurricane database uncertainty and "
            "presentation of a new database format. Mon. Wea. Rev. 141, 2013.",
            homepage="https://www.nhc.noaa.gov/data/#hurdat",
        ),
        Dataset(
            name="hurdat2-pacific",
            title="HURDAT2 NE and North-Central Pacific best track, 1949-2013 (raw NOAA text)",
            folder="hurdat2",
            files=(
                RemoteFile(
                    "pacific.txt",
                    (
                        "https://raw.githubusercontent.com/greencoder/nhc-historical-geojson/"
                        "2a3147683fe4a40b59fac0ca904aaecaadcbdbd9/pacific.txt",
                    ),
                    "a9294f155488d423818e5769b8f27fb37963b9eade03e084b0f7f2d6e2fda27e",
                    2_999_157,
                ),
            ),
            licence="NOAA HURDAT2, US public domain (raw NOAA text format)",
            citation="C. W. Landsea, J. L. Franklin. Atlantic hurricane database uncertainty and "
            "presentation of a new database format. Mon. Wea. Rev. 141, 2013.",
            homepage="https://www.nhc.noaa.gov/data/#hurdat",
        ),
        Dataset(
            name="openfoam-chip2d",
            title="OpenFOAM reference solution of the 2D chip channel flow",
            folder="openfoam",
            files=(
                RemoteFile(
                    "2D_chip_fluid0.csv",
                    (
                        _GPUBOOTCAMP_URL + "PINN/English/python/source_code/chip_2d/openfoam/"
                        "2D_chip_fluid0.csv",
                    ),
                    "bab3dfcabf2f87a642bbb91f87d494ecfef60115f99bb6325bc6c72d9bdcecf0",
                    3_132_570,
                ),
            ),
            licence="Apache-2.0 (OpenHackathons GPU bootcamp)",
            citation="OpenHackathons GPU Bootcamp, PINN lab: 2D chip, OpenFOAM reference data.",
            homepage="https://github.com/openhackathons-org/gpubootcamp",
        ),
    )
}


def dataset(name: str) -> Dataset:
    """Return the registry entry called ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"No data set {name!r} in the registry; known: {', '.join(REGISTRY)}"
        ) from None


def cache_path(ds: Dataset, remote: RemoteFile) -> Path:
    """Return where ``remote`` is cached: ``<data dir>/<folder>/<name>``."""
    return paths.data_dir() / ds.folder / remote.name


def mirror_dir() -> Path | None:
    """Return the mirror folder ``$BOOTCAMP_DATA_MIRROR`` (a relative one: to cwd or repo root)."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    candidate = Path(value).expanduser()
    if not candidate.is_absolute() and not candidate.exists():
        candidate = paths.repo_root() / candidate
    return candidate.resolve()


def mirror_path(ds: Dataset, remote: RemoteFile) -> Path | None:
    """Return the file's place in the mirror, or None when no mirror is set or it is not there."""
    root = mirror_dir()
    if root is None:
        return None
    path = root / ds.folder / remote.name
    return path if path.is_file() else None


def download_deadline() -> float:
    """Return the per-file download deadline in seconds: ``$BOOTCAMP_DOWNLOAD_DEADLINE`` or 900."""
    value = os.environ.get(DEADLINE_ENV, "").strip()
    if not value:
        return DEFAULT_DEADLINE_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise ValueError(f"{DEADLINE_ENV}={value!r} is not a positive number of seconds.")
    return seconds


@dataclass(frozen=True)
class _Deadline:
    """The overall time limit of one file's download, all its tries together."""

    seconds: float
    ends_at: float  # on the time.monotonic() clock

    @classmethod
    def start(cls, seconds: float) -> _Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise DownloadDeadlineError(f"gave up when the {self.seconds:g} s deadline passed")

    def cap(self, timeout: float) -> float:
        """Return ``timeout``, shortened so that a wait cannot run past the deadline."""
        return max(min(timeout, self.remaining()), 0.001)


def _open_payload(path: Path, gzipped: bool) -> BinaryIO:
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115


def payload_digest(path: Path, gzipped: bool) -> tuple[str, int]:
    """Return the SHA-256 and size of a payload; a broken gzip stream raises VerificationError."""
    digest, size = hashlib.sha256(), 0
    try:
        with _open_payload(path, gzipped) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except EOFError as error:
        raise TruncatedDownloadError(
            f"{path.name} is incomplete: its {path.stat().st_size:,} bytes end inside the gzip "
            f"stream ({error})."
        ) from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise ChecksumError(f"{path.name} is not a valid gzip file ({error}).") from error
    return digest.hexdigest(), size


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise VerificationError unless the payload at ``path`` has ``remote``'s SHA-256 and size.

    A payload that ends early raises TruncatedDownloadError; any other mismatch ChecksumError.
    """
    try:
        actual_hash, actual_size = payload_digest(path, remote.gzipped)
    except TruncatedDownloadError as error:
        raise TruncatedDownloadError(
            f"{remote.name} is incomplete: its {path.stat().st_size:,} bytes end inside the gzip "
            f"stream, before the {remote.size:,}-byte payload is complete."
        ) from error
    if actual_size < remote.size:
        raise TruncatedDownloadError(
            f"{remote.name} is incomplete: its payload is {actual_size:,} bytes, of the expected "
            f"{remote.size:,}."
        )
    if actual_hash != remote.sha256 or actual_size != remote.size:
        raise ChecksumError(
            f"{remote.name}: payload SHA-256 {actual_hash} ({actual_size:,} bytes) does not match "
            f"the expected {remote.sha256} ({remote.size:,} bytes)."
        )


def check_redirect(from_url: str, to_url: str) -> None:
    """Raise InsecureRedirectError when a redirect would leave https for a plain-text URL."""
    if urlsplit(from_url).scheme == "https" and urlsplit(to_url).scheme != "https":
        raise InsecureRedirectError(
            f"{from_url} redirected to {to_url}, which is not https: refused, since the file "
            "would travel unencrypted."
        )


class _HttpsOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, except from https to a plain-text URL."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: BinaryIO,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_redirect(req.full_url, newurl)
        except InsecureRedirectError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, timeout: float, method: str = "GET") -> http.client.HTTPResponse:
    request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
    # built per call: the opener reads the proxy settings from the environment when it is built
    opener = urllib.request.build_opener(_HttpsOnlyRedirectHandler)
    return opener.open(request, timeout=timeout)


def _download(
    url: str, destination: BinaryIO, timeout: float, limit: _Deadline, verbose: bool
) -> None:
    """Stream ``url`` into ``destination``; raise TruncatedDownloadError if the body ends early."""
    with _open_url(url, limit.cap(timeout)) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        progress = None
        if verbose:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=total, unit="B", unit_scale=True, desc=Path(url).name, leave=False
            )
        received = 0
        try:
            # read1 returns after one socket read, so the deadline is checked however slowly the
            # bytes come (read(n) waits for all n of them)
            while chunk := response.read1(CHUNK_BYTES):
                destination.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress.update(len(chunk))
                limit.check()
        finally:
            if progress is not None:
                progress.close()
    if total is not None and received < total:
        raise TruncatedDownloadError(
            f"the connection closed after {received:,} of the {total:,} bytes its Content-Length "
            "announced"
        )


def _copy_from(source: Path, destination: BinaryIO) -> None:
    with source.open("rb") as stream:
        shutil.copyfileobj(stream, destination, CHUNK_BYTES)


def _lock(handle: BinaryIO) -> None:
    """Take an exclusive flock on ``handle`` (held until it is closed); never waits."""
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_stale_parts(target: Path) -> None:
    """Delete the part files of ``target`` that no live download holds (a killed one's)."""
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        try:
            if time.time() - part.stat().st_mtime < FRESH_PART_S:
                continue  # maybe a download that has created its part file but not yet locked it
            with part.open("rb") as stream:
                _lock(stream)
            part.unlink()
        except OSError:
            continue  # a live download holds it (or it is gone, or not ours)


def _install(target: Path, remote: RemoteFile, write: Callable[[BinaryIO], None]) -> None:
    """Write to a locked part file beside ``target``, verify it, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{remote.name}.", suffix=".part", delete=False
    )
    temp_path = Path(handle.name)
    try:
        with handle:
            with contextlib.suppress(OSError):  # a file system without flock: go on unlocked
                _lock(handle)
            write(handle)
            handle.flush()
            verify(temp_path, remote)
        temp_path.chmod(0o644)
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


def _http_status(error: urllib.error.HTTPError) -> str:
    try:
        phrase = HTTPStatus(error.code).phrase
    except ValueError:
        phrase = error.reason
    return f"HTTP {error.code} {phrase}"


def _network_reason(error: OSError | http.client.HTTPException, timeout: float) -> str:
    reason = getattr(error, "reason", error)  # a URLError wraps the socket's error
    if isinstance(reason, TimeoutError):
        return f"timed out (no data for {timeout:g} s)"
    return str(reason) or type(reason).__name__


def _try_urls(
    target: Path,
    remote: RemoteFile,
    *,
    timeout: float,
    retries: int,
    limit: _Deadline,
    verbose: bool,
    failures: list[tuple[type[DataError], str]],
) -> str | None:
    """Download ``remote`` to ``target`` from the first URL that works; return it (or None)."""
    for url in remote.urls:
        for attempt in range(1, retries + 1):
            where = f"{url} (try {attempt}/{retries})"
            try:
                limit.check()
                _install(
                    target,
                    remote,
                    lambda out, url=url: _download(url, out, timeout, limit, verbose),
                )
                return url
            except DownloadDeadlineError as error:
                failures.append((DownloadDeadlineError, f"{where}: {error}"))
                return None
            except urllib.error.HTTPError as error:
                error.close()
                failures.append((DataUnavailableError, f"{where}: {_http_status(error)}"))
                if error.code < 500 and error.code not in RETRYABLE_CLIENT_ERRORS:
                    break  # the server will answer a retry the same way: try the next URL
            except InsecureRedirectError as error:
                failures.append((DataUnavailableError, f"{where}: {error}"))
                break
            except VerificationError as error:
                failures.append((type(error), f"{where}: {error}"))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                reason = _network_reason(error, timeout)
                failures.append((DataUnavailableError, f"{where}: {reason}"))
            if attempt < retries:
                pause = min(RETRY_BACKOFF_S * 2 ** (attempt - 1), RETRY_BACKOFF_MAX_S)
                time.sleep(max(0.0, min(pause, limit.remaining())))
    return None


def _final_error(
    ds: Dataset,
    remote: RemoteFile,
    target: Path,
    failures: list[tuple[type[DataError], str]],
    deadline: float,
) -> DataError:
    """Return the error that ends a failed fetch: what went wrong, then how to get the file."""
    headlines = {  # the first kind of failure listed here names the error
        ChecksumError: "failed verification (its payload's SHA-256 is not the registry's)",
        DownloadDeadlineError: (
            f"did not download within the {deadline:g} s deadline (give it longer with "
            f"deadline=SECONDS or {DEADLINE_ENV}=SECONDS)"
        ),
        TruncatedDownloadError: "was incomplete (truncated)",
        DataUnavailableError: "is not cached and the download failed",
    }
    kinds = {kind for kind, _ in failures}
    kind = next((candidate for candidate in headlines if candidate in kinds), DataUnavailableError)
    what = headlines[kind]
    mirror = mirror_dir()
    mirror_hint = (
        f"or put it at {mirror / ds.folder / remote.name} in the {MIRROR_ENV} mirror"
        if mirror is not None
        else f"or set {MIRROR_ENV} to a folder that holds {ds.folder}/{remote.name}"
    )
    tried = "\n  ".join(text for _, text in failures) or "no URL to try"
    return kind(
        f"{ds.title}: {remote.name} {what}; nothing was kept in the cache.\n"
        f"  {tried}\n"
        f"  Download it by hand from {remote.urls[0] if remote.urls else ds.homepage}\n"
        f"  and place it at {target}\n"
        f"  ({mirror_hint})."
    )


def fetch_file(
    ds: Dataset,
    remote: RemoteFile,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    verbose: bool = True,
    deadline: float | None = None,
) -> Path:
    """Return the cached path of ``remote``, getting it from the mirror or a URL if needed.

    ``timeout`` bounds each wait for data, ``deadline`` (default: :func:`download_deadline`) the
    whole download of the file, all tries and URLs together.
    """
    target = cache_path(ds, remote)
    _remove_stale_parts(target)
    if target.exists():
        try:
            verify(target, remote)
            return target
        except VerificationError as error:
            target.unlink()
            if verbose:
                print(f"Removed a corrupt cached file ({error}); fetching it again.")

    failures: list[tuple[type[DataError], str]] = []
    source = mirror_path(ds, remote)
    if source is not None:
        try:
            _install(target, remote, lambda out: _copy_from(source, out))
            if verbose:
                print(f"{ds.title}: {remote.name} copied from the mirror {source.parent}")
            return target
        except VerificationError as error:
            failures.append((type(error), f"mirror {source}: {error}"))

    deadline = download_deadline() if deadline is None else deadline
    url = _try_urls(
        target,
        remote,
        timeout=timeout,
        retries=retries,
        limit=_Deadline.start(deadline),
        verbose=verbose,
        failures=failures,
    )
    if url is None:
        raise _final_error(ds, remote, target, failures, deadline)
    if verbose:
        print(f"{ds.title}: downloaded {remote.name} from {url}")
    return target


def fetch(
    name: str,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    verbose: bool = True,
    deadline: float | None = None,
) -> dict[str, Path]:
    """Make sure every file of data set ``name`` is cached and verified; return their paths."""
    ds = dataset(name)
    return {
        remote.name: fetch_file(
            ds, remote, timeout=timeout, retries=retries, verbose=verbose, deadline=deadline
        )
        for remote in ds.files
    }


def url_reachable(url: str, timeout: float = 5.0) -> bool:
    """Return True when a HEAD request to ``url`` answers with a 2xx/3xx status."""
    try:
        with _open_url(url, timeout, method="HEAD") as response:
            return response.status < 400
    except (urllib.error.URLError, http.client.HTTPException, OSError, InsecureRedirectError):
        return False


def file_status(
    ds: Dataset, remote: RemoteFile, check_url: bool = True, timeout: float = 5.0
) -> str:
    """Return ``cached``, ``in mirror``, ``downloadable`` or ``missing`` for one file."""
    target = cache_path(ds, remote)
    if target.exists():
        try:
            verify(target, remote)
            return "cached"
        except VerificationError:
            return "corrupt in cache"
    if mirror_path(ds, remote) is not None:
        return "in mirror"
    if check_url and any(url_reachable(url, timeout) for url in remote.urls):
        return "downloadable"
    return "missing"


# --- Loaders -------------------------------------------------------------------------------------

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    try:
        with _open_payload(path, path.name.endswith(".gz")) as stream:
            raw = stream.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is not a complete gzip file ({error}).") from error
    if len(raw) < 4:
        raise ValueError(f"{path} is not an IDX file: {len(raw)} bytes, less than a 4-byte header.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (header {raw[:4].hex()}).")
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise ValueError(
            f"{path}: the IDX header of {ndim} dimensions needs {header_bytes} bytes, but the file "
            f"has {len(raw)}."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_bytes])
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = header_bytes + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: an IDX file of shape {shape} and type {dtype} has {expected:,} bytes, but "
            f"this one has {len(raw):,} (truncated, or a header that does not match the data)."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header_bytes)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def _load_idx_dataset(
    name: str,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    files = fetch(name)
    return (
        (
            load_idx(files["train-images-idx3-ubyte.gz"]),
            load_idx(files["train-labels-idx1-ubyte.gz"]),
        ),
        (
            load_idx(files["t10k-images-idx3-ubyte.gz"]),
            load_idx(files["t10k-labels-idx1-ubyte.gz"]),
        ),
    )


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return MNIST as ``(x_train, y_train), (x_test, y_test)`` like ``keras.datasets.mnist``."""
    return _load_idx_dataset("mnist")


def load_fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays."""
    return _load_idx_dataset("fashion-mnist")
