"""Networks for PINNs: fully connected, Fourier-feature and SiReN, plus hard constraints.

A PINN's network is differentiated twice or more with respect to its inputs, so its activation
must be smooth: ``tanh`` (or SiLU), never ReLU, whose second derivative is zero almost everywhere.
Inputs are mapped to [-1, 1] from the box the problem lives in (``input_lower``/``input_upper``),
so that a domain of [0, 5] or a parameter in [5, 25] reaches the first layer at the scale its
initialisation expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "silu": nn.SiLU}


class InputScaling(nn.Module):
    """Map inputs from the box ``[lower, upper]`` to ``[-1, 1]`` (a fixed, untrained layer)."""

    def __init__(self, lower: Sequence[float], upper: Sequence[float]) -> None:
        super().__init__()
        lower_t = torch.as_tensor(lower, dtype=torch.float32)
        upper_t = torch.as_tensor(upper, dtype=torch.float32)
        self.register_buffer("centre", (lower_t + upper_t) / 2)
        self.register_buffer("half_width", (upper_t - lower_t) / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.centre) / self.half_width


def _scaling(
    in_features: int, input_lower: Sequence[float] | None, input_upper: Sequence[float] | None
) -> nn.Module:
    if input_lower is None and input_upper is None:
        return nn.Identity()
    if input_lower is None or input_upper is None:
        raise ValueError("give both input_lower and input_upper, or neither")
    if len(input_lower) != in_features or len(input_upper) != in_features:
        raise ValueError(f"input bounds need {in_features} values each")
    return InputScaling(input_lower, input_upper)


class FullyConnected(nn.Module):
    """A multilayer perceptron ``in -> width x depth -> out`` with a smooth activation."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 32,
        depth: int = 3,
        activation: str = "tanh",
        input_lower: Sequence[float] | None = None,
        input_upper: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
        layers: list[nn.Module] = [_scaling(in_features, input_lower, input_upper)]
        size = in_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), ACTIVATIONS[activation]()]
            size = width
        layers.append(nn.Linear(size, out_features))
        self.layers = nn.Sequential(*layers)
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class FourierFeatures(nn.Module):
    """Random Fourier features ``[sin(2 pi x B), cos(2 pi x B)]`` with a fixed Gaussian ``B``.

    ``B`` has standard deviation ``scale``: the larger it is, the finer the detail that the
    network after it can draw (Tancik et al. 2020). It is a buffer, not a trained weight.
    """

    def __init__(
        self, in_features: int, num_frequencies: int = 32, scale: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        frequencies = torch.randn(in_features, num_frequencies, generator=generator) * scale
        self.register_buffer("frequencies", frequencies)
        self.out_features = 2 * num_frequencies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phase = 2 * math.pi * x @ self.frequencies
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)


class FourierNet(nn.Module):
    """Fourier features of the (scaled) input followed by a fully connected network."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 32,
        depth: int = 3,
        num_frequencies: int = 32,
        scale: float = 1.0,
        seed: int = 0,
        input_lower: Sequence[float] | None = None,
        input_upper: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.scaling = _scaling(in_features, input_lower, input_upper)
        self.features = FourierFeatures(in_features, num_frequencies, scale, seed)
        self.body = FullyConnected(self.features.out_features, out_features, width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.features(self.scaling(x)))


class SineLayer(nn.Module):
    """``sin(omega0 (W x + b))`` with SiReN's initialisation (Sitzmann et al. 2020)."""

    def __init__(self, in_features: int, out_features: int, omega0: float, first: bool) -> None:
        super().__init__()
        self.omega0 = omega0
        self.linear = nn.Linear(in_features, out_features)
        bound = 1 / in_features if first else math.sqrt(6 / in_features) / omega0
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega0 * self.linear(x))


class SiReN(nn.Module):
    """A sinusoidal representation network: sine activations, initialised to keep them spread."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 32,
        depth: int = 3,
        omega0: float = 30.0,
        input_lower: Sequence[float] | None = None,
        input_upper: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_scaling(in_features, input_lower, input_upper)]
        size = in_features
        for index in range(depth):
            layers.append(SineLayer(size, width, omega0, first=index == 0))
            size = width
        last = nn.Linear(size, out_features)
        bound = math.sqrt(6 / size) / omega0
        nn.init.uniform_(last.weight, -bound, bound)
        layers.append(last)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class HardConstraint(nn.Module):
    """``u(x) = g(x) + d(x) N(x)``: the boundary values ``g`` hold exactly wherever ``d(x) = 0``.

    ``g`` takes the boundary values and ``d`` vanishes on that boundary (for u(0)=a, u(1)=b on
    [0, 1]: ``g = a + (b - a) x`` and ``d = x (1 - x)``), so the loss needs no boundary term.
    """

    def __init__(
        self,
        network: nn.Module,
        particular: Callable[[torch.Tensor], torch.Tensor],
        distance: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        self.network = network
        self.particular = particular
        self.distance = distance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.particular(x) + self.distance(x) * self.network(x)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
