"""HURDAT2 best tracks: NOAA's hurricane archive, in its CSV and raw text forms, as one tidy table.

A best track is the official record of a storm: one *fix* every six hours (and at landfall and
peak) with its position, maximum sustained wind and minimum central pressure. NOAA publishes it
as HURDAT2 text; the original lab used a CSV conversion of the Atlantic file. Both parse into one
table with the columns of :data:`COLUMNS`, one row per fix, in file order:

- ``storm_id`` (``"AL122005"``: basin, storm number, year), ``name`` (``"KATRINA"``),
- ``time`` (naive UTC datetime), ``lat`` and ``lon`` (degrees, north and east positive),
- ``wind_kt`` (float, NaN when unknown: NOAA writes -99, -999 or nothing) and ``pressure_mb``
  (float, NaN when unknown: -999, 0, 9999 or nothing),
- ``status`` (``HU``, ``TS``, ``TD``, ``EX``, ...) and ``record`` (``"L"`` for landfall, ``""``
  for an ordinary fix).

Malformed input raises :class:`BestTrackFormatError`, which names the file and the line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from common import data
from common.cyclone.intensity import wind_to_class

COLUMNS = ("storm_id", "name", "time", "lat", "lon", "wind_kt", "pressure_mb", "status", "record")
BASINS = {"atlantic": "hurdat2-atlantic", "pacific": "hurdat2-pacific"}

# The CSV columns the parser needs, and the table column each becomes.
CSV_COLUMNS = {
    "id": "storm_id",
    "name": "name",
    "date": "date",
    "hours_minutes": "hhmm",
    "record_identifier": "record",
    "status_of_system": "status",
    "latitude": "lat",
    "longitude": "lon",
    "maximum_sustained_wind_knots": "wind_kt",
    "maximum_pressure": "pressure_mb",
}
# The leading fields of a raw fix line; wind radii and any newer columns after them are ignored.
RAW_FIX_FIELDS = ("date", "hhmm", "record", "status", "lat", "lon", "wind_kt", "pressure_mb")

_STORM_ID = re.compile(r"[A-Z]{2}\d{6}")
_SHOWN_CHARS = 160


class BestTrackFormatError(ValueError):
    """A best-track file is malformed; the message names the file, the line and shows it."""

    def __init__(self, source: str, line_number: int, line: str, problem: str) -> None:
        shown = line if len(line) <= _SHOWN_CHARS else line[:_SHOWN_CHARS] + "..."
        super().__init__(f"{source} line {line_number}: {problem}: {shown!r}")
        self.source = source
        self.line_number = line_number
        self.line = line


def _read_text(path_or_buffer: str | Path | TextIO) -> tuple[str, str]:
    """Return the text of a file or stream, and the name to give it in error messages."""
    if isinstance(path_or_buffer, (str, Path)):
        path = Path(path_or_buffer)
        return path.read_text(encoding="utf-8"), path.name
    name = getattr(path_or_buffer, "name", None)
    return path_or_buffer.read(), Path(name).name if isinstance(name, str) else "<text>"


def _first_bad(checks: list[tuple[np.ndarray, Callable[[int], str]]]) -> tuple[int, str] | None:
    """Return the first row failing any check, with that check's message, or None."""
    found = [(int(np.argmax(bad)), describe) for bad, describe in checks if bad.any()]
    if not found:
        return None
    row, describe = min(found, key=lambda item: item[0])
    return row, describe(row)


