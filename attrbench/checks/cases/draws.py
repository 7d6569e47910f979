"""Hypothesis strategies for the parts of a drawn case: generator seeds, networks
(:class:`attrbench.subjects.networks.Network`), input batches and baselines.

A network is an architecture (a few drawn integers and choices) plus a drawn ``seed`` from
which a ``torch.Generator`` makes every weight (:func:`attrbench.subjects.networks.build_network`),
so the global RNG is never touched and a falsifying example is reproducible from its printed
``seed``. Where hypothesis takes a strategy (``n_features``, ``depth``, ``width``, ``batch``,
...) a plain value is accepted too and means ``st.just(value)``; ``domain=(a, b)`` bounds
every drawn input and baseline.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy
from torch import Tensor

from attrbench.subjects.networks import ACTIVATIONS, Network, build_network

DEFAULT_DOMAIN = (-1.0, 1.0)


def seeds() -> SearchStrategy[int]:
    """Seeds for ``torch.Generator().manual_seed``; shrink towards 0."""
    return st.integers(0, 2**32 - 1)


def as_strategy(value: Any, name: str) -> SearchStrategy:
    """``value`` if it is a strategy, else ``st.just(value)`` (``name`` is for messages)."""
    return value if isinstance(value, SearchStrategy) else st.just(value)


def check_domain(domain) -> tuple[float, float]:
    """``domain`` as a finite pair (a, b) with a < b; InvalidArgument otherwise."""
    try:
        a, b = (float(v) for v in domain)
    except (TypeError, ValueError):
        raise InvalidArgument(f"domain={domain!r} must be a pair (a, b) of finite floats.") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise InvalidArgument(f"domain={domain!r} must be finite with a < b.")
    return a, b


@st.composite
def architectures(draw, n_features, depth, width, activations, bias, n_outputs, min_depth=0):
    """(n_features, widths, activation, bias, n_outputs) of a network, each drawn from its
    argument (a strategy or a plain value), in this order."""
    n = draw(as_strategy(n_features, "n_features"))
    d = draw(as_strategy(depth, "depth"))
    if not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"n_features must draw positive ints; drew {n!r}.")
    if not isinstance(d, int) or d < min_depth:
        raise InvalidArgument(f"depth must draw ints >= {min_depth}; drew {d!r}.")
    widths = tuple(draw(as_strategy(width, "width")) for _ in range(d))
    if any(not isinstance(w, int) or w < 1 for w in widths):
        raise InvalidArgument(f"width must draw positive ints; drew {widths!r}.")
    act = draw(as_strategy(activations, "activations")) if d else None
    if d and act not in ACTIVATIONS:
        raise InvalidArgument(f"activation {act!r} is not one of {sorted(ACTIVATIONS)}.")
    has_bias = bool(draw(as_strategy(bias, "bias")))
    k = draw(as_strategy(n_outputs, "n_outputs"))
    if not isinstance(k, int) or k < 1:
        raise InvalidArgument(f"n_outputs must draw positive ints; drew {k!r}.")
    return n, widths, act, has_bias, k


NET_DEFAULTS = dict(
    n_features=st.integers(2, 6),
    depth=st.integers(1, 3),
    width=st.integers(2, 8),
    activations=st.sampled_from(["relu", "tanh", "sigmoid", "softplus"]),
    bias=st.booleans(),
    n_outputs=st.integers(1, 3),
)


@st.composite
def networks(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    dtype: torch.dtype = torch.float64,
) -> Network:
    """Frozen MLPs as :class:`Network`. ``depth`` hidden layers (0 = affine model), each of
    a ``width`` drawn separately, one activation drawn from ``activations`` (names in
    :data:`ACTIVATIONS`); weights from a drawn seed (:func:`build_network`)."""
    n, widths, act, has_bias, k = draw(
        architectures(n_features, depth, width, activations, bias, n_outputs)
    )
    return build_network(n, widths, k, act, has_bias, draw(seeds()), dtype=dtype)


def _float_width(dtype: torch.dtype) -> int:
    return 32 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 64


def coordinates(domain, dtype) -> SearchStrategy[float]:
    """Finite floats of ``dtype``'s width in ``domain`` (no NaN, inf or subnormals)."""
    a, b = check_domain(domain)
    width = _float_width(dtype)
    if width == 32:  # bounds exactly representable in float32, rounded inwards
        import numpy as np

        a32, b32 = np.float32(a), np.float32(b)
        a = float(a32 if a32 >= a else np.nextafter(a32, np.float32(np.inf)))
        b = float(b32 if b32 <= b else np.nextafter(b32, np.float32(-np.inf)))
    return st.floats(a, b, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)


@st.composite
def inputs(
    draw,
    n_features,
    *,
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Input batches (batch, n_features): finite floats in ``domain`` (no NaN, inf or
    subnormals). ``n_features`` and ``batch`` are ints or strategies of ints."""
    n = draw(as_strategy(n_features, "n_features"))
    m = draw(as_strategy(batch, "batch"))
    if m < 1 or n < 1:
        raise InvalidArgument(f"batch and n_features must be positive; drew {m}, {n}.")
    values = draw(st.lists(coordinates(domain, dtype), min_size=m * n, max_size=m * n))
    return torch.tensor(values, dtype=dtype).reshape(m, n)


@st.composite
def baselines(
    draw,
    n_features,
    *,
    domain=DEFAULT_DOMAIN,
    batch=st.just(1),
    kinds=st.sampled_from(["zeros", "constant", "points"]),
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Baselines x' (batch, n_features) in ``domain``, of a drawn kind: ``"zeros"`` (the
    zero input, or the lower bound when 0 is outside the domain; shrinks here), ``"constant"``
    (one value in every feature) or ``"points"`` (any point, as :func:`inputs`)."""
    a, b = check_domain(domain)
    n = draw(as_strategy(n_features, "n_features"))
    m = draw(as_strategy(batch, "batch"))
    kind = draw(as_strategy(kinds, "kinds"))
    if kind == "zeros":
        return torch.full((m, n), 0.0 if a <= 0.0 <= b else a, dtype=dtype)
    if kind == "constant":
        return torch.full((m, n), draw(coordinates(domain, dtype)), dtype=dtype)
    if kind == "points":
        return draw(inputs(n, domain=domain, batch=m, dtype=dtype))
    raise InvalidArgument(f"baseline kind {kind!r} is not one of 'zeros', 'constant', 'points'.")
