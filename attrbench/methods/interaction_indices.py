"""The pairwise interaction indices as order-2 methods: exact by enumeration or sampled.

Each method returns, from ``interactions``, the (N, F, F) matrix of its index (pairs off the
diagonal, the index's order-1 terms on it; attrbench.methods.interactions) and, from
``attribute``, those order-1 terms shaped like x. ``exact=True`` enumerates all 2^F
coalitions (F ≤ 16); the default is the sampled estimator below.

**Sampled estimator** (one for the three indices). Each index is an expectation of a
discrete derivative over a distribution p of coalitions: I_ij = E_{T∼p₂}[Δ_ij v(T)], T ⊆
[F]∖{i,j}, Δ_ij v(T) = v(T∪ij) − v(T∪i) − v(T∪j) + v(T), and the order-1 terms are
E_{T∼p₁}[Δ_i v(T)], T ⊆ [F]∖{i} — with p₂(T) = 1/((F−1) C(F−2,|T|)) and p₁(T) = 1/(F C(F−1,|T|))
for Shapley (Grabisch & Roubens 1999), p₂ = 2^{−(F−2)} and p₁ = 2^{−(F−1)} for Banzhaf, p₂(T) =
(2/F)/C(F−1,|T|) for Shapley–Taylor (Sundararajan et al. 2020; its order-1 terms m({i}) =
v({i}) − v(∅) are computed exactly). ``n_samples`` coalitions R are drawn once for the batch
(seeded by ``seed``): uniformly over all 2^F subsets for Banzhaf, otherwise with |R| uniform
on 0..F and R uniform given its size. Every pair and feature reuses every draw, with T =
R∖{i,j} (R∖{i}) weighted by p(T)/q(T), q the probability that the draw gives T (importance
sampling). The weight is 1 for Banzhaf and also for Shapley — a size-uniform R, with one or two
features removed, has exactly the Shapley (interaction) distribution (tests/test_interactions.py
checks it) — and 2(F − 1 − |T|)/F for Shapley–Taylor. The derivatives need v at R and at R with one or two bits
toggled: **budget** n_samples · (1 + F + F(F−1)/2) forward passes per sample (n_samples ·
(1 + F) for ``attribute``), in chunked batches. Each entry is an **unbiased** estimate for
any n_samples (a mean of importance-weighted terms with known proposal probabilities), and
the matrix is symmetric by construction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, evaluate_hybrids, expand_baseline
from attrbench.methods.interactions import exact_interactions
from attrbench.methods.registry import BATCH_SIZE_OPTION, SEED_OPTION, Option, register_method

_OPTIONS = {
    "exact": Option(choices=(False, True)),
    "n_samples": Option(int, low=1),
    "seed": SEED_OPTION,
    "internal_batch_size": BATCH_SIZE_OPTION,
}


def _comb(n: int, k: Tensor) -> Tensor:
    """C(n, k) elementwise for integer tensors k (0 outside 0..n), float64."""
    k = k.double()
    inside = (k >= 0) & (k <= n)
    k = k.clamp(0, max(n, 0))
    log = math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    return torch.where(inside, log.exp().round(), torch.zeros_like(log))


def _target(index: str, features: int, t: Tensor, order: int) -> Tensor:
    """p(T) of the module doc for coalitions of size t (order 2: T ⊆ [F]∖{i,j}; 1: T ⊆ [F]∖{i})."""
    f = features
    if index == "banzhaf_interaction":
        return torch.full_like(t, 2.0 ** -(f - order))
    if index == "shapley_interaction":
        return 1 / ((f - order + 1) * _comb(f - order, t)) if order == 2 else 1 / (f * _comb(f - 1, t))
    return (2 / f) / _comb(f - 1, t)  # shapley_taylor, order 2


def _proposal(index: str, features: int, t: Tensor, order: int) -> Tensor:
    """q(T): the probability that R∖{i,j} (order 2) or R∖{i} (order 1) equals a given T of size t."""
    f = features
    if index == "banzhaf_interaction":
        return torch.full_like(t, 2.0 ** -(f - order))
    ways = (1, 2, 1) if order == 2 else (1, 1)  # C(order, a) ways to add a removed features back
    return sum(w / ((f + 1) * _comb(f, t + a)) for a, w in enumerate(ways))


def _draws(index: str, features: int, n_samples: int, seed: int) -> Tensor:
    """Bool (n_samples, F): the coalitions R (see the module doc)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if index == "banzhaf_interaction":
        return torch.rand((n_samples, features), generator=gen) < 0.5
    sizes = torch.randint(0, features + 1, (n_samples, 1), generator=gen)
    ranks = torch.rand((n_samples, features), generator=gen).argsort(1).argsort(1)
    return ranks < sizes


