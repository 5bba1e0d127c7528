"""Load the real imagery of NASA's Tropical Cyclone Wind Estimation Competition (Maskey et al.).

The data set holds GOES infrared images (band 13, 10.3 um; 366 x 366 greyscale JPEGs) of Atlantic
and East Pacific storms from 2000 to 2019: 70,257 training and 44,377 test images of 494 storms.
Each image comes with an anonymised three-letter storm id, its time in seconds since the storm's
first image, an ocean code (1 or 2) and the storm's maximum sustained wind in knots. Clouds are
bright in these images (cold cloud tops brightest), the convention of the lab's own IR product, so
the loader inverts nothing.

The data set (about 2.4 GB of compressed JPEGs) is not bundled: download it from the Radiant MLHub
release (https://mlhub.earth/data/nasa_tropical_storm_competition, now mirrored on Source
Cooperative) or from the DrivenData competition
(https://www.drivendata.org/competitions/72/predict-wind-speeds/), unpack it, and pass the folder
to :func:`load_nasa_images`. Both layouts are read:

* MLHub: ``nasa_tropical_storm_competition_{split}_source/..._source_{image_id}/`` holds
  ``image.jpg`` and ``features.json`` (storm_id, relative_time, ocean, as strings), and
  ``nasa_tropical_storm_competition_{split}_labels/..._labels_{image_id}/labels.json`` holds
  ``wind_speed``. Image ids look like ``abs_000``.
* DrivenData: ``training_set_features.csv`` (image_id, storm_id, relative_time, ocean) and
  ``training_set_labels.csv`` (image_id, wind_speed), ``test_set_*.csv`` for the test split, and the
  images ``{image_id}.jpg`` in ``train/`` (``test/``) or next to the CSV files.

Licence CC BY 4.0. Cite: M. Maskey et al., "Deepti: Deep-Learning-Based Tropical Cyclone Intensity
Estimation System", IEEE JSTARS 13 (2020), doi:10.1109/JSTARS.2020.3011907.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from common.cyclone.images import CycloneImages

MLHUB_PREFIX = "nasa_tropical_storm_competition"
SOURCE = "NASA TC wind estimation (GOES IR)"
STORM_PREFIX = "NASA-"  # keeps the anonymised ids apart from HURDAT2 ids such as "AL092004"
SPLITS = ("train", "test")
_CSV_STEM = {"train": "training", "test": "test"}
DOWNLOAD_HINT = (
    "The NASA tropical cyclone data set is not bundled with the bootcamp (several GB). Download it "
    "from https://mlhub.earth/data/nasa_tropical_storm_competition (mirrored at "
    "https://source.coop/repositories/nasa/tropical-storm-competition) or from the DrivenData "
    "competition https://www.drivendata.org/competitions/72/predict-wind-speeds/, unpack it and "
    "pass its folder as root."
)


def load_nasa_images(
    root: str | Path, split: str = "train", image_size: int = 64, max_images: int | None = None
) -> CycloneImages:
    """Load one split of the NASA competition (MLHub or DrivenData layout), by storm then time."""
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if max_images is not None and max_images < 0:
        raise ValueError(f"max_images must be None or >= 0, got {max_images}")
    source_dir = root / f"{MLHUB_PREFIX}_{split}_source"
    features_csv = root / f"{_CSV_STEM[split]}_set_features.csv"
    if source_dir.is_dir():
        table = _read_mlhub(root, split)
    elif features_csv.is_file():
        table = _read_drivendata(root, split)
    else:
        raise FileNotFoundError(
            f"No NASA cyclone images for split {split!r} in {root}: looked for the folder "
            f"{source_dir.name}/ (MLHub layout) and the file {features_csv.name} (DrivenData "
            f"layout). {DOWNLOAD_HINT}"
        )
    table = table.sort_values(["storm_id", "relative_time", "image_id"], kind="mergesort")
    if max_images is not None:
        table = table.head(max_images)
    images = np.empty((len(table), image_size, image_size), dtype=np.uint8)
    for i, (image_id, path) in enumerate(zip(table["image_id"], table["path"], strict=True)):
        images[i] = _read_image(path, image_size, image_id)
    return CycloneImages(
        images=images,
        wind_kt=table["wind_speed"].to_numpy(dtype=np.float32),
        storm_id=np.array([STORM_PREFIX + s for s in table["storm_id"]], dtype=str),
        hours=table["relative_time"].to_numpy(dtype=np.float64) / 3600.0,
        season=np.full(len(table), -1, dtype=int),
        source=SOURCE,
        extras={"ocean": table["ocean"].to_numpy(dtype=int)},
    )


def write_nasa_sample(
    root: str | Path,
    images: np.ndarray,
    wind_kt: Sequence[float],
    storm_ids: Sequence[str],
    relative_time_s: Sequence[int],
    layout: str = "mlhub",
    split: str = "train",
    ocean: int | Sequence[int] = 1,
) -> Path:
    """Write greyscale uint8 images as a tiny NASA data set in the MLHub or DrivenData layout."""
    if layout not in ("mlhub", "drivendata") or split not in SPLITS:
        raise ValueError(f"layout must be 'mlhub' or 'drivendata' and split one of {SPLITS}")
    root = Path(root)
    rows = pd.DataFrame({
        "storm_id": [str(s) for s in storm_ids],
        "relative_time": np.asarray(relative_time_s, dtype=np.int64),
        "ocean": np.broadcast_to(np.asarray(ocean, dtype=int), len(images)),
        "wind_speed": np.rint(np.asarray(wind_kt, dtype=float)).astype(int),
    })
    # Image ids number each storm's images in time order: abs_000, abs_001, ...
    rank = rows.sort_values("relative_time", kind="mergesort").groupby("storm_id").cumcount()
    rows["image_id"] = rows["storm_id"] + "_" + rank.sort_index().map("{:03d}".format)
    for image, row in zip(images, rows.itertuples(), strict=True):
        if layout == "mlhub":
            label_folder = _mlhub_folder(root, split, "labels", row.image_id)
            label_folder.mkdir(parents=True, exist_ok=True)
            label = {"wind_speed": str(row.wind_speed)}
            (label_folder / "labels.json").write_text(json.dumps(label))
            folder = _mlhub_folder(root, split, "source", row.image_id)
            folder.mkdir(parents=True, exist_ok=True)
            features = {"storm_id": row.storm_id, "relative_time": str(row.relative_time),
                        "ocean": str(row.ocean)}
            (folder / "features.json").write_text(json.dumps(features))
            path = folder / "image.jpg"
        else:
            (root / split).mkdir(parents=True, exist_ok=True)
            path = root / split / f"{row.image_id}.jpg"
        if not cv2.imwrite(str(path), np.asarray(image, dtype=np.uint8)):
            raise OSError(f"could not write {path}")
    if layout == "drivendata":
        stem = _CSV_STEM[split]
        rows[["image_id", "storm_id", "relative_time", "ocean"]].to_csv(
            root / f"{stem}_set_features.csv", index=False
        )
        rows[["image_id", "wind_speed"]].to_csv(root / f"{stem}_set_labels.csv", index=False)
    return root


def _read_mlhub(root: Path, split: str) -> pd.DataFrame:
    """Read the MLHub layout's features.json and labels.json files into one table."""
    source_dir = root / f"{MLHUB_PREFIX}_{split}_source"
    labels_dir = root / f"{MLHUB_PREFIX}_{split}_labels"
    if not labels_dir.is_dir():
        raise FileNotFoundError(f"{source_dir} has no labels folder next to it: {labels_dir}")
    features = []
    for folder in _item_folders(source_dir, f"{MLHUB_PREFIX}_{split}_source_"):
        record = _read_json(folder / "features.json")
        record["image_id"] = folder.name.removeprefix(f"{MLHUB_PREFIX}_{split}_source_")
        record["path"] = folder / "image.jpg"
        features.append(record)
    labels = []
    for folder in _item_folders(labels_dir, f"{MLHUB_PREFIX}_{split}_labels_"):
        record = _read_json(folder / "labels.json")
        record["image_id"] = folder.name.removeprefix(f"{MLHUB_PREFIX}_{split}_labels_")
        labels.append(record)
    columns = ["image_id", "storm_id", "relative_time", "ocean", "path"]
    return _join(
        pd.DataFrame(features, columns=columns),
        pd.DataFrame(labels, columns=["image_id", "wind_speed"]),
        f"{source_dir.name}/ and {labels_dir.name}/",
    )


