"""Hypothesis strategies for testing attribution methods on tiny networks.

Each strategy draws small, fully specified objects that shrink quickly: a network is an
architecture (a few drawn integers and choices) plus a drawn ``seed`` from which a
``torch.Generator`` makes every weight, so the global RNG is never touched and a falsifying
example is reproducible from its printed ``seed``. Models are ``nn.Sequential`` of
``nn.Linear`` layers and one activation, in eval mode with frozen parameters, float64 by
default.

The ``*_cases`` strategies draw one frozen dataclass per axiom of 002 §2.2 / §4 holding
everything a check of that axiom needs (model, inputs ``x`` (N, D), ``baseline`` x'
(N, D), ``targets`` (N,) and the axiom's data: the symmetric pair, the dummy mask, ...).
``F(x) = model(x)[arange(N), targets]`` as everywhere in attrbench. Every case has
``.to_subject()`` to run attrbench's checks on it.

Example: a method author's own test::

    import torch
    from hypothesis import given, settings
    from attrbench.testing import strategies as abst

    @settings(max_examples=50, deadline=None)
    @given(abst.dummy_cases(activations=abst.st.sampled_from(["relu", "tanh"])))
    def test_my_method_gives_dummies_zero(case):
        attr = my_method(case.model, case.inputs, case.targets, case.baseline)
        assert torch.all(attr[:, case.dummy] == 0)

    @given(abst.monotone_cases())
    def test_my_method_is_ndp(case):            # 002 Definition 6
        attr = my_method(case.model, case.inputs, case.targets, case.baseline)
        assert torch.all(attr >= -1e-9)

Arguments follow hypothesis' conventions: keyword-only, and where hypothesis takes a
strategy (``n_features``, ``depth``, ``width``, ``batch``, ...) a plain value is accepted
too and means ``st.just(value)``. ``domain=(a, b)`` bounds every drawn input and baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy
from torch import Tensor, nn

from attrbench.subjects.registry import Subject, freeze

__all__ = [
    "ACTIVATIONS",
    "AffineMapCase",
    "AffineInput",
    "DummyCase",
    "EquivalentPair",
    "LinearCombinationCase",
    "MonotoneCase",
    "Network",
    "NetworkCase",
    "SingleFeatureChange",
    "SymmetricCase",
    "WeightedSum",
    "affine_maps",
    "baselines",
    "build_network",
    "describe",
    "dummy_cases",
    "equivalent_network_pairs",
    "inputs",
    "linear_combinations",
    "monotone_cases",
    "network_cases",
    "networks",
    "seeds",
    "single_feature_changes",
    "st",
    "symmetric_cases",
]

#: Activation name -> (module factory, subject tags it implies). All are non-decreasing.
ACTIVATIONS: dict[str, tuple[Any, frozenset[str]]] = {
    "relu": (nn.ReLU, frozenset({"relu", "nonsmooth"})),
    "tanh": (nn.Tanh, frozenset({"smooth"})),
    "sigmoid": (nn.Sigmoid, frozenset({"smooth", "nonzero_at_origin"})),
    "softplus": (nn.Softplus, frozenset({"smooth", "nonzero_at_origin"})),
}

#: Transformations that keep a network's function (``equivalent_network_pairs``).
EQUIVALENCES = ("permute", "split", "dead", "rescale")

DEFAULT_DOMAIN = (-1.0, 1.0)


def seeds() -> SearchStrategy[int]:
    """Seeds for ``torch.Generator().manual_seed``; shrink towards 0."""
    return st.integers(0, 2**32 - 1)


def _strategy(value: Any, name: str) -> SearchStrategy:
    """``value`` if it is a strategy, else ``st.just(value)`` (``name`` is for messages)."""
    return value if isinstance(value, SearchStrategy) else st.just(value)


def _check_domain(domain) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in domain)
    except (TypeError, ValueError):
        raise InvalidArgument(f"domain={domain!r} must be a pair (a, b) of finite floats.") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise InvalidArgument(f"domain={domain!r} must be finite with a < b.")
    return a, b


# --------------------------------------------------------------------------- networks


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


def _assemble(
    layers: Layers, activation: str | None, *, seed: int, nonnegative: bool = False, extra_tags=()
) -> Network:
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


def _draw_layers(
    n_features: int,
    widths: Sequence[int],
    n_outputs: int,
    bias: bool,
    seed: int,
    dtype: torch.dtype,
    nonnegative: bool = False,
) -> Layers:
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
    if depth and name not in ACTIVATIONS:
        raise InvalidArgument(f"activation {name!r} is not one of {sorted(ACTIVATIONS)}.")


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
    """The network ``networks()`` draws for these choices: weights N(0, 1/fan_in), biases
    N(0, 1/4), from ``torch.Generator().manual_seed(seed)`` (``nonnegative``: |weights|).
    Deterministic: the same arguments give the same weights."""
    _check_activation(activation, len(widths))
    layers = _draw_layers(n_features, widths, n_outputs, bias, seed, dtype, nonnegative)
    return _assemble(layers, activation, seed=int(seed), nonnegative=nonnegative)


@st.composite
def _architectures(draw, n_features, depth, width, activations, bias, n_outputs, min_depth=0):
    n = draw(_strategy(n_features, "n_features"))
    d = draw(_strategy(depth, "depth"))
    if not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"n_features must draw positive ints; drew {n!r}.")
    if not isinstance(d, int) or d < min_depth:
        raise InvalidArgument(f"depth must draw ints >= {min_depth}; drew {d!r}.")
    widths = tuple(draw(_strategy(width, "width")) for _ in range(d))
    if any(not isinstance(w, int) or w < 1 for w in widths):
        raise InvalidArgument(f"width must draw positive ints; drew {widths!r}.")
    act = draw(_strategy(activations, "activations")) if d else None
    _check_activation(act, d)
    has_bias = bool(draw(_strategy(bias, "bias")))
    k = draw(_strategy(n_outputs, "n_outputs"))
    if not isinstance(k, int) or k < 1:
        raise InvalidArgument(f"n_outputs must draw positive ints; drew {k!r}.")
    return n, widths, act, has_bias, k


_NET_DEFAULTS = dict(
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
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    dtype: torch.dtype = torch.float64,
) -> Network:
    """Frozen MLPs as :class:`Network`. ``depth`` hidden layers (0 = affine model), each of
    a ``width`` drawn separately, one activation drawn from ``activations`` (names in
    :data:`ACTIVATIONS`); weights from a drawn seed (:func:`build_network`)."""
    n, widths, act, has_bias, k = draw(
        _architectures(n_features, depth, width, activations, bias, n_outputs)
    )
    return build_network(n, widths, k, act, has_bias, draw(seeds()), dtype=dtype)


# --------------------------------------------------------------------------- points


def _float_width(dtype: torch.dtype) -> int:
    return 32 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 64


def _coordinates(domain, dtype) -> SearchStrategy[float]:
    a, b = _check_domain(domain)
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
    n = draw(_strategy(n_features, "n_features"))
    m = draw(_strategy(batch, "batch"))
    if m < 1 or n < 1:
        raise InvalidArgument(f"batch and n_features must be positive; drew {m}, {n}.")
    values = draw(st.lists(_coordinates(domain, dtype), min_size=m * n, max_size=m * n))
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
    a, b = _check_domain(domain)
    n = draw(_strategy(n_features, "n_features"))
    m = draw(_strategy(batch, "batch"))
    kind = draw(_strategy(kinds, "kinds"))
    if kind == "zeros":
        return torch.full((m, n), 0.0 if a <= 0.0 <= b else a, dtype=dtype)
    if kind == "constant":
        return torch.full((m, n), draw(_coordinates(domain, dtype)), dtype=dtype)
    if kind == "points":
        return draw(inputs(n, domain=domain, batch=m, dtype=dtype))
    raise InvalidArgument(f"baseline kind {kind!r} is not one of 'zeros', 'constant', 'points'.")


# --------------------------------------------------------------------------- cases


def describe(case) -> dict:
    """A readable account of a drawn case (for counterexamples): each network's
    :meth:`Network.describe`, the inputs, baselines and targets as lists, and the axiom's
    own data; composed modules (``combined``, ``transformed_model``) are left out because
    their parts are listed."""
    import dataclasses

    out = {"case": type(case).__name__}
    for f in dataclasses.fields(case):
        value = getattr(case, f.name)
        if isinstance(value, Network):
            out[f.name] = value.describe()
        elif isinstance(value, Tensor):
            out[f.name] = value.detach().tolist()
        elif not isinstance(value, nn.Module):
            out[f.name] = value
    return out


@dataclass(frozen=True, eq=False)
class _Case:
    network: Network
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = ""

    @property
    def model(self) -> nn.Module:
        return self.network.model

    @property
    def tags(self) -> frozenset[str]:
        tags = set(self.network.tags)
        if bool((self.baseline != 0).any()):
            tags.add("nonzero_baseline")
        return frozenset(tags)

    def F(self, x: Tensor) -> Tensor:
        """F(x) = model(x)[arange(N), targets] (N,), without a graph."""
        with torch.no_grad():
            return self.model(x).gather(1, self.targets.view(-1, 1)).squeeze(1)

    def _truth(self) -> dict:
        return {}

    def to_subject(self, name: str | None = None) -> Subject:
        """This case as an attrbench :class:`Subject` (the axiom's data in ``truth``)."""
        truth = {"axiom": self.axiom, **self._truth()}
        domain = (
            min(self.domain[0], float(self.inputs.min()), float(self.baseline.min())),
            max(self.domain[1], float(self.inputs.max()), float(self.baseline.max())),
        )
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.model,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=domain,
            tags=self.tags,
            truth=truth,
        )


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


