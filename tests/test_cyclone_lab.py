"""The cyclone lab's pieces: intensity scales, the image container, the IR generator, frames along
tracks, storm-wise splits and the CNN with its scores."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.cyclone import frames, intensity, render, splits
from common.cyclone.images import COLD_K, WARM_K, CycloneImages, to_kelvin, to_uint8
from common.cyclone.intensity import (
    CLASS_NAMES,
    DVORAK_T_NUMBERS,
    DVORAK_WIND_KT,
    class_centre_kt,
    tnumber_to_wind,
    wind_to_class,
    wind_to_tnumber,
)

# ---------------------------------------------------------------------------------------------
# intensity

BOUNDARY_WINDS = [
    (0.0, "NC"), (20.0, "NC"), (20.5, "TD"), (21.0, "TD"),
    (33.0, "TD"), (33.1, "TS"), (34.0, "TS"),
    (63.0, "TS"), (64.0, "H1"), (82.0, "H1"), (83.0, "H2"), (95.0, "H2"), (96.0, "H3"),
    (112.0, "H3"), (113.0, "H4"), (136.0, "H4"), (137.0, "H5"), (250.0, "H5"),
]


@pytest.mark.parametrize(("wind", "name"), BOUNDARY_WINDS)
def test_wind_to_class_puts_each_boundary_wind_in_the_class_it_does_not_exceed(wind, name):
    assert CLASS_NAMES[int(wind_to_class(wind))] == name
    assert intensity.class_name(wind_to_class(wind)) == name


def test_wind_to_class_works_on_arrays_and_refuses_nan():
    winds = np.array([wind for wind, _ in BOUNDARY_WINDS])
    names = [CLASS_NAMES[i] for i in wind_to_class(winds)]
    assert names == [name for _, name in BOUNDARY_WINDS]
    with pytest.raises(ValueError, match="NaN"):
        wind_to_class(np.array([30.0, np.nan]))
    with pytest.raises(ValueError, match="NaN"):
        wind_to_class(float("nan"))


def test_class_centre_lies_inside_its_class():
    indices = np.arange(intensity.NUM_CLASSES)
    np.testing.assert_array_equal(wind_to_class(class_centre_kt(indices)), indices)


def test_tnumbers_reproduce_the_dvorak_table_from_t1_5_to_t8():
    table_t = np.array(DVORAK_T_NUMBERS[1:])  # below T1.5 the lab extends the flat table
    table_wind = np.array(DVORAK_WIND_KT[1:], dtype=float)
    np.testing.assert_array_equal(tnumber_to_wind(table_t), table_wind)
    np.testing.assert_array_equal(wind_to_tnumber(table_wind), table_t)
    assert tnumber_to_wind(4.0) == 65 and tnumber_to_wind(6.5) == 127 and tnumber_to_wind(8) == 170


def test_tnumber_and_wind_invert_each_other_from_15_to_170_kt():
    winds = np.linspace(15.0, 170.0, 311)
    np.testing.assert_allclose(tnumber_to_wind(wind_to_tnumber(winds)), winds, atol=1e-9)
    t_numbers = np.linspace(0.5, 8.0, 151)
    np.testing.assert_allclose(wind_to_tnumber(tnumber_to_wind(t_numbers)), t_numbers, atol=1e-9)
    assert (np.diff(wind_to_tnumber(winds)) > 0).all(), "one T-number per wind"


# ---------------------------------------------------------------------------------------------
# images

STEP_K = (WARM_K - COLD_K) / 255


def test_uint8_and_kelvin_round_trip_within_half_a_step():
    kelvin = np.linspace(COLD_K, WARM_K, 10_001)
    back = to_kelvin(to_uint8(kelvin))
    assert np.abs(back - kelvin).max() <= STEP_K / 2 + 1e-4
    np.testing.assert_array_equal(to_uint8(to_kelvin(np.arange(256))), np.arange(256))


def test_cold_cloud_tops_are_bright_and_out_of_range_temperatures_clip():
    assert to_uint8(200.0) > to_uint8(250.0) > to_uint8(295.0)
    np.testing.assert_array_equal(to_uint8([WARM_K, COLD_K]), [0, 255])
    np.testing.assert_array_equal(to_uint8([400.0, 100.0]), [0, 255])
    assert to_uint8(np.zeros((2, 3))).dtype == np.uint8
    np.testing.assert_allclose(to_kelvin(np.array([0, 255], np.uint8)), [WARM_K, COLD_K])


def _tiny_images(storm_id: list[str], wind_kt: list[float]) -> CycloneImages:
    """Tiny 8x8 images, the i-th filled with the value i, for container and split tests."""
    count = len(storm_id)
    images = np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None], (count, 8, 8))
    return CycloneImages(
        images=images.copy(),
        wind_kt=np.asarray(wind_kt, dtype=np.float32),
        storm_id=np.asarray(storm_id),
        hours=np.arange(count, dtype=np.float64),
        season=np.full(count, 2005),
        source="test",
        extras={"apparent_t": np.linspace(1, 7, count, dtype=np.float32)},
    )


def test_cyclone_images_refuse_wrong_dtype_shape_and_length():
    good = _tiny_images(["A", "A", "B"], [25, 50, 140])
    columns = {"wind_kt": good.wind_kt, "storm_id": good.storm_id, "hours": good.hours,
               "season": good.season}
    with pytest.raises(ValueError, match="uint8"):
        CycloneImages(images=good.images.astype(np.float32), **columns)
    with pytest.raises(ValueError, match="uint8"):
        CycloneImages(images=good.images[..., None], **columns)
    with pytest.raises(ValueError, match="wind_kt has 2 entries for 3 images"):
        CycloneImages(images=good.images, **{**columns, "wind_kt": good.wind_kt[:2]})
    with pytest.raises(ValueError, match="season has 4 entries"):
        CycloneImages(images=good.images, **{**columns, "season": np.zeros(4, int)})
    with pytest.raises(ValueError, match="lat has 1 entries"):
        CycloneImages(images=good.images, extras={"lat": np.zeros(1)}, **columns)


def test_cyclone_images_labels_storms_and_subsets():
    data = _tiny_images(["B", "A", "B", "C", "A"], [15, 30, 50, 100, 150])
    assert len(data) == 5 and data.image_size == 8
    np.testing.assert_array_equal(data.labels, [0, 1, 2, 5, 7])
    assert list(data.storms()) == ["B", "A", "C"], "in order of first appearance"
    for index in (np.array([False, True, False, True, False]), np.array([1, 3]), slice(1, 4, 2)):
        part = data.subset(index)
        assert len(part) == 2 and part.source == "test"
        np.testing.assert_array_equal(part.images[:, 0, 0], [1, 3])
        np.testing.assert_array_equal(part.wind_kt, [30, 100])
        np.testing.assert_array_equal(part.storm_id, ["A", "C"])
        np.testing.assert_array_equal(part.hours, [1, 3])
        np.testing.assert_array_equal(part.extras["apparent_t"], data.extras["apparent_t"][[1, 3]])


def test_model_input_is_float32_in_the_unit_interval_with_a_channel_axis():
    data = _tiny_images(["A"] * 3, [30, 30, 30])
    data.images[2] = 255
    inputs = data.to_model_input()
    assert inputs.shape == (3, 8, 8, 1) and inputs.dtype == np.float32
    assert inputs.min() == 0.0 and inputs.max() == 1.0
    np.testing.assert_allclose(inputs[1], 1 / 255)


# ---------------------------------------------------------------------------------------------
# render

NUM_KEYS = 16  # frames per configuration: physics checks hold for every one of them


def _params(t_number: float | np.ndarray, keys=range(NUM_KEYS), **overrides) -> render.RenderParams:
    """A storm of fixed personality (no shear, three bands) at ``t_number``, one frame per key."""
    keys = np.asarray(list(keys), dtype=np.uint64)
    count = len(keys)
    fields = {"t_number": t_number, "lat": 20.0, "size": 1.0, "shear_dir": 0.0, "shear": 0.0,
              "num_bands": 3, "band_phase": 0.0, **overrides}
    return render.RenderParams(key=keys, **{
        name: np.broadcast_to(np.asarray(value, dtype=float), (count,)).copy()
        for name, value in fields.items()})


def _random_params(count: int, seed: int = 0) -> render.RenderParams:
    rng = np.random.default_rng(seed)
    return render.RenderParams(
        t_number=rng.uniform(1, 8, count), lat=rng.uniform(-30, 30, count),
        size=rng.uniform(0.7, 1.4, count), shear_dir=rng.uniform(0, 2 * np.pi, count),
        shear=rng.uniform(0, 1, count), num_bands=rng.integers(1, 5, count),
        band_phase=rng.uniform(0, 2 * np.pi, count),
        key=rng.integers(0, 2**63, count, dtype=np.uint64))


def _radius_km(image_size: int = 64) -> np.ndarray:
    """Distance of every pixel centre from the image centre (the storm centre), in km."""
    km = (np.arange(image_size) + 0.5) * (render.FIELD_KM / image_size) - render.FIELD_KM / 2
    return np.hypot(km[None, :], km[:, None])


@pytest.fixture(scope="module")
def kelvin_by_t() -> dict[float, np.ndarray]:
    """Brightness temperatures of the fixed storm at several T-numbers, NUM_KEYS frames each."""
    return {t: render.render_kelvin(_params(t)) for t in (2.0, 2.5, 4.0, 5.5, 6.0, 6.5, 7.0)}


def test_render_returns_uint8_images_of_the_requested_size():
    params = _random_params(5)
    for size in (32, 64):
        images = render.render(params, image_size=size)
        assert images.shape == (5, size, size) and images.dtype == np.uint8
    assert render.render_kelvin(params, 16).dtype == np.float32
    with pytest.raises(ValueError, match="differ in length"):
        render.RenderParams(**{**dataclasses.asdict(params), "lat": np.zeros(4)})


def test_a_frame_renders_the_same_every_time_alone_or_inside_any_batch():
    params = _random_params(7)
    batch = render.render(params)
    assert render.render(params).tobytes() == batch.tobytes()
    assert render.render(params, batch_size=3).tobytes() == batch.tobytes()
    for index in (0, 4, 6):
        np.testing.assert_array_equal(render.render(params.take([index]))[0], batch[index])
    shuffled = render.render(params.take(np.array([6, 2, 0])))
    np.testing.assert_array_equal(shuffled, batch[[6, 2, 0]])
    other_keys = dataclasses.replace(params, key=params.key + np.uint64(1))
    assert not np.array_equal(render.render(other_keys), batch), "the key sets the details"


def test_storm_cloud_tops_get_colder_with_t_number(kelvin_by_t):
    # Within 50 km of the centre (the storm itself; convective cells over the sea can be as
    # cold as 207 K and set the minimum of a whole weak-storm image).
    near = _radius_km() < 50
    coldest = {t: kelvin_by_t[t][:, near].min(axis=1) for t in (2.0, 4.0, 6.0)}
    assert (coldest[2.0] > coldest[4.0] + 10).all(), (coldest[2.0], coldest[4.0])
    assert (coldest[4.0] > coldest[6.0] + 10).all(), (coldest[4.0], coldest[6.0])
    assert (coldest[6.0] < 205).all(), "a T6 storm has cloud tops near -70 C"


def test_cold_cloud_area_grows_with_t_number(kelvin_by_t):
    cold = {t: (kelvin_by_t[t] < 240).sum(axis=(1, 2)) for t in (2.0, 4.0, 6.0, 7.0)}
    assert (cold[2.0] < cold[4.0]).all() and (cold[4.0] < cold[6.0]).all()
    assert (cold[6.0] < cold[7.0]).all()
    assert (cold[4.0] > 4 * cold[2.0].max()).all(), "organised storms have a large cold shield"


def _eye_contrast(kelvin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre temperature (4 central pixels) and its excess over the ring 30-80 km out."""
    radius = _radius_km(kelvin.shape[-1])
    centre = kelvin[:, radius < 10].mean(axis=1)
    ring = kelvin[:, (radius > 30) & (radius < 80)].mean(axis=1)
    return centre, centre - ring


