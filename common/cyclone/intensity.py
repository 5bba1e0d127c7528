"""Intensity scales: wind speed to the lab's 8 classes, and the Dvorak T-number table.

The classes are those of the original lab: NC (no cyclone, <= 20 kt), TD (tropical depression,
21-33 kt), TS (tropical storm, 34-63 kt) and the five Saffir-Simpson hurricane categories H1-H5.
Winds between two whole knots (interpolated between six-hourly fixes) fall in the class whose upper
bound they do not exceed: 20.5 kt is TD, 33.0 kt is TD, 33.1 kt is TS.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("NC", "TD", "TS", "H1", "H2", "H3", "H4", "H5")
NUM_CLASSES = len(CLASS_NAMES)
# The upper bound (kt, inclusive) of every class but the last.
CLASS_UPPER_KT = (20.0, 33.0, 63.0, 82.0, 95.0, 112.0, 136.0)
CLASS_RANGES = (
    "<= 20 kt", "21-33 kt", "34-63 kt", "64-82 kt", "83-95 kt", "96-112 kt", "113-136 kt",
    ">= 137 kt",
)

# Dvorak (1984), Atlantic: current-intensity number -> maximum sustained wind (kt, 1-min mean).
DVORAK_T_NUMBERS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0)
DVORAK_WIND_KT = (25, 25, 30, 35, 45, 55, 65, 77, 90, 102, 115, 127, 140, 155, 170)
# Below T1.5 the table is flat (T1.0 and T1.5 both give 25 kt). For a one-to-one map the lab
# extends it downwards at 10 kt per T-number: T1.0 = 20 kt, T0.5 = 15 kt.
_T_GRID = np.concatenate(([0.5, 1.0], DVORAK_T_NUMBERS[1:]))
_WIND_GRID = np.concatenate(([15.0, 20.0], DVORAK_WIND_KT[1:])).astype(float)


def wind_to_class(wind_kt: np.ndarray | float) -> np.ndarray:
    """Return the class index (0 = NC ... 7 = H5) of each wind speed in knots."""
    wind = np.asarray(wind_kt, dtype=float)
    if np.isnan(wind).any():
        raise ValueError("wind_to_class got NaN winds: drop fixes with an unknown wind first.")
    return np.digitize(wind, CLASS_UPPER_KT, right=True)


def class_name(index: int | np.ndarray) -> str | np.ndarray:
    """Return the class name (``"H3"``) of a class index, or an array of names."""
    names = np.asarray(CLASS_NAMES)[np.asarray(index)]
    return str(names) if names.ndim == 0 else names


def class_centre_kt(index: np.ndarray | int) -> np.ndarray:
    """Return a representative wind (kt) for each class: the middle of its range."""
    lower = np.array((10.0,) + tuple(b + 1 for b in CLASS_UPPER_KT))
    upper = np.array(CLASS_UPPER_KT + (160.0,))
    return ((lower + upper) / 2)[np.asarray(index)]


def tnumber_to_wind(t_number: np.ndarray | float) -> np.ndarray:
    """Return the Dvorak wind (kt) for a T-number, interpolating the table (extended below T1.5)."""
    return np.interp(t_number, _T_GRID, _WIND_GRID)


def wind_to_tnumber(wind_kt: np.ndarray | float) -> np.ndarray:
    """Return the T-number whose Dvorak wind is ``wind_kt`` (the inverse of tnumber_to_wind)."""
    return np.interp(wind_kt, _WIND_GRID, _T_GRID)