@dataclass(frozen=True, eq=False)
class NetworkCase(_Case):
    """A drawn network with inputs, baselines and targets and no further structure: the
    cases of axioms that hold for every F (completeness, 002 axiom 3; Lipschitz, §4.1)."""

    axiom = "any"


@st.composite
def network_cases(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> NetworkCase:
    """:class:`NetworkCase`: a network from :func:`networks` and (x, x') from
    :func:`inputs` and :func:`baselines` with targets below its output count."""
    net = draw(networks(n_features=n_features, depth=depth, width=width, activations=activations,
                        bias=bias, n_outputs=n_outputs, dtype=dtype))
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(net.n_features, m, domain, dtype))
    return NetworkCase(net, x, xb, draw(_targets(net.n_outputs, m)), _check_domain(domain))


@dataclass(frozen=True, eq=False)
class MonotoneCase(_Case):
    """F is non-decreasing from ``baseline`` to ``inputs`` (002 §4, Definition 6): every
    weight is >= 0 after the first layer, first-layer column i is multiplied by
    ``signs[i]`` = ±1, the activations are non-decreasing, and ``signs * (x - x') >= 0``.
    So along any monotone path from x' to x, F never decreases; NDP asks A >= 0."""

    signs: Tensor = None
    axiom = "ndp"

    @property
    def tags(self) -> frozenset[str]:
        return super().tags | {"monotone"}

    def _truth(self) -> dict:
        return {"signs": self.signs}


