"""Derivatives of a network's output with respect to its inputs, for PDE residuals.

``torch.autograd.grad`` with ``create_graph=True`` returns derivatives that can be differentiated
again, and that the optimiser can differentiate with respect to the weights. The network acts on
each point separately, so the gradient of ``u.sum()`` is the pointwise gradient of ``u``.
"""

from __future__ import annotations

import torch


def grad(u: torch.Tensor, x: torch.Tensor, order: int = 1) -> torch.Tensor:
    """Return the gradient of ``u`` (shape (n, 1)) with respect to ``x`` (shape (n, d)).

    For ``order`` > 1 ``x`` must have one column and the result is d^order u / dx^order.
    """
    if u.ndim != 2 or u.shape[1] != 1:
        raise ValueError(f"u must have shape (n, 1), got {tuple(u.shape)}: slice one output first")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    if order > 1 and x.shape[1] != 1:
        raise ValueError("order > 1 needs a one-column x: use partial(u, x, i, j, ...) instead")
    for _ in range(order):
        (u,) = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True)
    return u


def partial(u: torch.Tensor, x: torch.Tensor, *dims: int) -> torch.Tensor:
    """Return the mixed partial derivative of ``u`` with respect to ``x[:, dims[0]]``, then
    ``x[:, dims[1]]``, and so on, as shape (n, 1): ``partial(u, xy, 0, 0)`` is u_xx."""
    if not dims:
        raise ValueError("name at least one input column, e.g. partial(u, x, 0)")
    for dim in dims:
        u = grad(u, x)[:, dim : dim + 1]
    return u
