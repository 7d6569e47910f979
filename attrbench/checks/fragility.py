"""Fragility (004). Until the fragility issue adds the targeted attacks, this holds the
random sign perturbation of 004 §3 and the top-k intersection of §2.3."""

from __future__ import annotations

import torch

from attrbench.checks.context import CheckContext, check
from attrbench.results import Outcome

#: Perturbation size as a fraction of the domain width, and top-k as a fraction of features.
EPSILON_FRACTION, TOPK_FRACTION = 0.05, 0.1


def importance(attr: torch.Tensor) -> torch.Tensor:
    """Normalised feature importance R = |A| / Σ|A| (004 §2.1), image channels summed."""
    a = attr.abs()
    if a.dim() == 4:
        a = a.sum(1)
    a = a.reshape(len(a), -1)
    return a / a.sum(1, keepdim=True).clamp(min=torch.finfo(a.dtype).tiny)


def topk_intersection(r1: torch.Tensor, r2: torch.Tensor, k: int) -> torch.Tensor:
    """Fraction of the top-k features of r1 that are also top-k in r2, per sample (004 §2.3)."""
    top1 = torch.zeros_like(r1, dtype=torch.bool).scatter_(1, r1.topk(k, dim=1).indices, True)
    top2 = torch.zeros_like(r2, dtype=torch.bool).scatter_(1, r2.topk(k, dim=1).indices, True)
    return (top1 & top2).sum(1).to(r1.dtype) / k


@check(suite="fragility", check="random_sign", metric="topk_intersection", direction="higher")
def random_sign(method, subject, ctx: CheckContext) -> Outcome:
    """x̃ = clip(x + ε·sign(noise)) with ε = 5 % of the domain width (004 §3); the value is
    the mean top-k intersection (k = 10 % of features) between R(x) and R(x̃) over
    ``scale.n_perturbations`` draws per sample, all draws attributed in one batch."""
    x, t, b = ctx.samples(subject)
    lo, hi = subject.domain
    eps = EPSILON_FRACTION * (hi - lo)
    p = ctx.scale.n_perturbations
    noise = torch.rand((p, *x.shape), generator=ctx.generator).to(x.device) - 0.5
    perturbed = (x.unsqueeze(0) + eps * noise.sign()).clamp(lo, hi).reshape(p * len(x), *x.shape[1:])
    tt = t.repeat(p)
    bb = b.repeat(p, *[1] * (b.dim() - 1)) if b is not None and b.dim() == x.dim() and len(b) == len(x) else b
    r0 = importance(ctx.attribute(method, subject.model, x, t, b, where="random_sign"))
    r1 = importance(ctx.attribute(method, subject.model, perturbed, tt, bb, where="random_sign (perturbed)"))
    k = max(1, round(TOPK_FRACTION * r0.shape[1]))
    inter = topk_intersection(r0.repeat(p, 1), r1, k)
    return Outcome(value=float(inter.mean()), holds=None, details={"epsilon": eps, "k": k, "draws": p, "std": float(inter.std())})
