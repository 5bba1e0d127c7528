"""The data registry: every real data set the bootcamp uses, fetched once, verified, cached.

Each file is listed with its canonical URL(s), the SHA-256 and size of its payload (of the
decompressed bytes for ``.gz`` files), and its data set's licence and citation. :func:`fetch`
looks in the cache (``data/``, or ``$BOOTCAMP_DATA_DIR``), then in an offline mirror folder
(``$BOOTCAMP_DATA_MIRROR``, laid out as ``<mirror>/<folder>/<file>``), then downloads with a
timeout and retries. A file is written under a temporary name and moved into the cache only once
its hash matches, so a corrupt or truncated file never stays in the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
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
from pathlib import Path
from typing import BinaryIO

import numpy as np

from common import paths

MIRROR_ENV = "BOOTCAMP_DATA_MIRROR"
CHUNK_BYTES = 1 << 20
USER_AGENT = "ai-science-bootcamp/0.1 (+data registry)"


class DataError(RuntimeError):
    """A data set could not be provided."""


class DataUnavailableError(DataError):
    """A file is neither cached nor in the mirror, and could not be downloaded."""


class ChecksumError(DataError):
    """A file's payload does not have the SHA-256 the registry expects."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: where it comes from and what its payload must hash to."""

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int

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
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_GPUBOOTCAMP_URL = (
    "https://raw.githubusercontent.com/openhackathons-org/gpubootcamp/"
    "e64493e47433ba2bb48a4b36ddbea4dc315fddb1/archived/hpc_ai/"
)


def _idx_files(base_url: str, hashes: dict[str, str]) -> tuple[RemoteFile, ...]:
    sizes = {
        "train-images-idx3-ubyte.gz": 47_040_016,
        "train-labels-idx1-ubyte.gz": 60_008,
        "t10k-images-idx3-ubyte.gz": 7_840_016,
        "t10k-labels-idx1-ubyte.gz": 10_008,
    }
    return tuple(RemoteFile(name, (base_url + name,), hashes[name], sizes[name]) for name in sizes)


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


def _open_payload(path: Path, gzipped: bool) -> BinaryIO:
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115


def payload_digest(path: Path, gzipped: bool) -> tuple[str, int]:
    """Return the SHA-256 and size of a payload; a broken gzip stream raises ChecksumError."""
    digest, size = hashlib.sha256(), 0
    try:
        with _open_payload(path, gzipped) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ChecksumError(f"{path.name} is not a complete gzip file ({error}).") from error
    return digest.hexdigest(), size


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise ChecksumError unless the payload at ``path`` has ``remote``'s SHA-256 and size."""
    actual_hash, actual_size = payload_digest(path, remote.gzipped)
    if actual_hash != remote.sha256 or actual_size != remote.size:
        raise ChecksumError(
            f"{remote.name}: payload SHA-256 {actual_hash} ({actual_size:,} bytes) does not match "
            f"the expected {remote.sha256} ({remote.size:,} bytes)."
        )


def _download(url: str, destination: BinaryIO, timeout: float, verbose: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https/http only)
        total = int(response.headers.get("Content-Length") or 0) or None
        progress = None
        if verbose:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=total, unit="B", unit_scale=True, desc=Path(url).name, leave=False
            )
        received = 0
        while chunk := response.read(CHUNK_BYTES):
            destination.write(chunk)
            received += len(chunk)
            if progress is not None:
                progress.update(len(chunk))
        if progress is not None:
            progress.close()
        if total is not None and received < total:
            raise ChecksumError(f"download truncated: {received:,} of {total:,} bytes")


def _copy_from(source: Path, destination: BinaryIO) -> None:
    with source.open("rb") as stream:
        shutil.copyfileobj(stream, destination, CHUNK_BYTES)


def _install(target: Path, remote: RemoteFile, write: Callable[[BinaryIO], None]) -> None:
    """Write to a temporary file beside ``target``, verify it, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{remote.name}.", suffix=".part", delete=False
    )
    temp_path = Path(handle.name)
    try:
        with handle:
            write(handle)
        verify(temp_path, remote)
        temp_path.chmod(0o644)
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


def fetch_file(
    ds: Dataset,
    remote: RemoteFile,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    verbose: bool = True,
) -> Path:
    """Return the cached path of ``remote``, getting it from the mirror or a URL if needed."""
    target = cache_path(ds, remote)
    if target.exists():
        try:
            verify(target, remote)
            return target
        except ChecksumError as error:
            target.unlink()
            if verbose:
                print(f"Removed a corrupt cached file ({error}); fetching it again.")

    failures: list[str] = []
    checksum_failures: list[str] = []
    source = mirror_path(ds, remote)
    if source is not None:
        try:
            _install(target, remote, lambda out: _copy_from(source, out))
            if verbose:
                print(f"{ds.title}: {remote.name} copied from the mirror {source.parent}")
            return target
        except ChecksumError as error:
            checksum_failures.append(f"mirror {source}: {error}")

    for url in remote.urls:
        for attempt in range(1, retries + 1):
            try:
                _install(target, remote, lambda out, url=url: _download(url, out, timeout, verbose))
                if verbose:
                    print(f"{ds.title}: downloaded {remote.name} from {url}")
                return target
            except ChecksumError as error:
                checksum_failures.append(f"{url}: {error}")
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                reason = getattr(error, "reason", error)
                failures.append(f"{url} (try {attempt}/{retries}): {reason}")
            if attempt < retries:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))

    if checksum_failures:
        raise ChecksumError(
            f"{ds.title}: every copy of {remote.name} failed verification, so none was kept in the "
            f"cache.\n  " + "\n  ".join(checksum_failures)
        )
    mirror_hint = (
        f"{MIRROR_ENV}={mirror_dir()} has no {ds.folder}/{remote.name}"
        if mirror_dir() is not None
        else f"or set {MIRROR_ENV} to a folder that holds {ds.folder}/{remote.name}"
    )
    raise DataUnavailableError(
        f"{ds.title}: {remote.name} is not cached and the download failed "
        f"({failures[-1] if failures else 'no URL'}).\n"
        f"  Download it by hand from {remote.urls[0]}\n"
        f"  and place it at {target}\n"
        f"  ({mirror_hint})."
    )


def fetch(
    name: str, *, timeout: float = 30.0, retries: int = 3, verbose: bool = True
) -> dict[str, Path]:
    """Make sure every file of data set ``name`` is cached and verified; return their paths."""
    ds = dataset(name)
    return {
        remote.name: fetch_file(ds, remote, timeout=timeout, retries=retries, verbose=verbose)
        for remote in ds.files
    }


def url_reachable(url: str, timeout: float = 5.0) -> bool:
    """Return True when a HEAD request to ``url`` answers with a 2xx/3xx status."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status < 400
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
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
        except ChecksumError:
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
    with _open_payload(Path(path), str(path).endswith(".gz")) as stream:
        raw = stream.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (header {raw[:4].hex()}).")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    array = np.frombuffer(raw, dtype=_IDX_DTYPES[dtype_code], offset=4 + 4 * ndim)
    return array.reshape(shape).astype(np.dtype(_IDX_DTYPES[dtype_code]).newbyteorder("="))


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
