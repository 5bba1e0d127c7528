"""HURDAT2 best tracks: both file forms parse into one tidy table; malformed lines are named."""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.cyclone import best_track
from common.cyclone.best_track import BestTrackFormatError

CSV_HEADER = (
    "index,id,name,date,hours_minutes,record_identifier,status_of_system,latitude,longitude,"
    "maximum_sustained_wind_knots,maximum_pressure,34_kt_ne,34_kt_se"
)
# Leading zeros of the time lost ("0", "600"), as in CSVs written by spreadsheets; unknown
# wind (-99, empty) and pressure (-999, empty); a landfall; a fix south and east; Katrina's
# fixes out of time order (the table keeps file order).
CSV_TEXT = f"""{CSV_HEADER}
0,AL011851,UNNAMED,18510625,0,,HU,28.0N,94.8W,80,,,
1,AL011851,UNNAMED,18510625,600,L,HU,28.1N,95.4W,-99,-999,,
2,AL122005,  KATRINA ,20050829,1110,L,HU,29.5N,89.6W,110,920,120,
3,AL122005,KATRINA,20050828,1800,,HU,26.3N,88.6W,150,902,150,
4,AL011967,UNNAMED,19670601,1200,, TD ,10.5S,2.5E,,1010,,
"""

RADII = ", -999" * 12
RAW_TEXT = f"""EP011949,            UNNAMED,      2,
19490611, 0000,  , TS, 20.2N, 106.3W,  45, -999{RADII},
19490611, 0600, L, TD,  5.5S, 179.9E, -99,    0{RADII},
CP012013,               PEWA,      3,
20130816, 1800,  , TD, 10.7N, 179.6W,  30, 1008{RADII},
20130817, 0000,  , TS, 11.0N, 179.9E,  35, 1006{RADII},
20130818, 1200,  , TS, 14.2N, 174.5E,  55,  999{RADII},
"""


def _raw_with_extra_columns(text: str) -> str:
    """NOAA's newer files add radius-of-maximum-wind columns at the end of each fix line."""
    return "".join(
        line + "   20,\n" if re.match(r"\d{8},", line) else line + "\n"
        for line in text.splitlines()
    )


def test_csv_parses_every_column_with_its_dtype():
    tracks = best_track.read_hurdat2_csv(io.StringIO(CSV_TEXT))
    assert tuple(tracks.columns) == best_track.COLUMNS
    assert len(tracks) == 5
    assert list(tracks["storm_id"]) == ["AL011851"] * 2 + ["AL122005"] * 2 + ["AL011967"]
    assert list(tracks["name"]) == ["UNNAMED", "UNNAMED", "KATRINA", "KATRINA", "UNNAMED"]
    assert list(tracks["time"]) == [
        pd.Timestamp("1851-06-25 00:00"),
        pd.Timestamp("1851-06-25 06:00"),
        pd.Timestamp("2005-08-29 11:10"),
        pd.Timestamp("2005-08-28 18:00"),
        pd.Timestamp("1967-06-01 12:00"),
    ]
    np.testing.assert_array_equal(tracks["lat"], [28.0, 28.1, 29.5, 26.3, -10.5])
    np.testing.assert_array_equal(tracks["lon"], [-94.8, -95.4, -89.6, -88.6, 2.5])
    np.testing.assert_array_equal(tracks["wind_kt"], [80.0, np.nan, 110.0, 150.0, np.nan])
    np.testing.assert_array_equal(tracks["pressure_mb"], [np.nan, np.nan, 920.0, 902.0, 1010.0])
    assert list(tracks["status"]) == ["HU", "HU", "HU", "HU", "TD"]
    assert list(tracks["record"]) == ["", "L", "L", "", ""]
    _assert_table_dtypes(tracks)


def _assert_table_dtypes(tracks: pd.DataFrame) -> None:
    for column in ("storm_id", "name", "status", "record"):
        assert pd.api.types.is_string_dtype(tracks[column]), column
    assert pd.api.types.is_datetime64_dtype(tracks["time"])
    assert tracks["time"].dt.tz is None, "times are naive UTC"
    for column in ("lat", "lon", "wind_kt", "pressure_mb"):
        assert tracks[column].dtype == np.float64, column
    assert isinstance(tracks.index, pd.RangeIndex)


