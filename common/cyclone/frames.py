"""Satellite-like frames along real best tracks: times, interpolated winds, rendered images, cached.

HURDAT2 gives a storm's position and wind every six hours; geostationary satellites image it every
10-30 minutes. :func:`track_frames` puts frames on a finer cadence along every track (interpolating
position and wind linearly between fixes), so that consecutive frames are near-duplicates as real
ones are. :func:`render_frames` draws an infrared image for each frame with the generator of
:mod:`common.cyclone.render`: a storm's personality and the error of its apparent T-number evolve
smoothly in time, and everything is deterministic from (storm, time, seed). :func:`load_frames`
caches the result under ``data/cyclone/`` with the generator's version in the file name.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common import paths
from common.cyclone import best_track, render
from common.cyclone.images import CycloneImages
from common.cyclone.intensity import wind_to_tnumber

GENERATOR_VERSION = 3
# Statuses whose cloud pattern the Dvorak technique (and the generator) describes: tropical
# depressions, storms, hurricanes and typhoons (TY), and the tropical disturbances, waves and lows
# before and after them. Extratropical (EX, ET), subtropical (SD, SS) and post-tropical (PT)
# systems are left out: their clouds are frontal or comma-shaped, not what the technique reads.
TROPICAL_STATUSES = ("TD", "TS", "HU", "TY", "LO", "WV", "DB")
# The apparent T-number's error: a slowly varying part shared by neighbouring frames of a storm,
# plus a little frame-to-frame jitter (standard deviations in T-numbers).
STORM_ERROR_T = 0.45
FRAME_ERROR_T = 0.10


@dataclass(frozen=True)
class FrameRecipe:
    """Which frames to render: basins, seasons, cadence, image size and seed."""

    basins: tuple[str, ...] = ("atlantic", "pacific")
    first_season: int = 2000
    last_season: int = 2018
    cadence_hours: float = 1.0
    image_size: int = 64
    seed: int = 0
    max_storms: int | None = None  # keep every n-th storm so that about this many remain

    def cache_name(self) -> str:
        """A file name that changes with every field and with the generator's version."""
        digest = zlib.crc32(json.dumps(asdict(self), sort_keys=True).encode())
        return f"frames_v{GENERATOR_VERSION}_{self.image_size}px_{digest:08x}.npz"


# The lesson's frames: every storm of 2000-2018 (Atlantic) and 2000-2013 (Pacific), one frame an
# hour; smoke mode (CI) keeps every sixth storm.
LESSON_FULL = FrameRecipe()
LESSON_SMOKE = FrameRecipe(max_storms=100)


def track_frames(
    tracks: pd.DataFrame,
    cadence_hours: float = 1.0,
    statuses: tuple[str, ...] = TROPICAL_STATUSES,
    max_gap_hours: float = 6.0,
) -> pd.DataFrame:
    """Return one row per frame: storm_id, basin, season, time, hours, lat, lon, wind_kt.

    Only fixes with a known wind and one of ``statuses`` are used; frames are interpolated between
    consecutive fixes at most ``max_gap_hours`` apart (a longer gap splits the track).
    """
    kept = tracks[tracks["status"].isin(statuses) & tracks["wind_kt"].notna()]
    parts = []
    for storm_id, fixes in kept.groupby("storm_id", sort=False):
        fixes = fixes.sort_values("time")
        first = fixes["time"].iloc[0]
        fix_hours = (fixes["time"] - first).dt.total_seconds().to_numpy() / 3600.0
        gaps = np.diff(fix_hours) > max_gap_hours
        segment = np.concatenate(([0], np.cumsum(gaps)))
        for seg in np.unique(segment):
            inside = segment == seg
            seg_hours = fix_hours[inside]
            if len(seg_hours) < 2:
                continue
            hours = np.arange(seg_hours[0], seg_hours[-1] + 1e-9, cadence_hours)
            frame = pd.DataFrame({
                "storm_id": storm_id,
                "hours": hours,
                "lat": np.interp(hours, seg_hours, fixes["lat"].to_numpy()[inside]),
                "lon": np.interp(hours, seg_hours, fixes["lon"].to_numpy()[inside]),
                "wind_kt": np.interp(hours, seg_hours, fixes["wind_kt"].to_numpy()[inside]),
            })
            frame["time"] = first + pd.to_timedelta(hours, unit="h")
            if "basin" in fixes:
                frame["basin"] = fixes["basin"].iloc[0]
            parts.append(frame)
    columns = ["storm_id", "basin", "season", "time", "hours", "lat", "lon", "wind_kt"]
    if not parts:
        return pd.DataFrame(columns=columns)
    frames = pd.concat(parts, ignore_index=True)
    if "basin" not in frames:
        frames["basin"] = ""
    frames["season"] = frames.groupby("storm_id")["time"].transform("min").dt.year
    return frames[columns]