@st.composite
def monotone_cases(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    mixed_signs: bool = False,
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> MonotoneCase:
    """:class:`MonotoneCase`: networks with non-negative weights and pairs x' <= x.
    ``mixed_signs=True`` also draws features where F decreases in x_i and then x'_i >= x_i."""
    n, widths, act, has_bias, k = draw(_architectures(*_net_args(locals())))
    seed = draw(seeds())
    layers = _draw_layers(n, widths, k, has_bias, seed, dtype, nonnegative=True)
    if mixed_signs:
        signs = torch.tensor(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n)), dtype=dtype)
    else:
        signs = torch.ones(n, dtype=dtype)
    w0, b0 = layers[0]
    layers[0] = (w0 * signs, b0)
    net = _assemble(layers, act, seed=seed, nonnegative=not mixed_signs)
    m = draw(_strategy(batch, "batch"))
    p, q = draw(_points(n, m, domain, dtype))
    up = signs > 0
    x = torch.where(up, torch.maximum(p, q), torch.minimum(p, q))
    xb = torch.where(up, torch.minimum(p, q), torch.maximum(p, q))
    return MonotoneCase(net, x, xb, draw(_targets(k, m)), _check_domain(domain), signs=signs)


@dataclass(frozen=True, eq=False)
class SymmetricCase(_Case):
    """F(x) = F(x*) for every x, x* = x with features ``i`` and ``j`` swapped, and
    x_i = x_j, x'_i = x'_j; symmetry preservation (002 §2.2, axiom 6) asks A_i = A_j.
    ``construction`` is ``"tied"`` (first-layer columns i and j equal: F depends on
    x_i + x_j) or ``"mirrored"`` (first-layer units in pairs whose rows are swaps of each
    other and whose outgoing columns are equal: F = G(x_i, x_j) + G(x_j, x_i) + ...)."""

    i: int = 0
    j: int = 1
    construction: str = "tied"
    axiom = "symmetry"

    def _truth(self) -> dict:
        return {"pairs": ((self.i, self.j),), "construction": self.construction}