def test_an_eye_shows_at_t6_5_but_not_at_t2_5(kelvin_by_t):
    _, strong = _eye_contrast(kelvin_by_t[6.5])
    _, weak = _eye_contrast(kelvin_by_t[2.5])
    assert (strong > 40).all(), f"a T6.5 eye is much warmer than its ring: {strong}"
    assert (weak < 0).all(), f"a T2.5 centre is under cold cloud, no warm eye: {weak}"


def test_the_eye_is_warmer_at_t7_than_at_t5_5(kelvin_by_t):
    centre_7, contrast_7 = _eye_contrast(kelvin_by_t[7.0])
    centre_55, contrast_55 = _eye_contrast(kelvin_by_t[5.5])
    assert (centre_7 > centre_55).all(), (centre_7, centre_55)
    assert (contrast_7 > contrast_55 + 10).all()


def test_a_southern_storm_is_the_mirror_image_of_a_northern_one():
    # The random details of a frame (texture, cells, noise) are drawn on the image grid and do
    # not mirror, so compare the mean of many frames. Mirroring x -> -x also maps a band pattern
    # of phase p to phase p + pi.
    keys = range(64)
    north = render.render_kelvin(_params(3.0, keys, band_phase=0.3)).mean(axis=0)
    south = render.render_kelvin(_params(3.0, keys, lat=-20.0, band_phase=0.3 + np.pi))
    south = south.mean(axis=0)
    to_mirror = np.abs(south - north[:, ::-1]).mean()
    to_north = np.abs(south - north).mean()
    assert to_mirror < 1.0, f"mean |south - mirrored north| = {to_mirror:.2f} K"
    assert to_north > 3 * to_mirror, "the bands turn the other way in the southern hemisphere"


