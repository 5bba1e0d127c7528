"""A physically motivated generator of infrared satellite images of tropical cyclones.

Real labelled imagery (NASA's wind-estimation set, HURSAT) is tens of gigabytes, so the lab renders
an infrared brightness-temperature image for every frame of a real best track. The picture follows
what the Dvorak technique reads (Dvorak 1984; Velden et al. 2006), driven by an *apparent* T-number:

- **pattern by T-number**: a curved band whose wrap around the centre grows from a tenth of a
  circle (T1) to a full turn (T4); a central dense overcast (CDO) from T3; an eye from T4, ragged
  and cloud-filled at first, then clear, smaller and warmer as T grows, inside a colder, wider ring;
- **cloud shield**: radius and cloud-top coldness grow with T (about -23 C at T1 to -77 C at T7);
- **spiral bands**: logarithmic spirals with a fixed pitch, turning cyclonically (anticlockwise in
  the northern hemisphere, clockwise in the southern): a mirror image turns the wrong way;
- **vertical shear**: weak systems have their clouds pushed downshear, the centre near the edge;
- **background**: a warm sea (about 297 K) with scattered convective cells; per-pixel sensor noise.

Each storm has a personality (size, shear direction and strength, band count) that the caller
evolves smoothly along the track (see :mod:`common.cyclone.frames`). The cloud texture, the
convective cells and the eye's shape come from the storm's key and drift slowly with time, so frames
an hour apart are near-duplicates, as real ones are; only the sensor noise is new in every frame.
All randomness is hashed from the keys, so a frame renders the same alone or in any batch.
Everything is vectorised over a batch with NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from common.cyclone.images import to_uint8

FIELD_KM = 640.0  # side of the square image in km (10 km per pixel at 64 px)
SPIRAL_PITCH_DEG = 20.0  # angle between a band and a circle around the centre
NUM_TEXTURE_MODES = 6  # random Fourier modes in the cloud texture
NUM_CELLS = 6  # scattered convective cells over the sea, per image
SEA_K = 297.0  # brightness temperature of the cloud-free sea
NOISE_K = 1.0  # per-pixel sensor noise (standard deviation)


@dataclass
class RenderParams:
    """What one batch of images shows; every field is an array with one value per image."""

    t_number: np.ndarray  # apparent Dvorak T-number (what the picture shows), 0.5-8.5
    lat: np.ndarray  # latitude (degrees), its sign sets the rotation sense
    size: np.ndarray  # storm size factor, about 0.7-1.4
    shear_dir: np.ndarray  # direction the shear pushes the clouds to (radians, 0 = east)
    shear: np.ndarray  # shear strength, 0-1
    num_bands: np.ndarray  # number of spiral bands, 1-4
    band_phase: np.ndarray  # rotation of the band pattern (radians)
    key: np.ndarray  # uint64 per-frame random key (sensor noise)
    storm_key: np.ndarray | None = None  # uint64 per-storm key (texture, cells); default: key
    hours: np.ndarray | None = None  # hours since the storm's first frame; default: 0

    def __post_init__(self) -> None:
        if self.storm_key is None:
            self.storm_key = np.asarray(self.key)
        if self.hours is None:
            self.hours = np.zeros(np.shape(np.atleast_1d(self.key)))
        arrays = {f.name: np.atleast_1d(np.asarray(getattr(self, f.name))) for f in fields(self)}
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"RenderParams fields differ in length: {sorted(sizes)}")
        for name, values in arrays.items():
            setattr(self, name, values)

    def __len__(self) -> int:
        return len(self.t_number)

    def take(self, index: np.ndarray | slice) -> RenderParams:
        """Return the parameters of the images selected by ``index``."""
        return RenderParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None, None]


def splitmix64(values: np.ndarray) -> np.ndarray:
    """Scramble uint64 values (the SplitMix64 finaliser): nearby inputs give unrelated outputs."""
    z = np.asarray(values, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_uniform(key: np.ndarray, *salts: int | np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) for each key, a pure function of the key and the salts."""
    mixed = splitmix64(key)
    for salt in salts:
        mixed = splitmix64(mixed ^ np.asarray(salt).astype(np.uint64))
    return ((mixed >> np.uint64(11)).astype(np.float64) / 2.0**53).astype(np.float32)


