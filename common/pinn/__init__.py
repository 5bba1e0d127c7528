"""Lab 4, physics-informed neural networks: sampling, networks, derivatives, training, the chip.

Modules: :mod:`~common.pinn.geometry` (quasi-random collocation points on intervals, rectangles and
their differences, signed distances), :mod:`~common.pinn.networks` (fully connected, Fourier-feature
and SiReN networks, hard constraints), :mod:`~common.pinn.autodiff` (derivatives with autograd),
:mod:`~common.pinn.training` (Adam then L-BFGS with a history per loss term) and
:mod:`~common.pinn.chip` (the 2D chip channel flow and its OpenFOAM reference).
"""