def sampled_interactions(model, x, target, baseline, index: str, n_samples: int, seed: int,
                         batch_size: int | None = DEFAULT_BATCH_SIZE, pairs: bool = True) -> Tensor:  # fmt: skip
    """The sampled estimate of ``index`` (module doc): (N, F, F) with ``pairs``, else the
    order-1 terms (N, F). Float64."""
    n, f = len(x), x[0].numel()
    b = expand_baseline(baseline, x)
    t = as_targets(target, n, x.device)
    if index == "shapley_taylor" and not pairs:
        return _singletons(model, x, b, t, batch_size)
    draws = _draws(index, f, n_samples, seed)
    i, j = torch.triu_indices(f, f, 1) if pairs else (torch.zeros(0, dtype=torch.long),) * 2
    eye = torch.eye(f, dtype=torch.bool)
    toggles = torch.cat([torch.zeros(1, f, dtype=torch.bool), eye, eye[i] | eye[j]])  # (P, F)
    points = len(toggles)

    def members(s: slice) -> Tensor:
        idx = torch.arange(s.start, s.stop)
        return draws[idx // points] ^ toggles[idx % points]

    values = evaluate_hybrids(model, x, b, t, members, n_samples * points, batch_size).double()
    values = values.reshape(n_samples, points, n)
    v0, v1, v2 = values[:, :1], values[:, 1 : 1 + f], values[:, 1 + f :]  # (K, ., N)
    r = draws.double().to(x.device)  # (K, F)
    size = r.sum(1, keepdim=True)
    if index == "shapley_taylor":
        first = _singletons(model, x, b, t, batch_size)  # (N, F)
    else:
        sign1 = 2 * r - 1  # Δ_i v(R∖{i}) = (−1)^{r_i + 1} (v(R) − v(R ⊕ i))
        w1 = _target(index, f, size - r, 1) / _proposal(index, f, size - r, 1)
        first = ((sign1 * w1)[:, :, None] * (v0 - v1)).mean(0).T
    if not pairs:
        return first
    sign2 = (1 - 2 * r[:, i]) * (1 - 2 * r[:, j])  # (−1)^{r_i + r_j}
    rest = size - r[:, i] - r[:, j]
    w2 = _target(index, f, rest, 2) / _proposal(index, f, rest, 2)
    delta = (sign2 * w2)[:, :, None] * (v0 - v1[:, i] - v1[:, j] + v2)
    out = torch.diag_embed(first)
    out[:, i, j] = delta.mean(0).T
    out[:, j, i] = out[:, i, j]
    return out


def _singletons(model, x, b, t, batch_size) -> Tensor:
    """m({i}) = v({i}) − v(∅) for every feature: (N, F), float64."""
    f = x[0].numel()
    eye = torch.cat([torch.zeros(1, f, dtype=torch.bool), torch.eye(f, dtype=torch.bool)])
    values = evaluate_hybrids(model, x, b, t, lambda s: eye[s], f + 1, batch_size).double()
    return (values[1:] - values[:1]).T


def _method(index: str):
    """The ``(attribute, interactions)`` pair of one index's method."""

    def interactions(model, x, target, baseline, *, exact: bool = False, n_samples: int = 64, seed: int = 0,
                     internal_batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:  # fmt: skip
        if exact:
            return exact_interactions(model, x, target, baseline, index, internal_batch_size)
        return sampled_interactions(model, x, target, baseline, index, n_samples, seed,
                                    internal_batch_size).to(x.dtype)  # fmt: skip

    def attribute(model, x, target, baseline, *, exact: bool = False, n_samples: int = 64, seed: int = 0,
                  internal_batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:  # fmt: skip
        if exact:
            pairs = exact_interactions(model, x, target, baseline, index, internal_batch_size)
            return pairs.diagonal(dim1=1, dim2=2).reshape(x.shape).contiguous()
        first = sampled_interactions(model, x, target, baseline, index, n_samples, seed, internal_batch_size,
                                     pairs=False)  # fmt: skip
        return first.to(x.dtype).reshape(x.shape)

    attribute.interactions = interactions
    return attribute


_COMMON = dict(needs_baseline=True, differentiable=False, kind="interaction", order=2, options=_OPTIONS)

shapley_interaction_index = register_method(
    "shapley_interaction_index", index="shapley_interaction",
    reference="Grabisch & Roubens 1999 (Shapley interaction index; order-1 terms: Shapley values)", **_COMMON,
)(_method("shapley_interaction"))  # fmt: skip
shapley_interaction_index.__doc__ = """Shapley interaction index (Grabisch & Roubens 1999): I_ij =
Σ_{T⊇{i,j}} m(T)/(|T| − 1), diagonal and ``attribute`` the Shapley values. ``exact=True``
enumerates 2^F coalitions (F ≤ 16); default: the unbiased sampled estimator of
attrbench.methods.interaction_indices with ``n_samples`` draws (budget n_samples · (1 + F +
F(F−1)/2) passes per sample)."""

banzhaf_interaction_index = register_method(
    "banzhaf_interaction_index", index="banzhaf_interaction",
    reference="Grabisch & Roubens 1999 (Banzhaf interaction index; order-1 terms: Banzhaf values)", **_COMMON,
)(_method("banzhaf_interaction"))  # fmt: skip
banzhaf_interaction_index.__doc__ = """Banzhaf interaction index (Grabisch & Roubens 1999): I_ij =
Σ_{T⊇{i,j}} m(T)/2^{|T|−2}, diagonal and ``attribute`` the Banzhaf values. ``exact=True``
enumerates 2^F coalitions (F ≤ 16); default: the unbiased sampled estimator (uniform
coalitions, plain Monte Carlo) with ``n_samples`` draws (budget n_samples · (1 + F +
F(F−1)/2) passes per sample)."""

shapley_taylor_index = register_method(
    "shapley_taylor_index", index="shapley_taylor",
    reference="Sundararajan, Dhamdhere & Agarwal 2020, The Shapley Taylor Interaction Index (order 2)", **_COMMON,
)(_method("shapley_taylor"))  # fmt: skip
shapley_taylor_index.__doc__ = """Shapley–Taylor interaction index of order 2 (Sundararajan et al.
2020): I_ij = Σ_{T⊇{i,j}} m(T)/C(|T|, 2), diagonal and ``attribute`` m({i}) = v({i}) − v(∅)
(exact, 1 + F passes); the pairs and order-1 terms sum to v([F]) − v(∅) (efficiency).
``exact=True`` enumerates 2^F coalitions (F ≤ 16); default: the unbiased sampled estimator of
the pairs with ``n_samples`` draws (budget n_samples · (1 + F + F(F−1)/2) passes per sample)."""