def _storm_rng(storm_id: str, seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(storm_id.encode()), stream])


def _smooth_unit(rng: np.random.Generator, hours: np.ndarray, periods: tuple[float, float]) -> (
    np.ndarray
):
    """A random smooth signal of unit variance: two sinusoids with periods drawn in ``periods``."""
    total = np.zeros_like(hours)
    for _ in range(2):
        period = rng.uniform(*periods)
        total += np.sin(2 * np.pi * hours / period + rng.uniform(0, 2 * np.pi))
    return total  # each sinusoid has variance 1/2


def storm_looks(frames: pd.DataFrame, seed: int = 0) -> render.RenderParams:
    """Return each frame's render parameters: storm personality and apparent T-number."""
    count = len(frames)
    out = {name: np.empty(count) for name in (
        "t_number", "size", "shear_dir", "shear", "num_bands", "band_phase")}
    true_t = wind_to_tnumber(frames["wind_kt"].to_numpy())
    minutes = np.rint(frames["hours"].to_numpy() * 60).astype(np.int64)
    keys = np.empty(count, dtype=np.uint64)
    storm_keys = np.empty(count, dtype=np.uint64)
    for storm_id, index in frames.groupby("storm_id", sort=False).indices.items():
        hours = frames["hours"].to_numpy()[index]
        rng = _storm_rng(storm_id, seed, 0)
        size0 = np.clip(rng.lognormal(0.0, 0.2), 0.65, 1.5)
        out["size"][index] = size0 * np.exp(0.08 * _smooth_unit(rng, hours, (48, 120)))
        out["shear_dir"][index] = rng.uniform(0, 2 * np.pi) + 0.4 * _smooth_unit(
            rng, hours, (36, 96))
        out["shear"][index] = np.clip(
            rng.uniform(0.1, 0.9) + 0.15 * _smooth_unit(rng, hours, (24, 72)), 0.0, 1.0)
        out["num_bands"][index] = rng.integers(2, 5)
        out["band_phase"][index] = rng.uniform(0, 2 * np.pi) + 0.06 * hours
        storm_error = STORM_ERROR_T * _smooth_unit(rng, hours, (18, 72))
        keys[index] = frame_keys(storm_id, minutes[index], seed)
        storm_keys[index] = storm_key(storm_id, seed)
        jitter = FRAME_ERROR_T * render.hash_normal(keys[index], 7)
        out["t_number"][index] = true_t[index] + storm_error + jitter
    return render.RenderParams(lat=frames["lat"].to_numpy(), key=keys, storm_key=storm_keys,
                               hours=frames["hours"].to_numpy(), **out)


def storm_key(storm_id: str, seed: int) -> np.uint64:
    """The random key of a storm: its details (texture, cells) are drawn from it."""
    return render.splitmix64(np.uint64(zlib.crc32(storm_id.encode()) ^ ((seed & 0xFFFFFFFF) << 32)))