def test_render_makes_at_least_100_images_per_second_at_64_px():
    params = _random_params(512)
    render.render(params.take(slice(0, 8)))  # warm up
    start = time.perf_counter()
    render.render(params)
    rate = len(params) / (time.perf_counter() - start)
    assert rate >= 100, f"{rate:.0f} images/s"


# ---------------------------------------------------------------------------------------------
# frames

TRACK_COLUMNS = ["storm_id", "name", "time", "lat", "lon", "wind_kt", "pressure_mb", "status",
                 "record", "basin"]
# (storm, time, lat, lon, wind, status): ALPHA loses a NaN-wind fix, a subtropical fix (which
# leaves a 12-hour gap) and its extratropical end; OMEGA runs across New Year; BETA has one fix;
# GAMMA is extratropical only.
FIXES = [
    ("AL012020", "2020-08-01 00:00", 10.0, -40.0, 30.0, "TD"),
    ("AL012020", "2020-08-01 06:00", 11.0, -41.0, 40.0, "TS"),
    ("AL012020", "2020-08-01 09:00", 11.5, -41.5, np.nan, "TS"),
    ("AL012020", "2020-08-01 12:00", 12.0, -43.0, 60.0, "TS"),
    ("AL012020", "2020-08-01 18:00", 13.0, -44.0, 60.0, "SS"),
    ("AL012020", "2020-08-02 00:00", 14.0, -45.0, 70.0, "HU"),
    ("AL012020", "2020-08-02 06:00", 15.0, -46.0, 82.0, "HU"),
    ("AL012020", "2020-08-02 12:00", 16.0, -47.0, 60.0, "EX"),
    ("AL302019", "2019-12-31 18:00", 20.0, -50.0, 25.0, "TD"),
    ("AL302019", "2020-01-01 00:00", 20.0, -51.0, 35.0, "TS"),
    ("AL302019", "2020-01-01 06:00", 20.0, -52.0, 45.0, "TS"),
    ("AL022020", "2020-09-01 00:00", 25.0, -60.0, 35.0, "TS"),
    ("AL032020", "2020-10-01 00:00", 40.0, -30.0, 50.0, "EX"),
    ("AL032020", "2020-10-01 06:00", 41.0, -29.0, 50.0, "EX"),
]


