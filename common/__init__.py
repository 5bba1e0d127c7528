"""Helpers shared by every notebook of the AI for Science bootcamp.

Import the modules you need, for example::

    from common import data, device, mode, plots, results

Importing the package imports nothing heavy: TensorFlow and PyTorch are loaded only by the
functions that need them.
"""

__version__ = "0.1.0"
__all__ = ["data", "device", "mode", "paths", "plots", "results", "seeding"]
