"""Pairwise interaction attributions: the contract of order-2 methods and the exact indices.

**Contract.** A method registered with ``order=2`` has, besides ``attribute``,
``interactions(model, x, target, baseline, **params) -> Tensor`` of shape (N, F, F), F the
features (input elements) per sample: symmetric, the pairwise index I_ij off the diagonal
and that index's order-1 terms on it (each method documents which). ``index`` names the
index it estimates (:data:`INTERACTION_INDICES`), or is None.

**Exact indices.** For F(z) = model(z)[target] the game v(S) = F(x_S, x′_{−S}), S ⊆ [F],
has the Möbius coefficients m(T) = Σ_{S⊆T} (−1)^{|T|−|S|} v(S) (Grabisch & Roubens 1999,
"An axiomatic approach to the concept of interaction among players in cooperative games");
every index below is a fixed linear map of them, I_ij = Σ_{T⊇{i,j}} w(|T|) m(T):

- ``shapley_interaction`` (Grabisch & Roubens 1999, the Shapley interaction index in Möbius
  form): w(t) = 1/(t − 1); its order-1 terms are the Shapley values Σ_{T∋i} m(T)/t;
- ``banzhaf_interaction`` (ibid., the Banzhaf interaction index): w(t) = 1/2^{t−2}; order-1
  terms the Banzhaf values Σ_{T∋i} m(T)/2^{t−1};
- ``shapley_taylor`` of order 2 (Sundararajan, Dhamdhere & Agarwal 2020, "The Shapley Taylor
  Interaction Index", whose I_S = (2/F) Σ_{T⊆[F]∖S} δ_S v(T) / C(F−1, |T|) for |S| = 2 has
  this Möbius form): w(t) = 1/C(t, 2); order-1 terms m({i}) = v({i}) − v(∅).

``coalition_values`` evaluates all 2^F hybrids in one chunked stream of batched forward
passes (F ≤ :data:`MAX_EXACT_FEATURES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from attrbench.errors import InvalidOptionError, MethodParameterError, PluginError
from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, bit_masks, evaluate_hybrids, expand_baseline

#: Pairwise interaction indices an order-2 method may name as what it estimates (``index``).
INTERACTION_INDICES = ("shapley_interaction", "banzhaf_interaction", "shapley_taylor")

#: The most features an exact index enumerates (2^16 coalitions per sample).
MAX_EXACT_FEATURES = 16

#: An interaction matrix counts as symmetric when |I − Iᵀ| ≤ this × max |I| (the guard).
SYMMETRY_RTOL = 1e-6


def check_order(name: str, obj: Callable, order: int, index: str | None) -> None:
    """Refuse an order other than 1 or 2, an order-2 object without ``interactions`` and an
    index outside :data:`INTERACTION_INDICES` (or named by a first-order method)."""
    if order not in (1, 2):
        raise PluginError(f"method {name!r}: order={order!r}; a method is of order 1 (attributions) or 2 "
                          "(attributions and pairwise interactions).")  # fmt: skip
    if order == 2 and not callable(getattr(obj, "interactions", None)):
        raise PluginError(f"method {name!r}: order=2 needs interactions(model, x, target, baseline) returning "
                          "(N, F, F): a method of the class, or an attribute of the function.")  # fmt: skip
    if index is not None and (order != 2 or index not in INTERACTION_INDICES):
        raise PluginError(f"method {name!r}: index={index!r}; an order-2 method may name one of "
                          f"{', '.join(INTERACTION_INDICES)} (or None).")  # fmt: skip


def call_interactions(method, impl, model, x, target, baseline) -> Tensor:
    """``Method.interactions``: refuse a first-order method, check the arguments as
    ``attribute`` does, then call the method's ``interactions``."""
    from attrbench.functional import validate_call

    if impl is None:
        raise MethodParameterError(
            f"method {method.name!r} is a first-order method: it has no interactions(); register a method "
            "with order=2 and an interactions(model, x, target, baseline) to get pairwise attributions."
        )
    validate_call(model, x, target, baseline, distributional=method.distributional)
    return impl(model, x, target, baseline)


