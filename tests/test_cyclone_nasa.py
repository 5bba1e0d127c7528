"""The NASA wind-estimation loader, checked on tiny samples written in both real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.cyclone.images import CycloneImages
from common.cyclone.nasa import SOURCE, load_nasa_images, write_nasa_sample

LAYOUTS = ("mlhub", "drivendata")
SIDE = 366  # the competition's image size
DISC_RADIUS = 120  # pixels of the 366-pixel image
DISC = 240  # brightness of the cold cloud disc
# Six images of two storms, given out of order; the loader must sort them by storm, then time.
STORMS = ["zed", "abs", "zed", "abs", "zed", "abs"]
TIMES_S = [1800, 3600, 0, 0, 5400, 7200]
# What each image holds, in the sorted order: abs 0 h, 1 h, 2 h, then zed 0 h, 0.5 h, 1.5 h.
SORTED_ORDER = [3, 1, 5, 2, 0, 4]
SORTED_WIND = [15.0, 25.0, 50.0, 70.0, 100.0, 140.0]  # NC, TD, TS, H1, H3, H5
SORTED_BACKGROUND = [10, 30, 50, 70, 90, 110]  # a distinct dark level tells the images apart


def _disc_image(background: int) -> np.ndarray:
    """A dark square (value ``background``) with a bright centred disc, like a storm's cold core."""
    y, x = np.mgrid[:SIDE, :SIDE]
    inside = (x - SIDE / 2 + 0.5) ** 2 + (y - SIDE / 2 + 0.5) ** 2 <= DISC_RADIUS**2
    return np.where(inside, DISC, background).astype(np.uint8)


def _mlhub_item(root: Path, kind: str, image_id: str) -> Path:
    """The MLHub folder of one training image's ``source`` or ``labels``, spelled out in full."""
    return root / f"nasa_tropical_storm_competition_train_{kind}" / (
        f"nasa_tropical_storm_competition_train_{kind}_{image_id}"
    )


