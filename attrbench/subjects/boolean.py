"""Boolean circuits as exact ReLU networks (001 §4.1; 000 Figure 4).

001 §4.1 studies parity, majority and OR on n = 4 inputs and the supplement (000,
Figure 4) builds XOR and AND from ReLU units. ``circuit(fn, n)`` returns a
:class:`~attrbench.subjects.registry.Subject` whose model is a small ``nn.Sequential`` of
``nn.Linear`` and ``nn.ReLU`` with integer weights and biases, so on every point of
{0, 1}^n every pre-activation is a small integer and ``model(x)`` equals ``f(x)``
exactly, in float32 as in float64.

Conventions shared by every circuit:

* ``inputs`` holds all 2^n points; row k has ``x_i = (k >> i) & 1``.
* ``model(inputs)`` has shape (2^n, 1); ``targets`` are zeros (the single column).
* ``baseline`` is ``zeros(n)`` (broadcasts to ``inputs``); every function here has
  f(0) = 0, so the baseline scores 0.
* ``domain`` is (0.0, 1.0). Every Boolean input lies on a kink of some ReLU (for the
  dictator only on the boundary x_0 = 0, where torch's ReLU'(0) = 0), hence the tags
  ``relu`` and ``nonsmooth``; ``bias`` is added when some layer has a nonzero bias.
* ``truth`` holds ``truth_table`` (LongTensor (2^n,), computed from the definition of f,
  not from the network), ``fn``, ``n``, ``relevant`` (the variables f depends on, found
  by flipping each bit over the whole table) and the function's parameters.

The standard set ``boolean/<fn>_<n>`` for the eight functions and n in (4, 8) is
registered at import, and, outside it, ``boolean_pairs/and2_<n>`` (n in (4, 8)): a junta of
two interacting variables, f = x₀ ∧ x₁, plus n − 2 dummies — a planted pair for the interaction
checks (attrbench.checks.interactions); ``pair_junta(n)`` builds it.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Sequence

from attrbench.errors import AttrbenchError, InputShapeError
from attrbench.subjects.registry import Subject, register_subject

#: The circuits ``circuit`` knows, in registration order.
FUNCTIONS = ("parity", "majority", "or", "and", "dictator", "tribes", "threshold", "junta")

#: Input widths ``circuit`` accepts (2^12 = 4096 rows at most).
MIN_N, MAX_N = 2, 12

#: Input widths of the registered standard set.
STANDARD_N = (4, 8)

_BASE_TAGS = frozenset({"boolean", "relu", "nonsmooth"})


class UnknownCircuitError(AttrbenchError, ValueError):
    """``circuit`` was asked for a Boolean function it does not build."""


# --------------------------------------------------------------------------- parameters


def _check(fn: str, n: int) -> None:
    if not isinstance(fn, str) or fn not in FUNCTIONS:
        near = difflib.get_close_matches(str(fn).lower(), FUNCTIONS, n=3)
        hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
        raise UnknownCircuitError(
            f"unknown Boolean function {fn!r}.{hint} Valid names: {', '.join(FUNCTIONS)}."
        )
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_N <= n <= MAX_N:
        raise InputShapeError(
            f"boolean circuit {fn!r}: n = {n!r} inputs is out of range; "
            f"use an integer {MIN_N} <= n <= {MAX_N} (the subject enumerates all 2^n inputs)."
        )


def majority_cut(n: int) -> int:
    """Majority is 1 when s = Σ x_i ≥ n/2, i.e. s ≥ ceil(n/2)."""
    return -(-n // 2)


def junta_k(n: int) -> int:
    """The junta is parity of the first k = min(3, n) variables; the rest are dummies."""
    return min(3, n)


def tribes_blocks(n: int) -> list[list[int]]:
    """Consecutive blocks of width w = max(2, round(log2 n)); the last block may be shorter.

    n = 4 -> [[0, 1], [2, 3]]; n = 8 -> [[0, 1, 2], [3, 4, 5], [6, 7]].
    """
    w = max(2, round(math.log2(n)))
    return [list(range(i, min(i + w, n))) for i in range(0, n, w)]


def threshold_params(n: int) -> tuple[list[int], int]:
    """Weights w_i = i + 1 and threshold θ = floor(Σ w_i / 2) = floor(n(n+1)/4).

    The floor (rather than the ceiling) keeps every variable relevant for every n in
    2..12 (with the ceiling, n = 2 would give f = x_1).
    """
    weights = [i + 1 for i in range(n)]
    return weights, sum(weights) // 2


def tags_for(fn: str) -> frozenset[str]:
    """The tags ``circuit(fn, n)`` carries (the same for every n): all but the
    dictator's network have a nonzero bias."""
    return _BASE_TAGS if fn == "dictator" else _BASE_TAGS | {"bias"}