def _read_drivendata(root: Path, split: str) -> pd.DataFrame:
    """Read the DrivenData layout's feature and label CSV files into one table."""
    stem = _CSV_STEM[split]
    features_csv = root / f"{stem}_set_features.csv"
    labels_csv = root / f"{stem}_set_labels.csv"
    if not labels_csv.is_file():
        raise FileNotFoundError(f"{features_csv} has no labels file next to it: {labels_csv}")
    features = _read_csv(features_csv, ("image_id", "storm_id", "relative_time", "ocean"))
    labels = _read_csv(labels_csv, ("image_id", "wind_speed"))
    image_dir = root / split if (root / split).is_dir() else root
    features["path"] = [image_dir / f"{image_id}.jpg" for image_id in features["image_id"]]
    return _join(features, labels, f"{features_csv.name} and {labels_csv.name}")


def _mlhub_folder(root: Path, split: str, kind: str, image_id: str) -> Path:
    """The MLHub folder of one image's ``source`` (image, features) or ``labels``."""
    return root / f"{MLHUB_PREFIX}_{split}_{kind}" / f"{MLHUB_PREFIX}_{split}_{kind}_{image_id}"


def _item_folders(parent: Path, prefix: str) -> list[Path]:
    """The per-image folders (named ``prefix + image_id``) inside an MLHub folder."""
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix))


