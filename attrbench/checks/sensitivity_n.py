"""Sensitivity-n (003 §4). Until the Sensitivity-n issue adds the full subset grid, this
holds the n = 1 case, computed exactly (every subset of size 1 is evaluated)."""

from __future__ import annotations

import torch

from attrbench.checks.context import CheckContext, check
from attrbench.methods.occlusion import single_feature_drops
from attrbench.methods.output import as_targets, expand_baseline
from attrbench.results import Outcome


def per_sample_pcc(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pearson correlation of rows of ``a`` and ``b`` (N, K); also a mask of rows where
    either side has zero variance (PCC undefined there)."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    na, nb = a.norm(dim=1), b.norm(dim=1)
    degenerate = (na == 0) | (nb == 0)
    pcc = (a * b).sum(1) / (na * nb).clamp(min=torch.finfo(a.dtype).tiny)
    return pcc, degenerate


@check(suite="sensitivity_n", check="sensitivity_1", metric="pcc", direction="higher")
def sensitivity_1(method, subject, ctx: CheckContext) -> Outcome:
    """Per sample, the Pearson correlation across features i between Aᵢ and
    F(x) − F(x with xᵢ set to the baseline) (003 §4, n = 1: all size-1 subsets); the
    value is the mean over samples with non-zero variance on both sides, which are
    counted in the details rather than averaged in."""
    x, t, b = ctx.samples(subject)
    attr = ctx.attribute(method, subject.model, x, t, b, where="sensitivity_1").reshape(len(x), -1)
    drop = single_feature_drops(subject.model, x, expand_baseline(b, x), as_targets(t, len(x), x.device))
    pcc, degenerate = per_sample_pcc(attr, drop.to(attr.dtype))
    kept = pcc[~degenerate]
    return Outcome(
        value=float(kept.mean()) if len(kept) else float("nan"),
        holds=None,
        details={"samples": len(x), "zero_variance_samples": int(degenerate.sum()), "pcc_std": float(kept.std()) if len(kept) > 1 else 0.0},
    )
