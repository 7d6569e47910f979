"""Hypothesis strategies drawing the cases of :mod:`attrbench.checks.cases.axiom_cases`,
one per axiom of 002 §2.2 / §4. Arguments follow hypothesis' conventions: keyword-only,
and where hypothesis takes a strategy a plain value is accepted too (``st.just(value)``).
"""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import Tensor

from attrbench.checks.cases.axiom_cases import (
    AffineMapCase,
    DummyCase,
    EquivalentPair,
    LinearCombinationCase,
    MonotoneCase,
    NetworkCase,
    SingleFeatureChange,
    SymmetricCase,
)
from attrbench.checks.cases.draws import (
    DEFAULT_DOMAIN,
    NET_DEFAULTS,
    architectures,
    as_strategy,
    baselines,
    check_domain,
    coordinates,
    inputs,
    networks,
    seeds,
)
from attrbench.subjects.networks import AffineInput, Layers, WeightedSum, assemble, draw_layers

#: Transformations that keep a network's function (``equivalent_network_pairs``).
EQUIVALENCES = ("permute", "split", "dead", "rescale")


@st.composite
def _targets(draw, n_outputs: int, batch: int) -> Tensor:
    return torch.tensor(draw(st.lists(st.integers(0, n_outputs - 1), min_size=batch, max_size=batch)), dtype=torch.long)


@st.composite
def _points(draw, n, m, domain, dtype):
    """(x, x') drawn with the same batch size."""
    x = draw(inputs(n, domain=domain, batch=m, dtype=dtype))
    b = draw(baselines(n, domain=domain, batch=m, dtype=dtype))
    return x, b


def _net_args(kwargs: dict) -> tuple:
    return tuple(kwargs[k] for k in ("n_features", "depth", "width", "activations", "bias", "n_outputs"))


@st.composite
def network_cases(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> NetworkCase:
    """:class:`NetworkCase`: a network from :func:`networks` and (x, x') from
    :func:`inputs` and :func:`baselines` with targets below its output count."""
    net = draw(networks(n_features=n_features, depth=depth, width=width, activations=activations,
                        bias=bias, n_outputs=n_outputs, dtype=dtype))
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(net.n_features, m, domain, dtype))
    return NetworkCase(net, x, xb, draw(_targets(net.n_outputs, m)), check_domain(domain))


@st.composite
def monotone_cases(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    mixed_signs: bool = False,
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> MonotoneCase:
    """:class:`MonotoneCase`: networks with non-negative weights and pairs x' <= x.
    ``mixed_signs=True`` also draws features where F decreases in x_i and then x'_i >= x_i."""
    n, widths, act, has_bias, k = draw(architectures(*_net_args(locals())))
    seed = draw(seeds())
    layers = draw_layers(n, widths, k, has_bias, seed, dtype, nonnegative=True)
    if mixed_signs:
        signs = torch.tensor(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n)), dtype=dtype)
    else:
        signs = torch.ones(n, dtype=dtype)
    w0, b0 = layers[0]
    layers[0] = (w0 * signs, b0)
    net = assemble(layers, act, seed=seed, nonnegative=not mixed_signs)
    m = draw(as_strategy(batch, "batch"))
    p, q = draw(_points(n, m, domain, dtype))
    up = signs > 0
    x = torch.where(up, torch.maximum(p, q), torch.minimum(p, q))
    xb = torch.where(up, torch.minimum(p, q), torch.maximum(p, q))
    return MonotoneCase(net, x, xb, draw(_targets(k, m)), check_domain(domain), signs=signs)