def _write(root: Path, layout: str, split: str = "train") -> Path:
    """Write the six-image sample in ``layout``, in the shuffled input order."""
    wind = np.empty(6)
    background = np.empty(6, dtype=int)
    wind[SORTED_ORDER] = SORTED_WIND
    background[SORTED_ORDER] = SORTED_BACKGROUND
    images = np.stack([_disc_image(level) for level in background])
    ocean = [2 if storm == "zed" else 1 for storm in STORMS]
    return write_nasa_sample(root, images, wind, STORMS, TIMES_S, layout, split, ocean)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_load_returns_images_winds_storms_and_hours_sorted_by_storm_then_time(
    tmp_path: Path, layout: str
) -> None:
    data = load_nasa_images(_write(tmp_path, layout), image_size=64)
    assert isinstance(data, CycloneImages)
    assert data.images.shape == (6, 64, 64) and data.images.dtype == np.uint8
    assert data.wind_kt.dtype == np.float32
    np.testing.assert_array_equal(data.wind_kt, SORTED_WIND)
    assert list(data.storm_id) == ["NASA-abs"] * 3 + ["NASA-zed"] * 3
    np.testing.assert_allclose(data.hours, [0.0, 1.0, 2.0, 0.0, 0.5, 1.5])
    np.testing.assert_array_equal(data.season, -1)
    np.testing.assert_array_equal(data.extras["ocean"], [1, 1, 1, 2, 2, 2])
    assert data.source == SOURCE
    # Each image's corner keeps its own dark level, so the pixels travelled with their labels.
    np.testing.assert_allclose(data.images[:, 0, 0], SORTED_BACKGROUND, atol=6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bright_disc_stays_bright_and_centred_after_resize(tmp_path: Path, layout: str) -> None:
    data = load_nasa_images(_write(tmp_path, layout), image_size=64)
    centre = data.images[:, 27:37, 27:37].astype(float)
    np.testing.assert_allclose(centre.mean(axis=(1, 2)), DISC, atol=4)  # no inversion, no crop
    bright_fraction = (data.images > 160).mean(axis=(1, 2))
    np.testing.assert_allclose(bright_fraction, np.pi * DISC_RADIUS**2 / SIDE**2, atol=0.02)


def test_labels_property_gives_the_intensity_classes(tmp_path: Path) -> None:
    data = load_nasa_images(_write(tmp_path, "mlhub"))
    np.testing.assert_array_equal(data.labels, [0, 1, 2, 3, 5, 7])


def test_writer_follows_the_real_file_layouts(tmp_path: Path) -> None:
    _write(tmp_path / "mlhub", "mlhub")
    source = _mlhub_item(tmp_path / "mlhub", "source", "abs_000")
    labels = _mlhub_item(tmp_path / "mlhub", "labels", "abs_000")
    assert (source / "image.jpg").is_file()
    features = json.loads((source / "features.json").read_text())
    assert features == {"storm_id": "abs", "relative_time": "0", "ocean": "1"}  # strings, as real
    assert json.loads((labels / "labels.json").read_text()) == {"wind_speed": "15"}

    _write(tmp_path / "dd", "drivendata")
    columns = pd.read_csv(tmp_path / "dd" / "training_set_features.csv").columns
    assert list(columns) == ["image_id", "storm_id", "relative_time", "ocean"]
    labels_csv = pd.read_csv(tmp_path / "dd" / "training_set_labels.csv")
    assert list(labels_csv.columns) == ["image_id", "wind_speed"]
    assert (tmp_path / "dd" / "train" / "zed_002.jpg").is_file()


def test_test_split_is_read_from_its_own_files(tmp_path: Path) -> None:
    for layout in LAYOUTS:
        root = _write(tmp_path / layout, layout, split="test")
        assert len(load_nasa_images(root, split="test")) == 6
        with pytest.raises(FileNotFoundError):
            load_nasa_images(root, split="train")


def test_max_images_keeps_the_first_images_after_sorting(tmp_path: Path) -> None:
    data = load_nasa_images(_write(tmp_path, "drivendata"), image_size=32, max_images=4)
    assert data.images.shape == (4, 32, 32)
    assert list(data.storm_id) == ["NASA-abs"] * 3 + ["NASA-zed"]
    np.testing.assert_array_equal(data.wind_kt, SORTED_WIND[:4])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_label_raises_value_error_naming_the_image(tmp_path: Path, layout: str) -> None:
    root = _write(tmp_path, layout)
    if layout == "mlhub":
        label_dir = _mlhub_item(root, "labels", "zed_001")
        (label_dir / "labels.json").unlink()
        label_dir.rmdir()
    else:
        labels = pd.read_csv(root / "training_set_labels.csv")
        kept = labels[labels["image_id"] != "zed_001"]
        kept.to_csv(root / "training_set_labels.csv", index=False)
    with pytest.raises(ValueError, match="no label for image.*zed_001"):
        load_nasa_images(root)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_image_raises_value_error_naming_the_image(tmp_path: Path, layout: str) -> None:
    root = _write(tmp_path, layout)
    if layout == "mlhub":
        (_mlhub_item(root, "source", "abs_001") / "image.jpg").unlink()
    else:
        (root / "train" / "abs_001.jpg").unlink()
    with pytest.raises(ValueError, match="abs_001"):
        load_nasa_images(root)


def test_label_without_image_raises_value_error_naming_the_label(tmp_path: Path) -> None:
    root = _write(tmp_path, "drivendata")
    features = pd.read_csv(root / "training_set_features.csv")
    features[features["image_id"] != "abs_002"].to_csv(
        root / "training_set_features.csv", index=False
    )
    with pytest.raises(ValueError, match="no image for label.*abs_002"):
        load_nasa_images(root)


def test_unreadable_jpeg_raises_value_error_naming_the_file(tmp_path: Path) -> None:
    root = _write(tmp_path, "drivendata")
    (root / "train" / "zed_000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"zed_000\.jpg"):
        load_nasa_images(root)


def test_empty_folder_raises_file_not_found_with_the_download_hint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_nasa_images(tmp_path)
    message = str(error.value)
    assert "nasa_tropical_storm_competition_train_source" in message
    assert "training_set_features.csv" in message
    assert "not bundled" in message
    assert "mlhub.earth/data/nasa_tropical_storm_competition" in message
    assert "drivendata.org" in message


def test_drivendata_ids_stay_text_and_headers_match_loosely(tmp_path: Path) -> None:
    images = np.stack([_disc_image(20)] * 2)
    root = write_nasa_sample(tmp_path, images, [30, 35], ["nan", "nan"], [0, 1800], "drivendata")
    features = pd.read_csv(root / "training_set_features.csv", keep_default_na=False)
    features.columns = ["Image ID", "Storm ID", "Relative Time", "Ocean"]  # torchgeo's spelling
    features.to_csv(root / "training_set_features.csv", index=False)
    data = load_nasa_images(root)
    assert list(data.storm_id) == ["NASA-nan", "NASA-nan"]
    np.testing.assert_allclose(data.hours, [0.0, 0.5])