def test_raw_parses_every_column_with_its_dtype():
    tracks = best_track.read_hurdat2_raw(io.StringIO(RAW_TEXT))
    assert tuple(tracks.columns) == best_track.COLUMNS
    assert list(tracks["storm_id"]) == ["EP011949"] * 2 + ["CP012013"] * 3
    assert list(tracks["name"]) == ["UNNAMED"] * 2 + ["PEWA"] * 3
    assert list(tracks["time"]) == [
        pd.Timestamp("1949-06-11 00:00"),
        pd.Timestamp("1949-06-11 06:00"),
        pd.Timestamp("2013-08-16 18:00"),
        pd.Timestamp("2013-08-17 00:00"),
        pd.Timestamp("2013-08-18 12:00"),
    ]
    np.testing.assert_array_equal(tracks["lat"], [20.2, -5.5, 10.7, 11.0, 14.2])
    np.testing.assert_array_equal(tracks["lon"], [-106.3, 179.9, -179.6, 179.9, 174.5])
    np.testing.assert_array_equal(tracks["wind_kt"], [45.0, np.nan, 30.0, 35.0, 55.0])
    np.testing.assert_array_equal(tracks["pressure_mb"], [np.nan, np.nan, 1008.0, 1006.0, 999.0])
    assert list(tracks["status"]) == ["TS", "TD", "TD", "TS", "TS"]
    assert list(tracks["record"]) == ["", "L", "", "", ""]
    _assert_table_dtypes(tracks)


def test_raw_ignores_trailing_extra_columns():
    plain = best_track.read_hurdat2_raw(io.StringIO(RAW_TEXT))
    extended_text = _raw_with_extra_columns(RAW_TEXT)
    assert "   20," in extended_text
    extended = best_track.read_hurdat2_raw(io.StringIO(extended_text))
    pd.testing.assert_frame_equal(extended, plain)


def test_read_hurdat2_sniffs_both_formats(tmp_path):
    csv_path = tmp_path / "tracks.csv"
    raw_path = tmp_path / "tracks.txt"
    csv_path.write_text(CSV_TEXT)
    raw_path.write_text(RAW_TEXT)
    pd.testing.assert_frame_equal(
        best_track.read_hurdat2(csv_path), best_track.read_hurdat2_csv(io.StringIO(CSV_TEXT))
    )
    pd.testing.assert_frame_equal(
        best_track.read_hurdat2(str(raw_path)), best_track.read_hurdat2_raw(io.StringIO(RAW_TEXT))
    )


def test_read_hurdat2_rejects_a_file_in_neither_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\nthis is not a best track\n")
    with pytest.raises(BestTrackFormatError, match=r"notes\.txt line 2: neither"):
        best_track.read_hurdat2(path)


def _fix(
    date: str = "19490611",
    time: str = "0000",
    lat: str = "20.2N",
    lon: str = "106.3W",
    wind: str = "45",
    pressure: str = "-999",
    status: str = "TS",
) -> str:
    """One raw fix line, correct unless a field is given a bad value."""
    return f"{date}, {time},  , {status}, {lat}, {lon}, {wind}, {pressure}{RADII},"


def _storm(*fixes: str, storm_id: str = "EP011949", count: int | None = None) -> str:
    """A raw storm: its header (promising ``count`` fixes, by default as many as given), fixes."""
    count = len(fixes) if count is None else count
    return f"{storm_id},            UNNAMED, {count:6d},\n" + "".join(f"{fix}\n" for fix in fixes)


GOOD = _storm(_fix(), _fix(time="0600"), storm_id="EP021949")  # so the bad line is not the last
# case: (text, the line to name, what the message says)
RAW_MALFORMED = {
    "file ends early": (_storm(_fix(), _fix(), count=3), 1, "promises 3 fix lines but the file"),
    "next header comes early": (_storm(_fix(), count=3) + GOOD, 3, "promises 3 fix lines"),
    "fix line where a header was expected": (
        _storm(_fix()) + _fix() + "\n" + GOOD,
        3,
        "expected a storm header line",
    ),
    "header without a fix count": ("EP011949, UNNAMED, many,\n" + GOOD, 1, "number of fix"),
    "too few fields": (
        _storm(_fix(), "19490611, 0600, , TS, 20.2N,") + GOOD,
        3,
        "expected 8 or more",
    ),
    "bad latitude hemisphere": (_storm(_fix(lat="20.2X")) + GOOD, 2, "latitude '20.2X'"),
    "bad longitude hemisphere": (_storm(_fix(lon="106.3N")) + GOOD, 2, "longitude '106.3N'"),
    "latitude out of range": (_storm(_fix(lat="120.0N")) + GOOD, 2, "latitude '120.0N'"),
    "impossible date": (_storm(_fix(), _fix(date="19491311")) + GOOD, 3, "date/time '19491311'"),
    "short date": (_storm(_fix(date="1949061")) + GOOD, 2, "date/time '1949061'"),
    "impossible time": (_storm(_fix(time="2500")) + GOOD, 2, "date/time '19490611' '2500'"),
    "non-numeric wind": (_storm(_fix(), _fix(), _fix(wind="4S")) + GOOD, 4, "wind '4S'"),
    "non-numeric pressure": (_storm(_fix(pressure="n/a")) + GOOD, 2, "pressure 'n/a'"),
    "status not two letters": (_storm(_fix(status="45")) + GOOD, 2, "status '45'"),
}