# --------------------------------------------------------------------------- definitions


def evaluate(fn: str, n: int, bits: Sequence[int]) -> int:
    """f(x) from the definition of ``fn`` (pure Python; used for ``truth_table``)."""
    s = sum(bits)
    if fn == "parity":
        return s % 2
    if fn == "majority":
        return int(2 * s >= n)
    if fn == "or":
        return int(s >= 1)
    if fn == "and":
        return int(s == n)
    if fn == "dictator":
        return bits[0]
    if fn == "tribes":
        return int(any(all(bits[i] for i in block) for block in tribes_blocks(n)))
    if fn == "threshold":
        weights, theta = threshold_params(n)
        return int(sum(w * b for w, b in zip(weights, bits)) >= theta)
    if fn == "junta":
        return sum(bits[: junta_k(n)]) % 2
    raise UnknownCircuitError(f"unknown Boolean function {fn!r}; valid names: {', '.join(FUNCTIONS)}.")


def _symmetric_terms(values: Sequence[int]) -> list[tuple[int, int]]:
    """(c_j, j) with g(s) = Σ_j c_j ReLU(s − j) equal to values[s] for s = 0..m.

    g is the piecewise-linear interpolant of the values at integer s (values[0] must be 0):
    c_j = slope_j − slope_{j−1}, slope_j = values[j+1] − values[j], slope_{−1} = 0; zero
    coefficients are dropped.
    """
    if values[0] != 0:
        raise ValueError("symmetric construction expects g(0) = 0")
    out, prev = [], 0
    for j in range(len(values) - 1):
        slope = values[j + 1] - values[j]
        if slope != prev:
            out.append((slope - prev, j))
        prev = slope
    return out


# --------------------------------------------------------------------------- networks


def _linear(weight, bias, dtype):
    import torch
    from torch import nn

    weight = torch.tensor(weight, dtype=dtype)
    has_bias = any(b != 0 for b in bias)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if has_bias:
            layer.bias.copy_(torch.tensor(bias, dtype=dtype))
    return layer


def _sum_of_relus(n, variables, terms, dtype):
    """Linear(n, H) -> ReLU -> Linear(H, 1): Σ_j c_j ReLU(Σ_{i∈variables} x_i − j)."""
    from torch import nn

    hidden = [[1 if i in variables else 0 for i in range(n)] for _ in terms]
    return nn.Sequential(
        _linear(hidden, [-j for _, j in terms], dtype),
        nn.ReLU(),
        _linear([[c for c, _ in terms]], [0], dtype),
    )


def _symmetric(n, variables, g, dtype):
    """f(x) = g(s), s = Σ_{i∈variables} x_i, as Σ_j c_j ReLU(s − j) (see _symmetric_terms)."""
    return _sum_of_relus(n, variables, _symmetric_terms([g(s) for s in range(len(variables) + 1)]), dtype)


def _parity(n, dtype):
    """Parity: the interpolant of s mod 2 — ReLU(s) − 2 ReLU(s−1) + 2 ReLU(s−2) − … (n hidden
    units; the "sum then fold" form of 000 Fig. 4's recursive XOR)."""
    return _symmetric(n, range(n), lambda s: s % 2, dtype)


def _majority(n, dtype):
    """Majority: ReLU(s − m + 1) − ReLU(s − m), m = ceil(n/2) (a unit step at s = m)."""
    m = majority_cut(n)
    return _symmetric(n, range(n), lambda s: int(s >= m), dtype)