def _tracks(fixes=FIXES) -> pd.DataFrame:
    table = pd.DataFrame(fixes, columns=["storm_id", "time", "lat", "lon", "wind_kt", "status"])
    table["time"] = pd.to_datetime(table["time"])
    table["name"] = table["storm_id"].map({"AL012020": "ALPHA", "AL302019": "OMEGA"}).fillna("X")
    table["pressure_mb"] = np.nan
    table["record"] = ""
    table["basin"] = "atlantic"
    return table[TRACK_COLUMNS].iloc[::-1].reset_index(drop=True)  # out of order on purpose


def _frames_of(result: pd.DataFrame, storm_id: str) -> pd.DataFrame:
    return result[result["storm_id"] == storm_id].set_index("hours")


def test_track_frames_interpolate_hourly_between_tropical_fixes_with_known_winds():
    result = frames.track_frames(_tracks())
    assert list(result.columns) == ["storm_id", "basin", "season", "time", "hours", "lat", "lon",
                                    "wind_kt"]
    assert set(result["storm_id"]) == {"AL012020", "AL302019"}, "one fix or no tropical fix: none"
    alpha = _frames_of(result, "AL012020")
    # Hours 0-12 from the first three usable fixes; the SS fix leaves 12 -> 24 h, a gap > 6 h,
    # so frames resume at 24 h and stop at the last tropical fix (30 h).
    assert list(alpha.index) == [*range(13), *range(24, 31)]
    assert alpha.loc[3.0, "wind_kt"] == 35 and alpha.loc[3.0, "lat"] == 10.5
    assert alpha.loc[3.0, "lon"] == -40.5
    assert alpha.loc[9.0, "wind_kt"] == 50, "the NaN-wind fix is skipped, not interpolated to"
    assert alpha.loc[9.0, "lat"] == 11.5
    assert alpha.loc[27.0, "wind_kt"] == 76
    assert alpha.loc[30.0, "wind_kt"] == 82
    assert alpha.loc[24.0, "time"] == pd.Timestamp("2020-08-02 00:00")
    assert (alpha["basin"] == "atlantic").all()
    assert (np.diff(alpha.index[:13]) == 1).all()