@pytest.mark.parametrize("case", list(RAW_MALFORMED))
def test_raw_malformed_input_names_the_file_and_line(tmp_path, case):
    text, line_number, problem = RAW_MALFORMED[case]
    path = tmp_path / "pacific.txt"
    path.write_text(text)
    with pytest.raises(BestTrackFormatError) as error:
        best_track.read_hurdat2_raw(path)
    message = str(error.value)
    assert message.startswith(f"pacific.txt line {line_number}: "), message
    assert problem in message, message
    offending = text.splitlines()[line_number - 1]
    assert repr(offending) in message, "the offending line is shown"
    assert error.value.line_number == line_number


def test_raw_error_on_a_stream_names_it_text():
    with pytest.raises(BestTrackFormatError, match=r"^<text> line 2: latitude '20\.2X'"):
        best_track.read_hurdat2_raw(io.StringIO(_storm(_fix(lat="20.2X"))))


def _csv_with(**replacements: str) -> str:
    """CSV_TEXT with the fourth line (Katrina's first fix) changed."""
    lines = CSV_TEXT.splitlines()
    for old, new in replacements.items():
        lines[3] = lines[3].replace(old, new)
    return "\n".join(lines) + "\n"


CSV_MALFORMED = {
    "bad longitude hemisphere": (_csv_with(**{"89.6W": "89.6Q"}), 4, "longitude '89.6Q'"),
    "bad latitude": (_csv_with(**{"29.5N": "N29.5"}), 4, "latitude 'N29.5'"),
    "impossible date": (_csv_with(**{"20050829": "20050229"}), 4, "date/time '20050229'"),
    "impossible time": (_csv_with(**{",1110,": ",1170,"}), 4, "date/time"),
    "non-numeric wind": (_csv_with(**{",110,": ",strong,"}), 4, "wind 'strong'"),
    "bad storm id": (_csv_with(**{"AL122005": "AL12205"}), 4, "storm id 'AL12205'"),
    "too many fields": (_csv_with(**{",120,": ",120,9,9,"}), 4, "not a well-formed CSV row"),
    "missing column": (
        CSV_TEXT.replace("maximum_sustained_wind_knots", "wind"),
        1,
        "no column 'maximum_sustained_wind_knots'",
    ),
}


@pytest.mark.parametrize("case", list(CSV_MALFORMED))
def test_csv_malformed_input_names_the_file_and_line(tmp_path, case):
    text, line_number, problem = CSV_MALFORMED[case]
    path = tmp_path / "atlantic.csv"
    path.write_text(text)
    with pytest.raises(BestTrackFormatError) as error:
        best_track.read_hurdat2_csv(path)
    message = str(error.value)
    assert message.startswith(f"atlantic.csv line {line_number}: "), message
    assert problem in message, message
    assert repr(text.splitlines()[line_number - 1]) in message, "the offending line is shown"


def test_storm_summary_gives_peak_wind_class_and_duration():
    tracks = best_track.read_hurdat2_csv(io.StringIO(CSV_TEXT))
    summary = best_track.storm_summary(tracks).set_index("storm_id")
    assert list(summary.index) == ["AL011851", "AL122005", "AL011967"], "order of first fix"
    assert list(summary.columns) == [
        "name", "season", "start", "end", "num_fixes", "peak_wind_kt", "peak_class",
        "duration_hours",
    ]  # fmt: skip
    katrina = summary.loc["AL122005"]
    assert katrina["name"] == "KATRINA"
    assert katrina["season"] == 2005
    assert katrina["start"] == pd.Timestamp("2005-08-28 18:00"), "the earliest fix, not the first"
    assert katrina["end"] == pd.Timestamp("2005-08-29 11:10")
    assert katrina["num_fixes"] == 2
    assert katrina["peak_wind_kt"] == 150.0
    assert katrina["peak_class"] == 7, "150 kt is a category 5 hurricane (H5)"
    assert katrina["duration_hours"] == pytest.approx(17 + 10 / 60)
    first = summary.loc["AL011851"]
    assert (first["peak_wind_kt"], first["peak_class"], first["duration_hours"]) == (80, 3, 6)
    unknown = summary.loc["AL011967"]
    assert np.isnan(unknown["peak_wind_kt"]), "no known wind: no peak"
    assert unknown["peak_class"] is pd.NA
    assert unknown["duration_hours"] == 0.0
    assert str(summary["peak_class"].dtype) == "Int64"
    assert summary["season"].dtype == np.int64
    assert summary["num_fixes"].dtype == np.int64