@st.composite
def symmetric_cases(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    constructions=st.sampled_from(["tied", "mirrored"]),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> SymmetricCase:
    """:class:`SymmetricCase`: a network symmetric in a drawn pair (i, j), i < j."""
    n, widths, act, has_bias, k = draw(architectures(*_net_args(locals())))
    if n < 2:
        raise InvalidArgument(f"symmetric_cases needs n_features >= 2; drew {n}.")
    i = draw(st.integers(0, n - 2))
    j = draw(st.integers(i + 1, n - 1))
    how = draw(as_strategy(constructions, "constructions")) if widths else "tied"
    if how == "mirrored":  # an even first hidden layer of swapped pairs
        widths = (2 * max(1, widths[0] // 2), *widths[1:])
    seed = draw(seeds())
    layers = draw_layers(n, widths, k, has_bias, seed, dtype)
    w0, b0 = layers[0]
    if how == "tied":
        w0 = w0.clone()
        w0[:, j] = w0[:, i]
        layers[0] = (w0, b0)
    elif how == "mirrored":
        half = widths[0] // 2
        a = w0[:half]
        swapped = a.clone()
        swapped[:, [i, j]] = a[:, [j, i]]
        layers[0] = (torch.cat([a, swapped]), None if b0 is None else torch.cat([b0[:half], b0[:half]]))
        w1, b1 = layers[1]
        layers[1] = (torch.cat([w1[:, :half], w1[:, :half]], dim=1), b1)
    else:
        raise InvalidArgument(f"construction {how!r} is not 'tied' or 'mirrored'.")
    net = assemble(layers, act, seed=seed)
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    x[:, j] = x[:, i]
    xb[:, j] = xb[:, i]
    return SymmetricCase(net, x, xb, draw(_targets(k, m)), check_domain(domain), i=i, j=j, construction=how)


def _apply_equivalence(draw, layers: Layers, name: str, layer: int, gen: torch.Generator) -> Layers:
    layers = [(w.clone(), None if b is None else b.clone()) for w, b in layers]
    (w, b), (w_next, b_next) = layers[layer], layers[layer + 1]
    h = w.shape[0]
    if name == "permute":
        perm = torch.tensor(draw(st.permutations(range(h))), dtype=torch.long)
        w, b, w_next = w[perm], None if b is None else b[perm], w_next[:, perm]
    elif name == "split":
        u = draw(st.integers(0, h - 1))
        frac = draw(st.floats(0.1, 0.9))
        w = torch.cat([w, w[u : u + 1]])
        b = None if b is None else torch.cat([b, b[u : u + 1]])
        out = w_next[:, u : u + 1]
        w_next = torch.cat([w_next, (1 - frac) * out], dim=1)
        w_next[:, u] = frac * out[:, 0]
    elif name == "dead":
        extra = draw(st.integers(1, 2))
        w = torch.cat([w, torch.randn(extra, w.shape[1], generator=gen, dtype=torch.float64).to(w.dtype)])
        if b is not None:
            b = torch.cat([b, torch.randn(extra, generator=gen, dtype=torch.float64).to(b.dtype)])
        w_next = torch.cat([w_next, w_next.new_zeros(w_next.shape[0], extra)], dim=1)
    elif name == "rescale":
        u = draw(st.integers(0, h - 1))
        c = draw(st.floats(0.25, 4.0))
        w[u] *= c
        if b is not None:
            b[u] *= c
        w_next[:, u] /= c
    else:
        raise InvalidArgument(f"equivalence {name!r} is not one of {EQUIVALENCES}.")
    layers[layer], layers[layer + 1] = (w, b), (w_next, b_next)
    return layers


@st.composite
def equivalent_network_pairs(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    transforms=st.lists(st.sampled_from(EQUIVALENCES), min_size=1, max_size=3),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> EquivalentPair:
    """:class:`EquivalentPair`: a network (depth >= 1) and an equivalent re-implementation.
    ``"rescale"`` is dropped for non-ReLU activations (it changes their function); an empty
    list after that becomes ``["permute"]``."""
    n, widths, act, has_bias, k = draw(architectures(*_net_args(locals()), min_depth=1))
    seed = draw(seeds())
    layers = draw_layers(n, widths, k, has_bias, seed, dtype)
    first = assemble(layers, act, seed=seed)
    names = [t for t in draw(as_strategy(transforms, "transforms")) if t != "rescale" or act == "relu"]
    gen = torch.Generator().manual_seed(draw(seeds()))
    applied = []
    for name in names or ["permute"]:
        layer = draw(st.integers(0, len(widths) - 1))
        layers = _apply_equivalence(draw, layers, name, layer, gen)
        applied.append((name, layer))
    second = assemble(layers, act, seed=seed)
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return EquivalentPair(first, second, tuple(applied), x, xb, draw(_targets(k, m)), check_domain(domain))


@st.composite
def dummy_cases(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> DummyCase:
    """:class:`DummyCase`: at least one dummy input and, when n_features >= 2, at least
    one live one."""
    n, widths, act, has_bias, k = draw(architectures(*_net_args(locals())))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not any(mask):
        mask[draw(st.integers(0, n - 1))] = True
    if all(mask) and n >= 2:
        mask[draw(st.integers(0, n - 1))] = False
    dummy = torch.tensor(mask, dtype=torch.bool)
    seed = draw(seeds())
    layers = draw_layers(n, widths, k, has_bias, seed, dtype)
    w0, b0 = layers[0]
    w0 = w0.clone()
    w0[:, dummy] = 0.0
    layers[0] = (w0, b0)
    net = assemble(layers, act, seed=seed)
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return DummyCase(net, x, xb, draw(_targets(k, m)), check_domain(domain), dummy=dummy)


@st.composite
def linear_combinations(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    coefficients=st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> LinearCombinationCase:
    """:class:`LinearCombinationCase`: F and G drawn independently (depth, widths and
    activation may differ) with shared n_features and n_outputs."""
    n = draw(as_strategy(n_features, "n_features"))
    k = draw(as_strategy(n_outputs, "n_outputs"))
    common = dict(depth=depth, width=width, activations=activations, bias=bias, n_outputs=k, dtype=dtype)
    f = draw(networks(n_features=n, **common))
    g = draw(networks(n_features=n, **common))
    alpha = draw(as_strategy(coefficients, "coefficients"))
    beta = draw(as_strategy(coefficients, "coefficients"))
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise InvalidArgument(f"coefficients must be finite; drew {alpha!r}, {beta!r}.")
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return LinearCombinationCase(
        f, g, float(alpha), float(beta), WeightedSum(f.model, g.model, alpha, beta), x, xb,
        draw(_targets(k, m)), check_domain(domain),
    )


@st.composite
def single_feature_changes(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    min_gap: float = 1e-3,
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> SingleFeatureChange:
    """:class:`SingleFeatureChange`: x' is x with feature i moved elsewhere in the domain."""
    a, b = check_domain(domain)
    if not 0 < min_gap <= (b - a) / 2:
        raise InvalidArgument(f"min_gap={min_gap!r} must be in (0, (b - a) / 2].")
    net = draw(networks(n_features=n_features, depth=depth, width=width, activations=activations,
                        bias=bias, n_outputs=n_outputs, dtype=dtype))
    n, k = net.n_features, net.n_outputs
    m = draw(as_strategy(batch, "batch"))
    x = draw(inputs(n, domain=domain, batch=m, dtype=dtype))
    i = draw(st.integers(0, n - 1))
    xb = x.clone()
    for r in range(m):
        v = draw(coordinates(domain, dtype))
        xi = float(x[r, i])
        if abs(v - xi) < min_gap:  # move by at least min_gap, staying in the domain
            v = xi + min_gap if xi + min_gap <= b else xi - min_gap
        xb[r, i] = v
        if bool(xb[r, i] == x[r, i]):  # min_gap below the dtype's resolution here
            xb[r, i] = a if xi - a > b - xi else b
    return SingleFeatureChange(net, x, xb, draw(_targets(k, m)), (a, b), feature=i)


@st.composite
def affine_maps(
    draw,
    *,
    n_features=NET_DEFAULTS["n_features"],
    depth=NET_DEFAULTS["depth"],
    width=NET_DEFAULTS["width"],
    activations=NET_DEFAULTS["activations"],
    bias=NET_DEFAULTS["bias"],
    n_outputs=NET_DEFAULTS["n_outputs"],
    scales=st.floats(0.25, 4.0) | st.floats(-4.0, -0.25),
    shifts=st.floats(-2.0, 2.0),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> AffineMapCase:
    """:class:`AffineMapCase`: a drawn network, feature, non-zero scale and shift."""
    net = draw(networks(n_features=n_features, depth=depth, width=width, activations=activations,
                        bias=bias, n_outputs=n_outputs, dtype=dtype))
    n, k = net.n_features, net.n_outputs
    i = draw(st.integers(0, n - 1))
    scale = draw(as_strategy(scales, "scales"))
    shift = draw(as_strategy(shifts, "shifts"))
    if not (math.isfinite(scale) and math.isfinite(shift)) or scale == 0:
        raise InvalidArgument(
            f"scales must draw finite non-zero floats and shifts finite floats; drew {scale!r}, {shift!r}."
        )
    composed = AffineInput(net.model, i, scale, shift, n, dtype)
    m = draw(as_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return AffineMapCase(
        net, x, xb, draw(_targets(k, m)), check_domain(domain),
        feature=i, scale=float(scale), shift=float(shift), transformed_model=composed,
        transformed_inputs=composed.transform(x), transformed_baseline=composed.transform(xb),
    )