def test_track_frames_season_is_the_year_of_the_first_frame():
    result = frames.track_frames(_tracks())
    omega = _frames_of(result, "AL302019")
    assert len(omega) == 13 and omega["time"].iloc[-1].year == 2020
    assert (omega["season"] == 2019).all()
    assert (_frames_of(result, "AL012020")["season"] == 2020).all()


def test_track_frames_cadence_gap_and_status_options():
    tracks = _tracks()
    three = _frames_of(frames.track_frames(tracks, cadence_hours=3.0), "AL012020")
    assert list(three.index) == [0, 3, 6, 9, 12, 24, 27, 30]
    joined = _frames_of(frames.track_frames(tracks, max_gap_hours=12.0), "AL012020")
    assert list(joined.index) == list(range(31)), "a 12 h gap is bridged when allowed"
    with_ss = _frames_of(frames.track_frames(tracks, statuses=(*frames.TROPICAL_STATUSES, "SS")),
                         "AL012020")
    assert list(with_ss.index) == list(range(31))
    empty = frames.track_frames(tracks[tracks["status"] == "EX"])
    assert len(empty) == 0 and "wind_kt" in empty.columns


def _synthetic_frames(num_storms: int = 40, hours: int = 120) -> pd.DataFrame:
    """Hourly frames of storms that strengthen from 30 kt to 90 kt and decay again."""
    h = np.arange(float(hours))
    return pd.concat([
        pd.DataFrame({"storm_id": f"AL{s:02d}2001", "hours": h, "lat": 15.0 + s % 3,
                      "wind_kt": 30 + 60 * np.sin(np.pi * h / hours)})
        for s in range(num_storms)], ignore_index=True)


def test_storm_looks_are_deterministic_per_storm_time_and_seed():
    table = _synthetic_frames(4, 48)
    first = frames.storm_looks(table, seed=3)
    again = frames.storm_looks(table, seed=3)
    other_seed = frames.storm_looks(table, seed=4)
    for field in dataclasses.fields(render.RenderParams):
        np.testing.assert_array_equal(getattr(first, field.name), getattr(again, field.name))
    assert not np.array_equal(first.t_number, other_seed.t_number)
    assert len(np.unique(first.key)) == len(table), "every frame has its own key"
    # A storm looks the same whatever other storms are rendered with it.
    alone = frames.storm_looks(table[table["storm_id"] == "AL022001"].reset_index(drop=True), 3)
    inside = (table["storm_id"] == "AL022001").to_numpy()
    for field in dataclasses.fields(render.RenderParams):
        np.testing.assert_array_equal(getattr(alone, field.name),
                                      getattr(first, field.name)[inside])


def test_a_frame_looks_the_same_whichever_other_frames_of_its_storm_are_rendered():
    hourly = _synthetic_frames(1, 48)
    every_third = hourly.iloc[::3].reset_index(drop=True)
    np.testing.assert_allclose(frames.storm_looks(every_third).t_number,
                               frames.storm_looks(hourly).t_number[::3])