def test_storm_summary_keeps_the_basin():
    tracks = best_track.read_hurdat2_raw(io.StringIO(RAW_TEXT)).assign(basin="pacific")
    summary = best_track.storm_summary(tracks)
    assert list(summary.columns[:4]) == ["storm_id", "name", "basin", "season"]
    assert list(summary["basin"]) == ["pacific", "pacific"]
    assert list(summary["peak_class"]) == [2, 2]
    assert list(summary["duration_hours"]) == [6.0, 42.0]


# The real files, from the offline mirror. Each is parsed once for all the tests below.
@functools.cache
def _parse(path: Path) -> pd.DataFrame:
    return best_track.read_hurdat2(path)


def _real(shared_mirror: Path, name: str) -> Path:
    path = shared_mirror / "hurdat2" / name
    if not path.exists():
        pytest.skip(f"{path} is not in the mirror")
    return path


def test_real_atlantic_csv_has_all_storms_and_fixes(shared_mirror):
    tracks = _parse(_real(shared_mirror, "atlantic.csv"))
    assert len(tracks) == 51_310
    assert tracks["storm_id"].nunique() == 1_872
    assert tracks["time"].min() == pd.Timestamp("1851-06-25 00:00")
    assert tracks["time"].max() == pd.Timestamp("2018-10-15 18:00")
    assert (tracks["record"] == "L").sum() == 1_003, "landfalls are kept"
    _assert_table_dtypes(tracks)


def test_real_pacific_raw_matches_its_headers(shared_mirror):
    path = _real(shared_mirror, "pacific.txt")
    headers = [line for line in path.read_text().splitlines() if re.match(r"[A-Z]{2}\d{6},", line)]
    tracks = _parse(path)
    assert tracks["storm_id"].nunique() == len(headers) == 998
    assert len(tracks) == sum(int(line.split(",")[2]) for line in headers) == 24_473
    assert set(tracks["storm_id"].str[:2]) == {"EP", "CP"}
    assert (tracks["lon"] > 0).sum() > 0, "fixes west of the dateline (E) are positive"
    _assert_table_dtypes(tracks)


def test_real_katrina_peaks_at_150_kt(shared_mirror):
    tracks = _parse(_real(shared_mirror, "atlantic.csv"))
    katrina = best_track.storm_summary(tracks).set_index("storm_id").loc["AL122005"]
    assert katrina["name"] == "KATRINA"
    assert katrina["peak_wind_kt"] == 150.0
    assert katrina["peak_class"] == 7


@pytest.mark.parametrize("name", ["atlantic.csv", "pacific.txt"])
def test_real_values_are_physical(shared_mirror, name):
    tracks = _parse(_real(shared_mirror, name))
    wind = tracks["wind_kt"].dropna()
    assert wind.between(0, 200).all(), "winds are NaN or 0-200 kt"
    assert tracks["pressure_mb"].dropna().between(850, 1050).all(), "no -999/0/9999 left"
    assert tracks["lat"].between(-90, 90).all() and tracks["lon"].between(-180, 180).all()


def test_load_best_tracks_through_the_registry(isolated_dirs, shared_mirror, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_DATA_MIRROR", str(shared_mirror))
    tracks = best_track.load_best_tracks()
    assert list(tracks.columns) == [*best_track.COLUMNS, "basin"]
    assert len(tracks) == 51_310 + 24_473
    assert tracks.groupby("basin")["storm_id"].nunique().to_dict() == {
        "atlantic": 1_872,
        "pacific": 998,
    }
    assert set(tracks.loc[tracks["basin"] == "atlantic", "storm_id"].str[:2]) == {"AL"}
    ordered = tracks.sort_values(["storm_id", "time"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(tracks, ordered)
    assert (isolated_dirs / "cache" / "hurdat2" / "pacific.txt").exists(), "cached via fetch"
    summary = best_track.storm_summary(tracks)
    assert len(summary) == 1_872 + 998
    assert "basin" in summary.columns


def test_load_best_tracks_one_basin_and_unknown_basin(isolated_dirs, shared_mirror, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_DATA_MIRROR", str(shared_mirror))
    pacific = best_track.load_best_tracks(basins=("pacific",))
    assert set(pacific["basin"]) == {"pacific"} and len(pacific) == 24_473
    with pytest.raises(ValueError, match="unknown basin 'indian'"):
        best_track.load_best_tracks(basins=("indian",))