def hash_normal(key: np.ndarray, *salts: int | np.ndarray) -> np.ndarray:
    """A standard normal number for each key (Box-Muller on two hashed uniforms)."""
    u1 = hash_uniform(key, *salts, 1).astype(np.float64) + 2.0**-54
    u2 = hash_uniform(key, *salts, 2).astype(np.float64)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def _slow_randoms(storm_key: np.ndarray, hours: np.ndarray) -> dict[str, np.ndarray]:
    """Cloud texture, convective cells and eye details that evolve slowly along a storm's life.

    Frames of one storm an hour apart get almost the same details, as real satellite frames do;
    frames a day apart get different ones.
    """
    sk, h = storm_key[:, None], hours.astype(np.float32)[:, None]
    k = np.arange(NUM_TEXTURE_MODES)
    drift = 0.03 + 0.1 * hash_uniform(sk, 40 + k)  # radians per hour
    modes = np.stack([hash_uniform(sk, 10 + k), hash_uniform(sk, 20 + k),
                      hash_uniform(sk, 30 + k) + drift * h / (2 * np.pi)], axis=-1)
    c = np.arange(NUM_CELLS)
    life = 10.0 + 20.0 * hash_uniform(sk, 50 + c)  # hours a cell lives
    age = h / life + hash_uniform(sk, 60 + c)
    cycle, fraction = np.floor(age), age - np.floor(age)
    generation = cycle.astype(np.int64) + 1000 * c  # a new cell each cycle
    speed = (np.stack([hash_uniform(sk, 110 + c), hash_uniform(sk, 120 + c)], -1) - 0.5) * 0.05
    cells = np.stack([hash_uniform(sk, 70, generation) + speed[..., 0] * fraction * life / 20,
                      hash_uniform(sk, 80, generation) + speed[..., 1] * fraction * life / 20,
                      hash_uniform(sk, 90, generation),
                      hash_uniform(sk, 100, generation) * np.sin(np.pi * fraction) ** 2], -1)
    eye = np.stack([hash_uniform(storm_key, 130), hash_uniform(storm_key, 131) + 0.008 * hours,
                    hash_uniform(storm_key, 132)], -1)
    return {"modes": modes.astype(np.float32), "cells": cells.astype(np.float32),
            "eye": eye.astype(np.float32)}