def _build_table(
    fields: pd.DataFrame, line_numbers: np.ndarray, lines: list[str], source: str
) -> pd.DataFrame:
    """Validate and convert the text fields of every fix into the tidy table (all at once)."""
    fields = fields.reset_index(drop=True).apply(lambda column: column.str.strip())

    def matches(column: str, pattern: str) -> np.ndarray:
        return fields[column].str.fullmatch(pattern).to_numpy(dtype=bool)

    def value(column: str) -> Callable[[int], str]:
        return lambda row: repr(fields[column].iat[row])

    hhmm = fields["hhmm"].str.zfill(4)  # the CSV may have lost leading zeros: "0", "600"
    time_ok = matches("date", r"\d{8}") & matches("hhmm", r"\d{1,4}")
    time = pd.to_datetime(fields["date"] + hhmm, format="%Y%m%d%H%M", errors="coerce")
    time_ok &= time.notna().to_numpy()

    lat = fields["lat"].str.extract(r"^(\d{1,2}(?:\.\d*)?)([NS])$")
    lon = fields["lon"].str.extract(r"^(\d{1,3}(?:\.\d*)?)([EW])$")
    lat_deg = pd.to_numeric(lat[0]).to_numpy(dtype=float)
    lon_deg = pd.to_numeric(lon[0]).to_numpy(dtype=float)
    number = r"-?\d+(?:\.\d*)?|"  # an integer or decimal, or nothing (unknown)

    checks = [
        (
            ~matches("storm_id", r"[A-Z]{2}\d{6}"),
            lambda row: (
                f"storm id {value('storm_id')(row)} is not two letters and six digits "
                "(like AL011851)"
            ),
        ),
        (
            ~time_ok,
            lambda row: (
                f"unparseable date/time {value('date')(row)} {value('hhmm')(row)} "
                "(expected a date YYYYMMDD and a time HHMM)"
            ),
        ),
        (
            ~matches("status", r"[A-Z]{2}"),
            lambda row: f"status {value('status')(row)} is not a two-letter code (HU, TS, TD...)",
        ),
        (
            ~matches("record", r"[A-Z]?"),
            lambda row: (
                f"record identifier {value('record')(row)} is not blank or one letter "
                "(L = landfall)"
            ),
        ),
        (
            ~(lat_deg <= 90.0),  # NaN where the pattern failed
            lambda row: (
                f"latitude {value('lat')(row)} is not 0-90 degrees followed by N or S (like 28.0N)"
            ),
        ),
        (
            ~(lon_deg <= 180.0),
            lambda row: (
                f"longitude {value('lon')(row)} is not 0-180 degrees followed by E or W "
                "(like 94.8W)"
            ),
        ),
        (
            ~matches("wind_kt", number),
            lambda row: f"wind {value('wind_kt')(row)} is not a number of knots",
        ),
        (
            ~matches("pressure_mb", number),
            lambda row: f"pressure {value('pressure_mb')(row)} is not a number of millibars",
        ),
    ]
    failure = _first_bad(checks)
    if failure is not None:
        row, problem = failure
        line_number = int(line_numbers[row])
        raise BestTrackFormatError(source, line_number, lines[line_number - 1], problem)

    wind = pd.to_numeric(fields["wind_kt"].replace("", np.nan)).to_numpy(dtype=float)
    pressure = pd.to_numeric(fields["pressure_mb"].replace("", np.nan)).to_numpy(dtype=float)
    wind = np.where(wind < 0, np.nan, wind)  # -99 or -999: unknown
    pressure = np.where((pressure <= 0) | (pressure >= 9999), np.nan, pressure)  # -999, 0, 9999
    return pd.DataFrame(
        {
            "storm_id": fields["storm_id"].astype(str),
            "name": fields["name"].astype(str),
            "time": time,
            "lat": np.where(lat[1] == "S", -lat_deg, lat_deg),
            "lon": np.where(lon[1] == "W", -lon_deg, lon_deg),
            "wind_kt": wind,
            "pressure_mb": pressure,
            "status": fields["status"].astype(str),
            "record": fields["record"].astype(str),
        },
        columns=list(COLUMNS),
    ).reset_index(drop=True)


def _parse_csv(text: str, source: str) -> pd.DataFrame:
    lines = text.splitlines()
    try:
        raw = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.EmptyDataError:
        raise BestTrackFormatError(
            source, 1, "", "the file is empty: expected a CSV header"
        ) from None
    except pd.errors.ParserError as error:
        found = re.search(r"line (\d+)", str(error))
        line_number = int(found.group(1)) if found else 1
        line = lines[line_number - 1] if line_number <= len(lines) else ""
        raise BestTrackFormatError(
            source, line_number, line, f"not a well-formed CSV row ({str(error).strip()})"
        ) from None
    raw.columns = [str(column).strip() for column in raw.columns]
    for column in CSV_COLUMNS:
        if column not in raw.columns:
            raise BestTrackFormatError(
                source,
                1,
                lines[0],
                f"the CSV header has no column {column!r} (it needs all of "
                f"{', '.join(CSV_COLUMNS)})",
            )
    fields = raw[list(CSV_COLUMNS)].rename(columns=CSV_COLUMNS).fillna("")
    line_numbers = np.arange(len(fields)) + 2  # line 1 is the header
    blank = (fields == "").all(axis=1).to_numpy()
    return _build_table(fields[~blank], line_numbers[~blank], lines, source)


