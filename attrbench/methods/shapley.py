"""Shapley values by permutation sampling (Castro et al. 2009; Štrumbelj & Kononenko 2010)."""

from __future__ import annotations

import torch

from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, evaluate_hybrids, expand_baseline
from attrbench.methods.registry import BATCH_SIZE_OPTION, SEED_OPTION, Option, register_method


@register_method(
    "shapley_sampling",
    claims=("completeness", "sensitivity_a", "dummy", "linearity", "implementation_invariance", "ndp", "asi"),
    needs_baseline=True,
    differentiable=False,
    kind="sampling",
    reference="Castro et al. 2009, Eq. 4 (permutation estimator of the Shapley value); Lundberg & Lee 2017",
    options={"n_samples": Option(int, low=1), "seed": SEED_OPTION, "internal_batch_size": BATCH_SIZE_OPTION},
)
def shapley_sampling(
    model,
    x,
    target,
    baseline,
    *,
    n_samples: int = 25,
    seed: int = 0,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """φᵢ ≈ mean over ``n_samples`` random feature orders π of F(x_{pre(i) ∪ {i}}) − F(x_{pre(i)}),
    where x_S takes features in S from x and the rest from the baseline. Features are
    input elements; the orders come from a generator seeded with ``seed`` and are shared by
    the batch. All (D + 1)·n_samples hybrids per sample go through chunked forward passes.

    Each sampled order telescopes to F(x) − F(x̄), so completeness holds exactly for any
    ``n_samples``; marginal contributions of a dummy feature are 0; the estimator is linear
    in F for fixed orders; marginal contributions are ≥ 0 for F non-decreasing from x̄ to x
    (NDP); it depends only on F's values at hybrids (implementation invariance, ASI); if x
    and x̄ differ only in i every contribution of i is F(x) − F(x̄) (sensitivity(a)).
    Symmetry holds only in expectation over orders, so it is not claimed.
    """
    n, d = len(x), x[0].numel()
    b = expand_baseline(baseline, x)
    t = as_targets(target, n, x.device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ranks = torch.rand((n_samples, d), generator=gen).argsort(1).argsort(1)  # rank of feature i in order p
    steps = d + 1

    def first_k_present(s: slice) -> torch.Tensor:
        idx = torch.arange(s.start, s.stop)
        return ranks[idx // steps] < (idx % steps)[:, None]

    f = evaluate_hybrids(model, x, b, t, first_k_present, n_samples * steps, internal_batch_size)
    marginal = f.reshape(n_samples, steps, n).diff(dim=1)  # (P, D, N): contribution at position j
    per_feature = marginal.gather(1, ranks.to(x.device)[:, :, None].expand(n_samples, d, n))
    return per_feature.mean(0).T.reshape(x.shape)