def symmetry_gap(pairs: Tensor) -> float:
    """max |I − Iᵀ| / max(max |I|, tiny): 0 for a symmetric matrix."""
    gap = float((pairs - pairs.transpose(-1, -2)).abs().max()) if pairs.numel() else 0.0
    scale = float(pairs.abs().max()) if pairs.numel() else 0.0
    return gap / max(scale, 1e-300)


# -- exact indices by enumeration ---------------------------------------------------------


def check_exact_size(features: int) -> None:
    if features > MAX_EXACT_FEATURES:
        raise InvalidOptionError(
            f"exact interaction indices enumerate all 2^F coalitions; F = {features} features is above "
            f"{MAX_EXACT_FEATURES} (2^{MAX_EXACT_FEATURES} per sample). Use the sampled estimator (exact=False) "
            "or fewer features."
        )


def coalition_values(model, x, target, baseline, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """v(S) = F(x_S, x′_{−S}) for all 2^F coalitions S (coded as integers, bit i: i ∈ S), in
    one chunked stream of batched forward passes: shape (N, 2^F), float64."""
    features = x[0].numel()
    check_exact_size(features)
    b = expand_baseline(baseline, x)
    t = as_targets(target, len(x), x.device)
    codes = torch.arange(2**features)

    def members(s: slice) -> Tensor:
        return bit_masks(codes[s], features)

    return evaluate_hybrids(model, x, b, t, members, 2**features, batch_size).T.double()


def moebius(values: Tensor) -> Tensor:
    """m(T) = Σ_{S⊆T} (−1)^{|T|−|S|} v(S) for every T, along the last dim (2^F entries, T coded
    as an integer), by the fast Möbius transform: F passes of m(T ∪ i) −= m(T)."""
    out = values.clone()
    size = out.shape[-1]
    h = 1
    while h < size:
        view = out.reshape(*out.shape[:-1], -1, 2, h)
        view[..., 1, :] -= view[..., 0, :]
        h *= 2
    return out


def index_weights(index: str, sizes: Tensor) -> tuple[Tensor, Tensor]:
    """(w₂(|T|), w₁(|T|)) for ``index``: I_ij = Σ_{T⊇{i,j}} w₂ m(T), order-1 terms
    Σ_{T∋i} w₁ m(T) (see the module doc)."""
    t = sizes.double()
    if index == "shapley_interaction":
        return 1 / (t - 1).clamp(min=1), 1 / t.clamp(min=1)
    if index == "banzhaf_interaction":
        return 2.0 ** -(t - 2), 2.0 ** -(t - 1)
    if index == "shapley_taylor":
        return 2 / (t * (t - 1)).clamp(min=1), (sizes == 1).double()
    raise InvalidOptionError(f"unknown interaction index {index!r}; choose one of {', '.join(INTERACTION_INDICES)}.")


def indices_from_moebius(m: Tensor, index: str) -> Tensor:
    """The (N, F, F) matrix of ``index`` from Möbius coefficients m (N, 2^F): I_ij off the
    diagonal, the order-1 terms on it."""
    features = int(round(math.log2(m.shape[-1])))
    masks = bit_masks(torch.arange(2**features, device=m.device), features).double()
    w2, w1 = index_weights(index, masks.sum(1))
    pairs = torch.einsum("nt,ti,tj->nij", m * w2, masks, masks)
    first = (m * w1) @ masks
    eye = torch.eye(features, dtype=torch.bool, device=m.device)
    return torch.where(eye, torch.diag_embed(first), pairs)


def exact_interactions(model, x, target, baseline, index: str, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """The exact ``index`` (N, F, F) for every sample, in x's dtype."""
    m = moebius(coalition_values(model, x, target, baseline, batch_size))
    return indices_from_moebius(m, index).to(x.dtype)