def test_apparent_t_error_is_smooth_and_about_storm_error_t():
    table = _synthetic_frames()
    looks = frames.storm_looks(table)
    error = looks.t_number - wind_to_tnumber(table["wind_kt"].to_numpy())
    spread = error.std()
    assert spread == pytest.approx(frames.STORM_ERROR_T, rel=0.3)
    assert abs(error.mean()) < 0.15, "no bias overall"
    per_storm = error.reshape(40, -1)
    step = np.diff(per_storm, axis=1).std()
    assert step < 0.5 * spread, f"hour-to-hour change {step:.2f} vs spread {spread:.2f}"
    lag_one = np.corrcoef(per_storm[:, 1:].ravel(), per_storm[:, :-1].ravel())[0, 1]
    assert lag_one > 0.8


def test_personality_stays_in_range_and_evolves_smoothly():
    looks = frames.storm_looks(_synthetic_frames(10, 96))
    assert (looks.size > 0.5).all() and (looks.size < 2.0).all()
    assert (looks.shear >= 0).all() and (looks.shear <= 1).all()
    assert set(np.unique(looks.num_bands)) <= {2, 3, 4}
    hourly_change = np.diff(np.log(looks.size.reshape(10, -1)), axis=1)
    assert np.abs(hourly_change).max() < 0.05, "the size changes by less than 5% an hour"
    np.testing.assert_array_equal(looks.lat, _synthetic_frames(10, 96)["lat"])


def test_cache_name_changes_with_every_recipe_field_and_names_the_version():
    default = frames.FrameRecipe()
    changes = {"basins": (*default.basins, "elsewhere"), "first_season": default.first_season + 1,
               "last_season": default.last_season - 1, "cadence_hours": default.cadence_hours / 2,
               "image_size": 2 * default.image_size, "seed": default.seed + 1,
               "max_storms": (default.max_storms or 0) + 10}
    assert set(changes) == {field.name for field in dataclasses.fields(frames.FrameRecipe)}
    names = [default.cache_name()]
    names += [dataclasses.replace(default, **{k: v}).cache_name() for k, v in changes.items()]
    assert len(set(names)) == len(names)
    assert all(name.startswith(f"frames_v{frames.GENERATOR_VERSION}_") for name in names)
    assert names[0] == frames.FrameRecipe().cache_name(), "stable for equal recipes"
    assert f"_{2 * default.image_size}px_" in names[5] and names[0].endswith(".npz")


def test_rendered_frames_save_and_load_back_unchanged(tmp_path: Path):
    table = frames.track_frames(_tracks(), cadence_hours=3.0)
    images = frames.render_frames(table, image_size=16, seed=2, progress=False)
    assert len(images) == len(table) and images.images.shape[1:] == (16, 16)
    np.testing.assert_allclose(images.extras["true_t"], wind_to_tnumber(table["wind_kt"]),
                               rtol=1e-6)
    np.testing.assert_allclose(images.extras["apparent_t"],
                               frames.storm_looks(table, seed=2).t_number, rtol=1e-6)
    path = tmp_path / "new" / "frames.npz"
    frames.save(images, path)
    assert [p.name for p in path.parent.iterdir()] == ["frames.npz"], "no temporary file left"
    back = frames.load(path)
    for name in ("images", "wind_kt", "storm_id", "hours", "season"):
        np.testing.assert_array_equal(getattr(back, name), getattr(images, name))
    assert back.source == images.source and f"v{frames.GENERATOR_VERSION}" in back.source
    assert back.extras.keys() == images.extras.keys()
    for name, values in images.extras.items():
        np.testing.assert_array_equal(back.extras[name], values)