def _parse_raw(text: str, source: str) -> pd.DataFrame:
    lines = text.splitlines()
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    storm_id = name = ""
    header_line = expected = remaining = 0
    for number, line in enumerate(lines, start=1):
        fields = [field.strip() for field in line.split(",")]
        looks_like_header = _STORM_ID.fullmatch(fields[0]) is not None
        if remaining == 0:
            if not line.strip():
                continue  # blank lines between storms or at the end
            if not looks_like_header:
                kind = "a fix line" if re.fullmatch(r"\d{8}", fields[0]) else "something else"
                raise BestTrackFormatError(
                    source,
                    number,
                    line,
                    "expected a storm header line like "
                    f"'AL011851, UNNAMED, 14,' (id, name, number of fixes), found {kind}",
                )
            if len(fields) < 3 or not fields[2].isdigit():
                raise BestTrackFormatError(
                    source,
                    number,
                    line,
                    f"the header of storm {fields[0]} does not give its "
                    "number of fix lines as a whole number in its third field",
                )
            storm_id, name = fields[0], fields[1]
            header_line, expected = number, int(fields[2])
            remaining = expected
            continue
        if looks_like_header:
            raise BestTrackFormatError(
                source,
                number,
                line,
                f"storm {storm_id} (header on line {header_line}) promises "
                f"{expected} fix lines but a new storm header comes after "
                f"{expected - remaining}",
            )
        if len(fields) < len(RAW_FIX_FIELDS):
            raise BestTrackFormatError(
                source,
                number,
                line,
                f"expected {len(RAW_FIX_FIELDS)} or more comma-separated "
                f"fields ({', '.join(RAW_FIX_FIELDS)}), found {len(fields)}",
            )
        rows.append([storm_id, name, *fields[: len(RAW_FIX_FIELDS)]])
        line_numbers.append(number)
        remaining -= 1
    if remaining:
        raise BestTrackFormatError(
            source,
            header_line,
            lines[header_line - 1],
            f"storm {storm_id} header promises "
            f"{expected} fix lines but the file ends after {expected - remaining}",
        )
    fields = pd.DataFrame(rows, columns=["storm_id", "name", *RAW_FIX_FIELDS], dtype=str)
    return _build_table(fields, np.asarray(line_numbers, dtype=int), lines, source)


def read_hurdat2_csv(path_or_buffer: str | Path | TextIO) -> pd.DataFrame:
    """Parse the CSV form of HURDAT2 (one row per fix, as the original lab used) into the table."""
    text, source = _read_text(path_or_buffer)
    return _parse_csv(text, source)


def read_hurdat2_raw(path_or_buffer: str | Path | TextIO) -> pd.DataFrame:
    """Parse NOAA's raw HURDAT2 text (a header line per storm, then its fixes) into the table."""
    text, source = _read_text(path_or_buffer)
    return _parse_raw(text, source)


def read_hurdat2(path: str | Path | TextIO) -> pd.DataFrame:
    """Parse a HURDAT2 file in either form, telling which from its first line."""
    text, source = _read_text(path)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    fields = [field.strip() for field in first.split(",")]
    if _STORM_ID.fullmatch(fields[0]):
        return _parse_raw(text, source)
    if "id" in fields and "latitude" in fields:
        return _parse_csv(text, source)
    number = lines.index(first) + 1 if first else 1
    raise BestTrackFormatError(
        source,
        number,
        first,
        "neither a HURDAT2 CSV header (id, name, date, ...) nor a raw "
        "HURDAT2 storm header (AL011851, UNNAMED, 14,)",
    )


def load_best_tracks(basins: Sequence[str] = ("atlantic", "pacific")) -> pd.DataFrame:
    """Fetch and parse the HURDAT2 files of ``basins``; one table with a ``basin`` column."""
    tables = []
    for basin in basins:
        if basin not in BASINS:
            raise ValueError(f"unknown basin {basin!r}: choose from {', '.join(BASINS)}")
        for path in data.fetch(BASINS[basin]).values():
            tables.append(read_hurdat2(path).assign(basin=basin))
    if not tables:
        raise ValueError("load_best_tracks needs at least one basin")
    tracks = pd.concat(tables, ignore_index=True)
    tracks["basin"] = tracks["basin"].astype(str)
    return tracks.sort_values(["storm_id", "time"], kind="stable", ignore_index=True)


def storm_summary(tracks: pd.DataFrame) -> pd.DataFrame:
    """Return one row per storm: its season, start, end, number of fixes, peak wind and class.

    ``peak_wind_kt`` is the largest known wind (NaN when none is known) and ``peak_class`` its
    class index (0 = NC ... 7 = H5, see :mod:`common.cyclone.intensity`), <NA> without a wind.
    Storms come in the order of their first fix in ``tracks``.
    """
    extra = {"basin": ("basin", "first")} if "basin" in tracks.columns else {}
    summary = tracks.groupby("storm_id", sort=False).agg(
        name=("name", "first"),
        **extra,
        start=("time", "min"),
        end=("time", "max"),
        num_fixes=("time", "size"),
        peak_wind_kt=("wind_kt", "max"),  # the largest known wind (NaN if none is known)
    )
    summary.insert(len(extra) + 1, "season", summary["start"].dt.year.astype(int))
    peak = summary["peak_wind_kt"].to_numpy(dtype=float)
    known = ~np.isnan(peak)
    classes = np.zeros(len(peak), dtype=int)
    classes[known] = wind_to_class(peak[known])
    # A storm with no known wind (19 Atlantic depressions of 1967-68) has no class: the column is
    # a nullable integer (Int64), <NA> for such a storm, whatever the table holds.
    peak_class = pd.Series(classes, index=summary.index, dtype="Int64")
    summary["peak_class"] = peak_class.mask(~known)
    summary["duration_hours"] = (summary["end"] - summary["start"]).dt.total_seconds() / 3600
    return summary.reset_index()
