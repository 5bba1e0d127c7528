"""One container for labelled cyclone images, whatever their source (rendered or real satellite).

The notebooks take a :class:`CycloneImages`: the images as uint8 infrared products (cold cloud tops
bright, as on a forecaster's enhanced IR display), the wind of each image in knots, the storm it
belongs to and its time. The generator (:mod:`common.cyclone.render`) and the loader of NASA's
wind-estimation imagery (:mod:`common.cyclone.nasa`) both return one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.cyclone.intensity import wind_to_class

# The uint8 <-> brightness temperature calibration of the lab's IR product: 0 is 310 K (warm sea),
# 255 is 170 K (the coldest cloud tops), linear in between.
WARM_K = 310.0
COLD_K = 170.0


def to_uint8(brightness_k: np.ndarray) -> np.ndarray:
    """Map brightness temperatures (K) to the lab's uint8 IR product (colder is brighter)."""
    scaled = (WARM_K - np.asarray(brightness_k, dtype=np.float32)) * (255.0 / (WARM_K - COLD_K))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_kelvin(pixels: np.ndarray) -> np.ndarray:
    """Map the lab's uint8 IR product back to brightness temperatures (K)."""
    return WARM_K - np.asarray(pixels, dtype=np.float32) * ((WARM_K - COLD_K) / 255.0)


@dataclass
class CycloneImages:
    """Labelled cyclone images: ``images[i]`` shows storm ``storm_id[i]`` at ``hours[i]``."""

    images: np.ndarray  # (N, S, S) uint8, cold = bright
    wind_kt: np.ndarray  # (N,) float32, best-track (or interpolated) maximum sustained wind
    storm_id: np.ndarray  # (N,) str, e.g. "AL092004"
    hours: np.ndarray  # (N,) float64, hours since the storm's first fix or image
    season: np.ndarray  # (N,) int, the year (-1 when unknown)
    source: str = "unknown"
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # per-image extra columns

    def __post_init__(self) -> None:
        count = len(self.images)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be a (N, S, S) uint8 array, got {self.images.shape} "
                f"{self.images.dtype}"
            )
        for name in ("wind_kt", "storm_id", "hours", "season", *self.extras):
            column = self.extras[name] if name in self.extras else getattr(self, name)
            if len(column) != count:
                raise ValueError(f"{name} has {len(column)} entries for {count} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """The class index of every image (0 = NC ... 7 = H5)."""
        return wind_to_class(self.wind_kt)

    @property
    def image_size(self) -> int:
        """The side of the square images in pixels."""
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray | slice) -> CycloneImages:
        """Return the images selected by ``index`` (a boolean mask, indices or a slice)."""
        return CycloneImages(
            images=self.images[index],
            wind_kt=self.wind_kt[index],
            storm_id=self.storm_id[index],
            hours=self.hours[index],
            season=self.season[index],
            source=self.source,
            extras={name: values[index] for name, values in self.extras.items()},
        )

    def storms(self) -> np.ndarray:
        """The distinct storm ids, in order of first appearance."""
        _, first = np.unique(self.storm_id, return_index=True)
        return self.storm_id[np.sort(first)]

    def to_model_input(self) -> np.ndarray:
        """Return float32 images ``(N, S, S, 1)`` scaled to [0, 1], the networks' input."""
        return (self.images.astype(np.float32) / 255.0)[..., np.newaxis]