def test_load_frames_renders_once_then_reads_the_cache(isolated_dirs, shared_mirror, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_DATA_MIRROR", str(shared_mirror))
    recipe = frames.FrameRecipe(first_season=2018, basins=("atlantic",), max_storms=3,
                                cadence_hours=3.0, image_size=32)
    first = frames.load_frames(recipe, progress=False)
    path = frames.cache_path(recipe)
    assert path.exists() and path.is_relative_to(isolated_dirs / "cache" / "cyclone")
    assert len(first.storms()) == 3 and (first.season == 2018).all()
    assert first.images.shape[1:] == (32, 32) and first.images.max() > 200, "cold clouds show"
    assert set(np.diff(first.hours[first.storm_id == first.storms()[0]])) == {3.0}

    def no_rendering(*args, **kwargs):
        raise AssertionError("the second call must read the cache")

    monkeypatch.setattr(frames, "render_frames", no_rendering)
    again = frames.load_frames(recipe, progress=False)
    for name in ("images", "wind_kt", "storm_id", "hours", "season"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    np.testing.assert_array_equal(again.extras["apparent_t"], first.extras["apparent_t"])


# ---------------------------------------------------------------------------------------------
# splits

PEAK_WINDS = (27.0, 45.0, 72.0, 90.0, 105.0, 125.0, 150.0)  # one storm class each, TD to H5
FRAMES_PER_STORM = 24


def _storm_collection(num_storms: int = 70, peaks=PEAK_WINDS) -> CycloneImages:
    """Hourly 8x8 blank frames of storms rising to their peak and decaying, 20 seasons."""
    hours = np.arange(FRAMES_PER_STORM, dtype=float)
    shape = np.sin(np.pi * (hours + 0.5) / FRAMES_PER_STORM)
    peak = np.array([peaks[s % len(peaks)] for s in range(num_storms)])
    wind = np.minimum(20.0, peak)[:, None] + (peak - np.minimum(20.0, peak))[:, None] * shape
    count = num_storms * FRAMES_PER_STORM
    return CycloneImages(
        images=np.zeros((count, 8, 8), np.uint8),
        wind_kt=wind.ravel().astype(np.float32),
        storm_id=np.repeat([f"S{s:03d}" for s in range(num_storms)], FRAMES_PER_STORM),
        hours=np.tile(hours, num_storms),
        season=np.repeat(2000 + np.arange(num_storms) % 20, FRAMES_PER_STORM),
    )


def _storms_in(data: CycloneImages, index: np.ndarray) -> set[str]:
    return set(data.storm_id[index])


@pytest.mark.parametrize("seed", [0, 1])
def test_storm_split_keeps_each_storm_in_one_part_with_every_strength(seed):
    data = _storm_collection()
    split = splits.storm_split(data, seed=seed)
    assert splits.shared_storms(data, split) == {"train-test": 0, "train-val": 0, "val-test": 0}
    every = np.sort(np.concatenate([split.train, split.val, split.test]))
    np.testing.assert_array_equal(every, np.arange(len(data)))
    peaks = splits.storm_peak_classes(data)
    assert set(peaks.values()) == set(range(1, 8))
    for name, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        storms = _storms_in(data, getattr(split, name))
        assert len(storms) / 70 == pytest.approx(fraction, abs=0.05), name
        assert {peaks[s] for s in storms} == set(range(1, 8)), f"{name}: every peak class"
    assert np.all(np.isinf(splits.hours_to_nearest_training_frame(data, split)))


def test_storm_split_is_deterministic_by_seed():
    data = _storm_collection()
    first, again = splits.storm_split(data, seed=5), splits.storm_split(data, seed=5)
    other = splits.storm_split(data, seed=6)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.test, other.test)


def test_storm_split_copes_with_a_single_storm_in_the_weakest_class():
    data = _storm_collection(61, peaks=(45.0, 72.0, 90.0, 105.0, 125.0, 150.0))
    lone_depression = _storm_collection(1, peaks=(27.0,))
    lone_depression.storm_id[:] = "LONE"
    joined = CycloneImages(
        *(np.concatenate([getattr(data, f), getattr(lone_depression, f)])
          for f in ("images", "wind_kt", "storm_id", "hours", "season")))
    split = splits.storm_split(joined)
    assert sum(split.sizes().values()) == len(joined)


def test_random_frame_split_leaks_neighbouring_frames_of_the_same_storms():
    data = _storm_collection()
    split = splits.random_frame_split(data, seed=0)
    assert split.sizes() == {"train": 1176, "val": 252, "test": 252}
    shared = splits.shared_storms(data, split)
    assert shared["train-test"] > 60, "nearly every storm is on both sides"
    gaps = splits.hours_to_nearest_training_frame(data, split)
    assert np.isfinite(gaps).all() and np.mean(gaps <= 1) > 0.8
    again = splits.random_frame_split(data, seed=0)
    np.testing.assert_array_equal(again.test, split.test)


def test_season_split_tests_on_the_later_seasons_only():
    data = _storm_collection()
    split = splits.season_split(data, first_test_season=2015)
    assert (data.season[split.test] >= 2015).all()
    assert (data.season[split.train] < 2015).all() and (data.season[split.val] < 2015).all()
    np.testing.assert_array_equal(split.test, np.flatnonzero(data.season >= 2015))
    assert splits.shared_storms(data, split) == {"train-test": 0, "train-val": 0, "val-test": 0}
    assert len(_storms_in(data, split.val)) == pytest.approx(0.15 * 52, abs=1.5)


# ---------------------------------------------------------------------------------------------
# models


@pytest.fixture(scope="module")
def models():
    """The Keras module, imported only by the tests that need it."""
    from common.cyclone import models

    return models


def test_pradhan_cnn_has_a_class_head_and_a_wind_head_in_float32(models):
    model = models.pradhan_cnn(64)
    assert model.input_shape == (None, 64, 64, 1)
    out = model(np.zeros((2, 64, 64, 1), np.float32), training=False)
    assert set(out) == {"intensity_class", "wind"}
    assert tuple(out["intensity_class"].shape) == (2, intensity.NUM_CLASSES)
    assert tuple(out["wind"].shape) == (2, 1)
    import keras

    assert all(keras.ops.convert_to_numpy(value).dtype == np.float32 for value in out.values())


def test_compile_cnn_offers_adam_and_sgd_and_refuses_other_names(models):
    adam = models.compile_cnn(models.pradhan_cnn(16), "adam").optimizer
    sgd = models.compile_cnn(models.pradhan_cnn(16), "sgd").optimizer
    assert type(adam).__name__ == "Adam" and float(adam.learning_rate) == pytest.approx(1e-3)
    assert type(sgd).__name__ == "SGD" and float(sgd.learning_rate) == pytest.approx(0.01)
    assert float(sgd.momentum) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        models.compile_cnn(models.pradhan_cnn(16), "rmsprop")


def test_a_few_training_steps_lower_the_loss_and_predict_gives_probabilities_and_knots(models):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    winds = rng.uniform(15, 160, 64)
    data = CycloneImages(
        images=rng.integers(0, 256, (64, 16, 16), dtype=np.uint8),
        wind_kt=winds.astype(np.float32), storm_id=np.repeat(np.arange(8).astype(str), 8),
        hours=np.zeros(64), season=np.full(64, 2010))
    model = models.compile_cnn(models.pradhan_cnn(16, dropout=0.0), learning_rate=3e-3)
    inputs, targets = data.to_model_input(), models.targets(data)
    before = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    history = models.fit_cnn(model, data, data.subset(slice(0, 16)), num_epochs=8,
                             batch_size=16, verbose=0)
    after = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    assert len(history["loss"]) == 8 and "val_loss" in history
    assert after < 0.8 * before, (before, after)

    probabilities, wind = models.predict(model, data, batch_size=24)
    assert probabilities.shape == (64, intensity.NUM_CLASSES) and wind.shape == (64,)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    raw = keras.ops.convert_to_numpy(model(inputs[:3], training=False)["wind"])[:, 0]
    np.testing.assert_allclose(wind[:3], raw * models.WIND_SCALE_KT, rtol=1e-5)
    empty_p, empty_w = models.predict(model, data.subset(slice(0, 0)))
    assert empty_p.shape == (0, intensity.NUM_CLASSES) and empty_w.shape == (0,)


def test_scores_match_hand_computed_values(models):
    true_wind = np.array([25.0, 25.0, 50.0, 50.0, 70.0, 150.0])  # TD TD TS TS H1 H5
    predicted = np.array([1, 2, 2, 0, 3, 5])  # right, +1, right, -2, right, -2
    predicted_wind = true_wind + np.array([3.0, -3.0, 3.0, -3.0, 3.0, -3.0])
    result = models.scores(true_wind, predicted, predicted_wind)
    assert result["accuracy"] == pytest.approx(3 / 6)
    # recall TD 1/2, TS 1/2, H1 1, H5 0; the absent classes (NC, H3) do not count
    assert result["macro_recall"] == pytest.approx((0.5 + 0.5 + 1 + 0) / 4)
    assert result["recall_per_class"] == {1: 0.5, 2: 0.5, 3: 1.0, 7: 0.0}
    assert result["adjacent_error_share"] == pytest.approx(1 / 3)
    assert result["rmse_kt"] == pytest.approx(3.0)
    assert result["num_images"] == 6
    assert models.competition_score(result) == pytest.approx(0.5 - 0.03)
    perfect = models.scores(true_wind, wind_to_class(true_wind))
    assert perfect["accuracy"] == perfect["macro_recall"] == 1.0
    assert perfect["adjacent_error_share"] == 1.0 and "rmse_kt" not in perfect
