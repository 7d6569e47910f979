"""Small fully specified networks: a :class:`Network` (a frozen ``nn.Sequential`` MLP plus
its architecture, seed and subject tags) built from a seed without touching the global RNG,
and the composed modules of the linearity and affine-scale-invariance axioms
(:class:`WeightedSum`, :class:`AffineInput`; 002 §2.2).

The hypothesis strategies that draw these networks are in :mod:`attrbench.checks.cases`
(user-facing in :mod:`attrbench.testing.strategies`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from attrbench.errors import InvalidOptionError
from attrbench.subjects.registry import freeze

#: Activation name -> (module factory, subject tags it implies). All are non-decreasing.
ACTIVATIONS: dict[str, tuple[Any, frozenset[str]]] = {
    "relu": (nn.ReLU, frozenset({"relu", "nonsmooth"})),
    "tanh": (nn.Tanh, frozenset({"smooth"})),
    "sigmoid": (nn.Sigmoid, frozenset({"smooth", "nonzero_at_origin"})),
    "softplus": (nn.Softplus, frozenset({"smooth", "nonzero_at_origin"})),
}


def _linear(weight: Tensor, bias: Tensor | None) -> nn.Linear:
    """An nn.Linear holding exactly these tensors (built without touching any RNG and
    without the cost of initialising weights that are replaced at once)."""
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = weight.shape[1], weight.shape[0]
    layer.weight = nn.Parameter(weight.detach().clone())
    layer.bias = None if bias is None else nn.Parameter(bias.detach().clone())
    return layer


Layers = list  # list[tuple[Tensor, Tensor | None]]: (weight (out, in), bias (out,) or None)


@dataclass(frozen=True, eq=False)
class Network:
    """A drawn network. ``model`` is a frozen ``nn.Sequential`` mapping (N, n_features) to
    (N, n_outputs): ``depth = len(widths)`` hidden layers of ``activation`` (None when
    depth is 0: an affine model). ``tags`` are attrbench subject tags
    (``attrbench.methods.registry.SUBJECT_TAGS``). ``seed`` is the generator seed the
    weights were drawn from; :func:`build_network` with the same arguments rebuilds it."""

    model: nn.Sequential = field(repr=False)
    n_features: int
    n_outputs: int
    widths: tuple[int, ...]
    activation: str | None
    bias: bool
    seed: int
    tags: frozenset[str]
    nonnegative: bool = False

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def layers(self) -> list[nn.Linear]:
        return [m for m in self.model if isinstance(m, nn.Linear)]

    def __call__(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model(x)

    def describe(self) -> dict:
        """Architecture, seed and every weight, as plain Python values (for reports)."""
        sizes = " → ".join(str(k) for k in (self.n_features, *self.widths, self.n_outputs))
        act = f" {self.activation}" if self.activation else " affine"
        return {
            "architecture": f"{sizes}{act}{', bias' if self.bias else ', no bias'}, seed {self.seed}",
            "layers": [
                {"weight": layer.weight.detach().tolist(),
                 "bias": None if layer.bias is None else layer.bias.detach().tolist()}
                for layer in self.layers
            ],
        }  # fmt: skip


def _tags(activation: str | None, depth: int, bias: bool) -> frozenset[str]:
    tags = {"linear", "smooth"} if depth == 0 else set(ACTIVATIONS[activation][1])
    if bias:
        tags.add("bias")
    return frozenset(tags)


def assemble(
    layers: Layers, activation: str | None, *, seed: int, nonnegative: bool = False, extra_tags=()
) -> Network:
    """The frozen :class:`Network` of these (weight, bias) layers with ``activation`` between
    them (none after the last); ``seed`` is recorded, not used."""
    mods: list[nn.Module] = []
    for k, (w, b) in enumerate(layers):
        mods.append(_linear(w, b))
        if k < len(layers) - 1:
            mods.append(ACTIVATIONS[activation][0]())
    model = freeze(nn.Sequential(*mods))
    bias = layers[0][1] is not None
    depth = len(layers) - 1
    return Network(
        model=model,
        n_features=layers[0][0].shape[1],
        n_outputs=layers[-1][0].shape[0],
        widths=tuple(w.shape[0] for w, _ in layers[:-1]),
        activation=activation if depth else None,
        bias=bias,
        seed=seed,
        tags=_tags(activation, depth, bias) | frozenset(extra_tags),
        nonnegative=nonnegative,
    )


def draw_layers(
    n_features: int,
    widths: Sequence[int],
    n_outputs: int,
    bias: bool,
    seed: int,
    dtype: torch.dtype,
    nonnegative: bool = False,
) -> Layers:
    """(weight, bias) per layer of sizes n_features → widths → n_outputs: weights
    N(0, 1/fan_in), biases N(0, 1/4) when ``bias``, drawn in float64 from
    ``torch.Generator().manual_seed(seed)`` and cast to ``dtype`` (``nonnegative``: |weights|)."""
    gen = torch.Generator().manual_seed(int(seed))
    sizes = [n_features, *widths, n_outputs]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
        b = 0.5 * torch.randn(fan_out, generator=gen, dtype=torch.float64) if bias else None
        if nonnegative:
            w = w.abs()
        layers.append((w.to(dtype), None if b is None else b.to(dtype)))
    return layers


def _check_activation(name: str | None, depth: int) -> None:
    """InvalidOptionError unless ``name`` is one of :data:`ACTIVATIONS` (any name when depth is 0)."""
    if depth and name not in ACTIVATIONS:
        raise InvalidOptionError(f"activation {name!r} is not one of {sorted(ACTIVATIONS)}.")


def build_network(
    n_features: int,
    widths: Sequence[int],
    n_outputs: int,
    activation: str | None,
    bias: bool,
    seed: int,
    *,
    dtype: torch.dtype = torch.float64,
    nonnegative: bool = False,
) -> Network:
    """The network ``networks()`` (attrbench.checks.cases.draws) draws for these choices:
    weights N(0, 1/fan_in), biases N(0, 1/4), from ``torch.Generator().manual_seed(seed)``
    (``nonnegative``: |weights|). Deterministic: the same arguments give the same weights."""
    _check_activation(activation, len(widths))
    layers = draw_layers(n_features, widths, n_outputs, bias, seed, dtype, nonnegative)
    return assemble(layers, activation, seed=int(seed), nonnegative=nonnegative)


class WeightedSum(nn.Module):
    """alpha * f(x) + beta * g(x), frozen (the ``combined`` model of a linear combination)."""

    def __init__(self, f: nn.Module, g: nn.Module, alpha: float, beta: float) -> None:
        super().__init__()
        self.f, self.g = f, g
        self.alpha, self.beta = float(alpha), float(beta)
        freeze(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.alpha * self.f(x) + self.beta * self.g(x)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha!r}, beta={self.beta!r}"


class AffineInput(nn.Module):
    """F ∘ T⁻¹ for T(x)_i = scale * x_i + shift (other features unchanged): forward(y)
    = f(y with feature i replaced by (y_i - shift) / scale)."""

    def __init__(self, f: nn.Module, feature: int, scale: float, shift: float, n_features: int, dtype) -> None:
        super().__init__()
        self.f = f
        self.feature, self.scale, self.shift = int(feature), float(scale), float(shift)
        onehot = torch.zeros(n_features, dtype=dtype)
        onehot[feature] = 1.0
        self.register_buffer("onehot", onehot)
        freeze(self)

    def forward(self, y: Tensor) -> Tensor:
        inverse = (y - self.shift) / self.scale
        return self.f(y + self.onehot * (inverse - y))

    def transform(self, x: Tensor) -> Tensor:
        """T(x)."""
        return x + self.onehot * ((self.scale * x + self.shift) - x)

    def extra_repr(self) -> str:
        return f"feature={self.feature}, scale={self.scale!r}, shift={self.shift!r}"