def _read_json(path: Path) -> dict:
    """Read one small JSON file, saying which one when it is missing or malformed."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as text (so a storm called "nan" stays a string) and check its columns."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [c.strip().lower().replace(" ", "_") for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; it has {list(table.columns)}")
    return table[list(columns)]


def _join(features: pd.DataFrame, labels: pd.DataFrame, where: str) -> pd.DataFrame:
    """Join features and labels on image_id, requiring one label per image and numeric values."""
    for name, part in (("features", features), ("labels", labels)):
        repeated = part["image_id"][part["image_id"].duplicated()]
        if len(repeated):
            raise ValueError(f"image {repeated.iloc[0]} appears twice in the {name} of {where}")
    unlabelled = sorted(set(features["image_id"]) - set(labels["image_id"]))
    if unlabelled:
        raise ValueError(f"no label for image(s) {_some(unlabelled)} in {where}")
    orphans = sorted(set(labels["image_id"]) - set(features["image_id"]))
    if orphans:
        raise ValueError(f"no image for label(s) {_some(orphans)} in {where}")
    table = features.merge(labels, on="image_id", how="inner", validate="one_to_one")
    table["storm_id"] = table["storm_id"].astype(str)
    for column in ("relative_time", "ocean", "wind_speed"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            bad = table.loc[values.isna(), ["image_id", column]].iloc[0]
            raise ValueError(
                f"image {bad['image_id']} has a non-numeric {column} {bad[column]!r} in {where}"
            )
        table[column] = values
    return table


def _some(ids: list[str], shown: int = 5) -> str:
    """A short list of ids for an error message."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def _read_image(path: Path, image_size: int, image_id: str) -> np.ndarray:
    """Read one greyscale JPEG and resize it (area averaging) to ``image_size`` squared."""
    if not path.is_file():
        raise ValueError(f"image {image_id} has a label but no image file: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"cannot decode the image {path} (not a readable JPEG)")
    if image.shape != (image_size, image_size):
        image = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return image
