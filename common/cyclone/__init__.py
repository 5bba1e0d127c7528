"""Lab 2, tropical cyclones: best tracks, intensity scales, the IR image generator, splits, models.

Modules: :mod:`~common.cyclone.best_track` (HURDAT2 parsing), :mod:`~common.cyclone.intensity`
(classes and the Dvorak table), :mod:`~common.cyclone.images` (the image container),
:mod:`~common.cyclone.render` (the infrared image generator), :mod:`~common.cyclone.frames` (frames
along the tracks, cached), :mod:`~common.cyclone.splits` (storm-wise and leaky splits),
:mod:`~common.cyclone.nasa` (NASA's real imagery) and :mod:`~common.cyclone.models` (the CNNs).
"""