@st.composite
def symmetric_cases(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    constructions=st.sampled_from(["tied", "mirrored"]),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> SymmetricCase:
    """:class:`SymmetricCase`: a network symmetric in a drawn pair (i, j), i < j."""
    n, widths, act, has_bias, k = draw(_architectures(*_net_args(locals())))
    if n < 2:
        raise InvalidArgument(f"symmetric_cases needs n_features >= 2; drew {n}.")
    i = draw(st.integers(0, n - 2))
    j = draw(st.integers(i + 1, n - 1))
    how = draw(_strategy(constructions, "constructions")) if widths else "tied"
    if how == "mirrored":  # an even first hidden layer of swapped pairs
        widths = (2 * max(1, widths[0] // 2), *widths[1:])
    seed = draw(seeds())
    layers = _draw_layers(n, widths, k, has_bias, seed, dtype)
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
    net = _assemble(layers, act, seed=seed)
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    x[:, j] = x[:, i]
    xb[:, j] = xb[:, i]
    return SymmetricCase(net, x, xb, draw(_targets(k, m)), _check_domain(domain), i=i, j=j, construction=how)


@dataclass(frozen=True, eq=False)
class EquivalentPair:
    """Two networks computing the same function with different weights (implementation
    invariance, 002 §2.2 axiom 2). ``second`` is ``first`` after ``transforms``, each
    ``(name, hidden_layer)`` with name in :data:`EQUIVALENCES`: ``"permute"`` (hidden units
    reordered), ``"split"`` (a unit duplicated, its outgoing weights shared between the two
    copies), ``"dead"`` (units with zero outgoing weights added), ``"rescale"`` (ReLU only:
    a unit's incoming weights and bias times c > 0, outgoing weights divided by c)."""

    first: Network
    second: Network
    transforms: tuple[tuple[str, int], ...]
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = "implementation_invariance"

    @property
    def tags(self) -> frozenset[str]:
        return self.first.tags | ({"nonzero_baseline"} if bool((self.baseline != 0).any()) else set())

    def to_subject(self, name: str | None = None) -> Subject:
        """``first`` as a Subject with ``second``'s model in ``truth["equivalent"]`` (the
        form of ``analytic/equivalent``)."""
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.first.model,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=self.domain,
            tags=self.tags,
            truth={"axiom": self.axiom, "equivalent": self.second.model, "transforms": self.transforms},
        )

    def subjects(self, name: str | None = None) -> tuple[Subject, Subject]:
        """Both networks as attrbench Subjects on the same inputs."""
        base = name or f"hypothesis/{self.axiom}"
        out = []
        for suffix, net in (("a", self.first), ("b", self.second)):
            case = _Case(net, self.inputs, self.baseline, self.targets, self.domain)
            object.__setattr__(case, "axiom", self.axiom)
            out.append(case.to_subject(f"{base}/{suffix}"))
        return tuple(out)


def _apply_equivalence(draw, layers: Layers, name: str, l: int, gen: torch.Generator) -> Layers:
    layers = [(w.clone(), None if b is None else b.clone()) for w, b in layers]
    (w, b), (w_next, b_next) = layers[l], layers[l + 1]
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
    layers[l], layers[l + 1] = (w, b), (w_next, b_next)
    return layers


@st.composite
def equivalent_network_pairs(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    transforms=st.lists(st.sampled_from(EQUIVALENCES), min_size=1, max_size=3),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> EquivalentPair:
    """:class:`EquivalentPair`: a network (depth >= 1) and an equivalent re-implementation.
    ``"rescale"`` is dropped for non-ReLU activations (it changes their function); an empty
    list after that becomes ``["permute"]``."""
    n, widths, act, has_bias, k = draw(_architectures(*_net_args(locals()), min_depth=1))
    seed = draw(seeds())
    layers = _draw_layers(n, widths, k, has_bias, seed, dtype)
    first = _assemble(layers, act, seed=seed)
    names = [t for t in draw(_strategy(transforms, "transforms")) if t != "rescale" or act == "relu"]
    gen = torch.Generator().manual_seed(draw(seeds()))
    applied = []
    for name in names or ["permute"]:
        l = draw(st.integers(0, len(widths) - 1))
        layers = _apply_equivalence(draw, layers, name, l, gen)
        applied.append((name, l))
    second = _assemble(layers, act, seed=seed)
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return EquivalentPair(first, second, tuple(applied), x, xb, draw(_targets(k, m)), _check_domain(domain))


@dataclass(frozen=True, eq=False)
class DummyCase(_Case):
    """Inputs with ``dummy[i]`` True do not affect F (their first-layer columns are zero):
    dummy / sensitivity(b) (002 §2.2, axiom 5) asks A_i = 0 there."""

    dummy: Tensor = None  # bool (n_features,)
    axiom = "dummy"

    @property
    def dummy_indices(self) -> tuple[int, ...]:
        return tuple(int(i) for i in torch.nonzero(self.dummy).flatten())

    def _truth(self) -> dict:
        return {"dummy": self.dummy}


@st.composite
def dummy_cases(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> DummyCase:
    """:class:`DummyCase`: at least one dummy input and, when n_features >= 2, at least
    one live one."""
    n, widths, act, has_bias, k = draw(_architectures(*_net_args(locals())))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not any(mask):
        mask[draw(st.integers(0, n - 1))] = True
    if all(mask) and n >= 2:
        mask[draw(st.integers(0, n - 1))] = False
    dummy = torch.tensor(mask, dtype=torch.bool)
    seed = draw(seeds())
    layers = _draw_layers(n, widths, k, has_bias, seed, dtype)
    w0, b0 = layers[0]
    w0 = w0.clone()
    w0[:, dummy] = 0.0
    layers[0] = (w0, b0)
    net = _assemble(layers, act, seed=seed)
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return DummyCase(net, x, xb, draw(_targets(k, m)), _check_domain(domain), dummy=dummy)


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


@dataclass(frozen=True, eq=False)
class LinearCombinationCase:
    """F, G (same input and output sizes), scalars alpha, beta and ``combined`` =
    alpha F + beta G as one module: linearity (002 §2.2, axiom 4) asks
    A(x, x', combined) = alpha A(x, x', F) + beta A(x, x', G)."""

    f: Network
    g: Network
    alpha: float
    beta: float
    combined: WeightedSum
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = "linearity"

    @property
    def tags(self) -> frozenset[str]:
        return self.f.tags | self.g.tags | ({"nonzero_baseline"} if bool((self.baseline != 0).any()) else set())

    def to_subject(self, name: str | None = None) -> Subject:
        """The combined model as a Subject (F, G, alpha, beta in ``truth``)."""
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.combined,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=self.domain,
            tags=self.tags,
            truth={"axiom": self.axiom, "f": self.f.model, "g": self.g.model, "alpha": self.alpha, "beta": self.beta},
        )


@st.composite
def linear_combinations(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    coefficients=st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False),
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> LinearCombinationCase:
    """:class:`LinearCombinationCase`: F and G drawn independently (depth, widths and
    activation may differ) with shared n_features and n_outputs."""
    n = draw(_strategy(n_features, "n_features"))
    k = draw(_strategy(n_outputs, "n_outputs"))
    common = dict(depth=depth, width=width, activations=activations, bias=bias, n_outputs=k, dtype=dtype)
    f = draw(networks(n_features=n, **common))
    g = draw(networks(n_features=n, **common))
    alpha = draw(_strategy(coefficients, "coefficients"))
    beta = draw(_strategy(coefficients, "coefficients"))
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise InvalidArgument(f"coefficients must be finite; drew {alpha!r}, {beta!r}.")
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return LinearCombinationCase(
        f, g, float(alpha), float(beta), WeightedSum(f.model, g.model, alpha, beta), x, xb,
        draw(_targets(k, m)), _check_domain(domain),
    )


@dataclass(frozen=True, eq=False)
class SingleFeatureChange(_Case):
    """x and x' differ in exactly feature ``feature`` (in every row, by at least
    ``min_gap``): sensitivity(a) (002 §2.2, axiom 1) asks A_i != 0 wherever F(x) != F(x')."""

    feature: int = 0
    axiom = "sensitivity_a"

    @property
    def changed(self) -> Tensor:
        """Rows where F(x) != F(x') (where sensitivity(a) applies), bool (N,)."""
        return self.F(self.inputs) != self.F(self.baseline)

    def _truth(self) -> dict:
        return {"feature": self.feature}


@st.composite
def single_feature_changes(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
    min_gap: float = 1e-3,
    domain=DEFAULT_DOMAIN,
    batch=st.integers(1, 4),
    dtype: torch.dtype = torch.float64,
) -> SingleFeatureChange:
    """:class:`SingleFeatureChange`: x' is x with feature i moved elsewhere in the domain."""
    a, b = _check_domain(domain)
    if not 0 < min_gap <= (b - a) / 2:
        raise InvalidArgument(f"min_gap={min_gap!r} must be in (0, (b - a) / 2].")
    net = draw(networks(n_features=n_features, depth=depth, width=width, activations=activations,
                        bias=bias, n_outputs=n_outputs, dtype=dtype))
    n, k = net.n_features, net.n_outputs
    m = draw(_strategy(batch, "batch"))
    x = draw(inputs(n, domain=domain, batch=m, dtype=dtype))
    i = draw(st.integers(0, n - 1))
    xb = x.clone()
    for r in range(m):
        v = draw(_coordinates(domain, dtype))
        xi = float(x[r, i])
        if abs(v - xi) < min_gap:  # move by at least min_gap, staying in the domain
            v = xi + min_gap if xi + min_gap <= b else xi - min_gap
        xb[r, i] = v
        if bool(xb[r, i] == x[r, i]):  # min_gap below the dtype's resolution here
            xb[r, i] = a if xi - a > b - xi else b
    return SingleFeatureChange(net, x, xb, draw(_targets(k, m)), (a, b), feature=i)


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


@dataclass(frozen=True, eq=False)
class AffineMapCase(_Case):
    """An affine map T of feature ``feature`` (``scale`` != 0, ``shift``) and
    ``transformed_model`` = F ∘ T⁻¹: affine scale invariance (002 §2.2 and footnote 9)
    asks A(x, x', F) = A(T(x), T(x'), F ∘ T⁻¹); ``transformed_inputs`` = T(x),
    ``transformed_baseline`` = T(x') (they may leave the domain)."""

    feature: int = 0
    scale: float = 1.0
    shift: float = 0.0
    transformed_model: AffineInput = None
    transformed_inputs: Tensor = None
    transformed_baseline: Tensor = None
    axiom = "asi"

    def _truth(self) -> dict:
        return {"feature": self.feature, "scale": self.scale, "shift": self.shift,
                "transformed_model": self.transformed_model}


@st.composite
def affine_maps(
    draw,
    *,
    n_features=_NET_DEFAULTS["n_features"],
    depth=_NET_DEFAULTS["depth"],
    width=_NET_DEFAULTS["width"],
    activations=_NET_DEFAULTS["activations"],
    bias=_NET_DEFAULTS["bias"],
    n_outputs=_NET_DEFAULTS["n_outputs"],
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
    scale = draw(_strategy(scales, "scales"))
    shift = draw(_strategy(shifts, "shifts"))
    if not (math.isfinite(scale) and math.isfinite(shift)) or scale == 0:
        raise InvalidArgument(f"scales must draw finite non-zero floats and shifts finite floats; drew {scale!r}, {shift!r}.")
    composed = AffineInput(net.model, i, scale, shift, n, dtype)
    m = draw(_strategy(batch, "batch"))
    x, xb = draw(_points(n, m, domain, dtype))
    return AffineMapCase(
        net, x, xb, draw(_targets(k, m)), _check_domain(domain),
        feature=i, scale=float(scale), shift=float(shift), transformed_model=composed,
        transformed_inputs=composed.transform(x), transformed_baseline=composed.transform(xb),
    )