def _or(n, dtype):
    """OR: min(1, s) = ReLU(s) − ReLU(s − 1)."""
    return _symmetric(n, range(n), lambda s: int(s >= 1), dtype)


def _and(n, dtype):
    """AND: ReLU(s − (n − 1)) (000 Fig. 4's AND unit, widened to n inputs)."""
    return _symmetric(n, range(n), lambda s: int(s == n), dtype)


def _dictator(n, dtype):
    """Dictator f = x_0: ReLU(x_0) through one hidden unit, no bias anywhere."""
    return _sum_of_relus(n, [0], [(1, 0)], dtype)


def _threshold(n, dtype):
    """Weighted threshold 1[S ≥ θ], S = Σ (i+1) x_i: ReLU(S − θ + 1) − ReLU(S − θ)."""
    from torch import nn

    weights, theta = threshold_params(n)
    return nn.Sequential(
        _linear([weights, weights], [1 - theta, -theta], dtype),
        nn.ReLU(),
        _linear([[1, -1]], [0], dtype),
    )


def _tribes(n, dtype):
    """Tribes: AND of block B is a_B = ReLU(Σ_B x_i − (|B| − 1)); OR of the a_B is
    min(1, t) = ReLU(t) − ReLU(t − 1), t = Σ_B a_B (three Linear layers)."""
    from torch import nn

    blocks = tribes_blocks(n)
    ands = [[1 if i in block else 0 for i in range(n)] for block in blocks]
    ones = [1] * len(blocks)
    return nn.Sequential(
        _linear(ands, [1 - len(block) for block in blocks], dtype),
        nn.ReLU(),
        _linear([ones, ones], [0, -1], dtype),
        nn.ReLU(),
        _linear([[1, -1]], [0], dtype),
    )


def _junta(n, dtype):
    """Junta: parity of the first k = min(3, n) inputs by the symmetric construction on
    those inputs only; the weights of x_k..x_{n−1} are zero."""
    return _symmetric(n, range(junta_k(n)), lambda s: s % 2, dtype)


_BUILDERS = {
    "parity": _parity,
    "majority": _majority,
    "or": _or,
    "and": _and,
    "dictator": _dictator,
    "tribes": _tribes,
    "threshold": _threshold,
    "junta": _junta,
}

_DESCRIPTIONS = {
    "parity": "1 when an odd number of the {n} inputs is 1",
    "majority": "1 when at least {n}/2 of the inputs are 1",
    "or": "OR of {n} inputs",
    "and": "AND of {n} inputs",
    "dictator": "f = x_0 of {n} inputs (the rest are dummies)",
    "tribes": "OR of ANDs over consecutive blocks of the {n} inputs",
    "threshold": "1 when sum (i+1) x_i reaches half the total weight, {n} inputs",
    "junta": "parity of the first min(3, n) of {n} inputs (the rest are dummies)",
}


def _description(fn: str, n: int) -> str:
    return f"Boolean circuit: {_DESCRIPTIONS[fn].format(n=n)}, as an exact ReLU network (001 §4.1)."


def all_inputs(n: int, dtype=None):
    """All 2^n points of {0, 1}^n; row k has x_i = (k >> i) & 1."""
    import torch

    from attrbench.functional import bit_masks

    return bit_masks(torch.arange(2**n), n).to(dtype or torch.get_default_dtype())


def _relevant(table: list[int], n: int) -> list[int]:
    """Variables i with f(x) != f(x XOR e_i) for some x (enumerated)."""
    return [i for i in range(n) if any(table[k] != table[k ^ (1 << i)] for k in range(2**n))]


