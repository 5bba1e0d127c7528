"""Train/validation/test splits of cyclone frames: by storm (honest), by frame (leaky), by season.

Consecutive satellite frames of one storm are near-duplicates. A split that puts frames of one storm
on both sides lets a model recognise the storm instead of reading its intensity, so the lab splits
by storm, stratified by each storm's peak class so that every split holds storms of every strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from common.cyclone.images import CycloneImages
from common.cyclone.intensity import wind_to_class


@dataclass
class Split:
    """Indices of the training, validation and test frames."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """The number of frames in each part."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def storm_peak_classes(images: CycloneImages) -> dict[str, int]:
    """Return each storm's peak class (the class of its highest wind among the frames)."""
    peaks: dict[str, float] = {}
    for storm, wind in zip(images.storm_id, images.wind_kt, strict=True):
        peaks[storm] = max(peaks.get(storm, -1.0), float(wind))
    return {storm: int(wind_to_class(wind)) for storm, wind in peaks.items()}


def _stratify_labels(classes: np.ndarray, min_count: int) -> np.ndarray:
    """Merge classes with fewer than ``min_count`` storms into a neighbouring class.

    Strong classes merge downwards (H5 into H4, ...); a small weakest class merges upwards.
    """
    merged = classes.copy()
    for label in sorted(set(merged.tolist()), reverse=True):
        if (merged == label).sum() < min_count and label > merged.min():
            merged[merged == label] = max(c for c in set(merged.tolist()) if c < label)
    weakest = merged.min()
    if (merged == weakest).sum() < min_count and len(set(merged.tolist())) > 1:
        merged[merged == weakest] = min(c for c in set(merged.tolist()) if c > weakest)
    return merged


def storm_split(
    images: CycloneImages, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> Split:
    """Split by storm, stratified by peak class: no storm has frames in two parts."""
    peaks = storm_peak_classes(images)
    storms = np.array(sorted(peaks))
    strata = _stratify_labels(np.array([peaks[s] for s in storms]), min_count=6)
    rest, test_storms, rest_strata, _ = train_test_split(
        storms, strata, test_size=test_fraction, random_state=seed, stratify=strata)
    rest_strata = _stratify_labels(rest_strata, min_count=6)
    train_storms, val_storms = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
        stratify=rest_strata)
    return Split(*(np.flatnonzero(np.isin(images.storm_id, part))
                   for part in (train_storms, val_storms, test_storms)))


def random_frame_split(
    images: CycloneImages, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> Split:
    """Split frames at random, ignoring storms: the leaky split of the original lab."""
    order = np.random.default_rng(seed).permutation(len(images))
    num_test = int(round(test_fraction * len(images)))
    num_val = int(round(val_fraction * len(images)))
    return Split(np.sort(order[num_test + num_val:]), np.sort(order[num_test:num_test + num_val]),
                 np.sort(order[:num_test]))


def season_split(
    images: CycloneImages, first_test_season: int, val_fraction: float = 0.15, seed: int = 0
) -> Split:
    """Test on every storm from ``first_test_season`` on; split earlier storms by storm."""
    later = images.season >= first_test_season
    earlier = np.flatnonzero(~later)
    peaks = storm_peak_classes(images.subset(earlier))
    storms = np.array(sorted(peaks))
    strata = _stratify_labels(np.array([peaks[s] for s in storms]), min_count=6)
    train_storms, val_storms = train_test_split(
        storms, test_size=val_fraction, random_state=seed, stratify=strata)
    return Split(np.flatnonzero(np.isin(images.storm_id, train_storms)),
                 np.flatnonzero(np.isin(images.storm_id, val_storms)), np.flatnonzero(later))


def shared_storms(images: CycloneImages, split: Split) -> dict[str, int]:
    """Count the storms that have frames in two parts of a split (0 for an honest split)."""
    parts = {name: set(images.storm_id[getattr(split, name)]) for name in ("train", "val", "test")}
    return {
        "train-test": len(parts["train"] & parts["test"]),
        "train-val": len(parts["train"] & parts["val"]),
        "val-test": len(parts["val"] & parts["test"]),
    }


def hours_to_nearest_training_frame(images: CycloneImages, split: Split) -> np.ndarray:
    """For each test frame: hours to the nearest training frame of the same storm (inf if none)."""
    gaps = np.full(len(split.test), np.inf)
    train_by_storm: dict[str, np.ndarray] = {}
    for index in split.train:
        train_by_storm.setdefault(images.storm_id[index], []).append(images.hours[index])
    train_hours = {storm: np.sort(np.array(h)) for storm, h in train_by_storm.items()}
    for row, index in enumerate(split.test):
        hours = train_hours.get(images.storm_id[index])
        if hours is not None:
            gaps[row] = np.min(np.abs(hours - images.hours[index]))
    return gaps