def render_kelvin(params: RenderParams, image_size: int = 64) -> np.ndarray:
    """Render brightness temperatures (K) of shape ``(N, image_size, image_size)``, float32."""
    count, px = len(params), image_size
    km = (np.arange(px, dtype=np.float32) + 0.5) * (FIELD_KM / px) - FIELD_KM / 2
    x = km[None, None, :]  # east
    y = -km[None, :, None]  # north: row 0 is the northern edge
    rand = _slow_randoms(params.storm_key, params.hours)
    pixel = np.arange(px * px, dtype=np.uint64)[None, :]
    noise = hash_normal(params.key[:, None], pixel).reshape(count, px, px)

    t = _column(np.clip(params.t_number, 0.5, 8.5))
    size = _column(params.size)
    sense = _column(np.where(np.asarray(params.lat) < 0, -1.0, 1.0))
    pixel_km = FIELD_KM / px

    # Shear pushes the clouds of weak systems downshear; organised storms stand upright.
    weakness = np.clip((3.5 - t) / 2.0, 0.0, 1.0)
    shift = _column(params.shear) * weakness * 90.0 * size
    shear_dir = _column(params.shear_dir)
    xs, ys = x - shift * np.cos(shear_dir), y - shift * np.sin(shear_dir)
    radius_s = np.sqrt(xs**2 + ys**2) + 1e-3
    radius = np.sqrt(x**2 + y**2) + 1e-3
    theta = np.arctan2(y, x)

    # Cloud shield and central dense overcast grow with intensity.
    shield_km = size * (110.0 + 28.0 * (t - 1.0))
    core_km = size * np.clip(35.0 + 25.0 * (t - 1.5), 25.0, None)
    core = _sigmoid((core_km - radius_s) / (0.12 * core_km + pixel_km))

    # Log-spiral bands between an outer radius and an inner one that closes in as T grows:
    # a band spanning radii r_in..r_out turns ln(r_out / r_in) / (2 pi tan(pitch)) times round.
    tan_pitch = np.float32(np.tan(np.radians(SPIRAL_PITCH_DEG)))
    wrap = np.interp(params.t_number, (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
                     (0.1, 0.2, 0.3, 0.45, 0.6, 0.85, 1.1)).astype(np.float32)
    outer_km = 1.3 * shield_km
    inner_km = outer_km * np.exp(-2 * np.pi * tan_pitch * _column(wrap))
    spiral = sense * theta + np.log(radius_s / 50.0) / tan_pitch
    num_bands = _column(params.num_bands)
    arm = 0.5 + 0.5 * np.cos(num_bands * (spiral - _column(params.band_phase)))
    band_width = (2 * pixel_km + 0.18 * radius_s) / radius_s  # angular half-width of a band
    arms = arm ** (2.0 / (band_width * num_bands + 0.05))
    span = _sigmoid((radius_s - inner_km) / (0.1 * inner_km + pixel_km)) * _sigmoid(
        (outer_km - radius_s) / (0.1 * outer_km)
    )
    bands = arms * span

    # Shear also thins the upshear side.
    upshear = 1.0 + 1.2 * _column(params.shear) * weakness * np.cos(theta - shear_dir)
    cover = np.clip(np.maximum(core, bands) * np.clip(upshear, 0.0, 1.0), 0.0, 1.0)

    # Cloud texture: a few random Fourier modes (wavelengths 60-250 km).
    modes = rand["modes"]  # (N, K, 3): direction, wavelength, phase in [0, 1)
    texture = np.zeros((count, px, px), dtype=np.float32)
    for k in range(NUM_TEXTURE_MODES):
        angle = 2 * np.pi * _column(modes[:, k, 0])
        wavenumber = 2 * np.pi / (60.0 + 190.0 * _column(modes[:, k, 1]))
        phase = 2 * np.pi * _column(modes[:, k, 2])
        texture += np.cos(wavenumber * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    texture *= np.float32(1.0 / np.sqrt(NUM_TEXTURE_MODES / 2))  # unit variance
    disorder = 0.1 + 0.35 * np.clip((3.0 - t) / 2.0, 0.0, 1.0)
    cover = np.clip(cover * (1.0 + disorder * texture), 0.0, 1.0)

    # Cloud tops: colder with intensity, warmest at the edge of the shield.
    top_k = np.clip(250.0 - 9.0 * (t - 1.0), 188.0, 250.0)
    cloud_k = top_k + 28.0 * np.clip(radius_s / shield_km, 0.0, 1.5) ** 2 + 3.0 * texture

    # The eye and its ring: an eye appears at T4, clears and warms up to T6; it shrinks as T grows.
    eye = rand["eye"]
    clear = _column(np.clip((np.asarray(params.t_number) - 4.0) / 1.5, 0.0, 1.0))
    eye_km = np.clip(32.0 - 6.0 * (t - 4.5), 9.0, 36.0) * (0.85 + 0.3 * _column(eye[:, 0]))
    rough = 1.0 + (1.0 - clear) * 0.35 * np.cos(3 * theta + 2 * np.pi * _column(eye[:, 1]))
    eye_edge = eye_km * rough
    eye_mask = _sigmoid((eye_edge - radius) / (0.15 * eye_km + 0.5 * pixel_km))
    present = _column(np.clip((np.asarray(params.t_number) - 3.8) / 0.7, 0.0, 1.0))
    ring_km = np.clip(12.0 + 14.0 * (t - 4.0), 0.0, None)
    ring = _sigmoid((radius - eye_edge) / (0.5 * pixel_km)) * _sigmoid(
        (eye_edge + ring_km - radius) / (0.2 * ring_km + pixel_km)
    )
    cloud_k = cloud_k - present * (5.0 + 4.0 * np.clip(t - 4.0, 0.0, None)) * ring
    eye_k = top_k + clear * np.clip(35.0 + 20.0 * (t - 4.5), 20.0, 95.0)

    # The sea with scattered convective cells (kept out of the storm's own cloud).
    cells = rand["cells"]  # (N, C, 4): x, y, radius, depth in [0, 1)
    sea_k = SEA_K + 2.0 * _column(eye[:, 2] - 0.5) + np.zeros_like(cover)
    for c in range(NUM_CELLS):
        cx = (_column(cells[:, c, 0]) - 0.5) * FIELD_KM
        cy = (_column(cells[:, c, 1]) - 0.5) * FIELD_KM
        cell_km = 6.0 + 16.0 * _column(cells[:, c, 2])
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * cell_km**2))
        sea_k -= (30.0 + 60.0 * _column(cells[:, c, 3])) * blob

    kelvin = sea_k * (1.0 - cover) + cloud_k * cover
    kelvin = kelvin + present * eye_mask * (eye_k - kelvin)
    kelvin += NOISE_K * noise
    return kelvin.astype(np.float32)


def render(params: RenderParams, image_size: int = 64, batch_size: int = 64) -> np.ndarray:
    """Render the lab's uint8 IR product ``(N, image_size, image_size)`` (colder is brighter)."""
    out = np.empty((len(params), image_size, image_size), dtype=np.uint8)
    for start in range(0, len(params), batch_size):
        part = params.take(slice(start, start + batch_size))
        out[start : start + len(part)] = to_uint8(render_kelvin(part, image_size))
    return out