def circuit(fn: str, n: int, *, dtype=None) -> Subject:
    """The Boolean function ``fn`` of ``n`` inputs (2 ≤ n ≤ 12) as an exact ReLU network.

    ``fn`` is one of :data:`FUNCTIONS`; each builder's docstring states its construction.
    ``dtype`` defaults to torch's default dtype. The network is checked against the
    truth table (computed from the definition) on all 2^n inputs before it is returned.
    """
    import torch

    _check(fn, n)
    dtype = dtype or torch.get_default_dtype()
    model = _BUILDERS[fn](n, dtype)
    inputs = all_inputs(n, dtype)
    table = [evaluate(fn, n, [(k >> i) & 1 for i in range(n)]) for k in range(2**n)]
    truth_table = torch.tensor(table, dtype=torch.long)
    with torch.no_grad():
        out = model(inputs)
    if not torch.equal(out, truth_table.to(dtype).unsqueeze(1)):  # pragma: no cover - a bug guard
        raise RuntimeError(f"boolean/{fn}_{n}: the network disagrees with the truth table.")

    has_bias = any(getattr(m, "bias", None) is not None for m in model.modules())
    tags = _BASE_TAGS | ({"bias"} if has_bias else set())
    truth = {"truth_table": truth_table, "fn": fn, "n": n, "relevant": _relevant(table, n)}
    if fn == "majority":
        truth["cut"] = majority_cut(n)
    elif fn == "tribes":
        truth["blocks"] = tribes_blocks(n)
    elif fn == "threshold":
        truth["weights"], truth["threshold"] = threshold_params(n)
    elif fn == "junta":
        truth["k"] = junta_k(n)
    return Subject(
        name=f"boolean/{fn}_{n}",
        model=model,
        inputs=inputs,
        targets=torch.zeros(2**n, dtype=torch.long),
        baseline=torch.zeros(n, dtype=dtype),
        domain=(0.0, 1.0),
        tags=tags,
        truth=truth,
        description=_description(fn, n),
    )


def _standard_factory(fn: str, n: int) -> functools.partial:
    """``partial(circuit, fn, n)`` that names this module as its home.

    A bare partial reports ``__module__ == "functools"``, and the registry claims an entry
    as built-in by its module, so the attribute is set here.
    """
    factory = functools.partial(circuit, fn, n)
    factory.__module__ = __name__
    factory.__qualname__ = f"circuit[{fn}, {n}]"
    return factory


for _fn in FUNCTIONS:
    for _n in STANDARD_N:
        register_subject(f"boolean/{_fn}_{_n}", tags=tags_for(_fn), description=_description(_fn, _n))(
            _standard_factory(_fn, _n)
        )
del _fn, _n


def pair_junta(n: int, *, dtype=None) -> Subject:
    """f = x₀ ∧ x₁ on n inputs (the rest dummies) as ReLU(x₀ + x₁ − 1), with every convention of
    :func:`circuit` (inputs, targets, zero baseline, truth table from the definition, checked
    against the network); ``truth["fn"]`` is ``"pair_junta"`` and ``truth["pair"]`` = (0, 1)."""
    import torch

    _check("junta", n)
    dtype = dtype or torch.get_default_dtype()
    model = _symmetric(n, range(2), lambda s: int(s == 2), dtype)
    inputs = all_inputs(n, dtype)
    table = [int(k & 3 == 3) for k in range(2**n)]
    truth_table = torch.tensor(table, dtype=torch.long)
    with torch.no_grad():
        if not torch.equal(model(inputs), truth_table.to(dtype).unsqueeze(1)):  # pragma: no cover - a bug guard
            raise RuntimeError(f"boolean_pairs/and2_{n}: the network disagrees with the truth table.")
    return Subject(
        name=f"boolean_pairs/and2_{n}", model=model, inputs=inputs, targets=torch.zeros(2**n, dtype=torch.long),
        baseline=torch.zeros(n, dtype=dtype), domain=(0.0, 1.0), tags=_BASE_TAGS | {"bias"},
        truth={"truth_table": truth_table, "fn": "pair_junta", "n": n, "relevant": _relevant(table, n), "pair": (0, 1)},
        description=_pair_description(n),
    )  # fmt: skip


def _pair_description(n: int) -> str:
    return f"Boolean circuit: x_0 AND x_1 of {n} inputs (a planted interacting pair plus dummies), exact ReLU network."


for _n in STANDARD_N:
    _factory = functools.partial(pair_junta, _n)
    _factory.__module__ = __name__
    _name, _tags = f"boolean_pairs/and2_{_n}", _BASE_TAGS | {"bias"}
    register_subject(_name, tags=_tags, description=_pair_description(_n))(_factory)
del _n, _factory, _name, _tags