def frame_keys(storm_id: str, minutes: np.ndarray, seed: int) -> np.ndarray:
    """One random key per frame, from (storm, minutes since its first fix, seed) alone."""
    return render.splitmix64(storm_key(storm_id, seed) ^ np.asarray(minutes, dtype=np.uint64))


def render_frames(
    frames: pd.DataFrame, image_size: int = 64, seed: int = 0, progress: bool = True
) -> CycloneImages:
    """Render every frame; the extras hold the apparent and true T-numbers, lat and lon."""
    from tqdm.auto import tqdm

    looks = storm_looks(frames, seed)
    images = np.empty((len(frames), image_size, image_size), dtype=np.uint8)
    batch = 512
    for start in tqdm(range(0, len(frames), batch), desc="rendering frames", unit="batch",
                      disable=not progress, leave=False):
        images[start : start + batch] = render.render(
            looks.take(slice(start, start + batch)), image_size)
    return CycloneImages(
        images=images,
        wind_kt=frames["wind_kt"].to_numpy(np.float32),
        storm_id=frames["storm_id"].to_numpy(str),
        hours=frames["hours"].to_numpy(np.float64),
        season=frames["season"].to_numpy(np.int64),
        source=f"rendered from HURDAT2 (generator v{GENERATOR_VERSION})",
        extras={
            "apparent_t": looks.t_number.astype(np.float32),
            "true_t": wind_to_tnumber(frames["wind_kt"].to_numpy()).astype(np.float32),
            "basin": frames["basin"].to_numpy(str),
            "lat": frames["lat"].to_numpy(np.float32),
            "lon": frames["lon"].to_numpy(np.float32),
        },
    )


def select_storms(frames: pd.DataFrame, recipe: FrameRecipe) -> pd.DataFrame:
    """Keep the recipe's basins and seasons, and every n-th storm when ``max_storms`` is set."""
    keep = frames["season"].between(recipe.first_season, recipe.last_season)
    keep &= frames["basin"].isin(recipe.basins) | (frames["basin"] == "")
    frames = frames[keep]
    if recipe.max_storms is not None:
        storms = frames["storm_id"].unique()
        step = max(1, int(np.ceil(len(storms) / recipe.max_storms)))
        frames = frames[frames["storm_id"].isin(storms[::step])]
    return frames.reset_index(drop=True)


def cache_path(recipe: FrameRecipe) -> Path:
    """Where the rendered frames of ``recipe`` are cached."""
    return paths.data_dir() / "cyclone" / recipe.cache_name()


def save(images: CycloneImages, path: Path) -> None:
    """Write images and labels to a compressed ``.npz`` (atomically: temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(
        temp, images=images.images, wind_kt=images.wind_kt, storm_id=images.storm_id,
        hours=images.hours, season=images.season, source=np.array(images.source),
        **{f"extra_{name}": values for name, values in images.extras.items()})
    temp.replace(path)


def load(path: Path) -> CycloneImages:
    """Read what :func:`save` wrote."""
    with np.load(path) as stored:
        return CycloneImages(
            images=stored["images"], wind_kt=stored["wind_kt"], storm_id=stored["storm_id"],
            hours=stored["hours"], season=stored["season"], source=str(stored["source"]),
            extras={key[6:]: stored[key] for key in stored.files if key.startswith("extra_")})


def load_frames(recipe: FrameRecipe | None = None, progress: bool = True) -> CycloneImages:
    """Return the rendered frames of ``recipe``, from the cache or rendered (then cached)."""
    from filelock import FileLock

    recipe = recipe or FrameRecipe()
    path = cache_path(recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            return load(path)
        tracks = best_track.load_best_tracks(recipe.basins)
        frames = select_storms(track_frames(tracks, recipe.cadence_hours), recipe)
        images = render_frames(frames, recipe.image_size, recipe.seed, progress)
        save(images, path)
        if progress:
            print(f"Rendered {len(images):,} frames of {len(images.storms()):,} storms; "
                  f"cached in {path}")
        return images
