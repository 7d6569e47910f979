"""Boolean recovery (001). Until the Boolean issue adds the influence decomposition, this
compares attributions with the exact first-order influences of the circuit."""

from __future__ import annotations

import torch

from attrbench.checks.context import CheckContext, check
from attrbench.results import Outcome


def influences(truth_table: torch.Tensor, n: int) -> torch.Tensor:
    """Infᵢ = P_x[f(x) ≠ f(x ⊕ eᵢ)] by enumeration (001 §2.1); rows ordered by the integer
    whose bit i is xᵢ, so flipping xᵢ is XOR with 2ⁱ."""
    idx = torch.arange(2**n)
    return torch.stack([(truth_table != truth_table[idx ^ (1 << i)]).double().mean() for i in range(n)])


@check(suite="boolean", check="influence_recovery", metric="influence_cosine", direction="higher")
def influence_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """Cosine similarity between mean |Aᵢ| over all 2ⁿ inputs and the exact influences Infᵢ
    (1 = attributions rank and weigh variables exactly as influence does)."""
    n = subject.truth["n"]
    x, t, b = subject.inputs, subject.targets, subject.baseline
    attr = ctx.attribute(method, subject.model, x, t, b, where="influence_recovery")
    mean_abs = attr.abs().mean(0).double().cpu()
    inf = influences(subject.truth["truth_table"].cpu(), n)
    cos = float(mean_abs @ inf / (mean_abs.norm() * inf.norm()).clamp(min=1e-300))
    return Outcome(value=cos, holds=None, details={"mean_abs_attribution": mean_abs, "influence": inf})
