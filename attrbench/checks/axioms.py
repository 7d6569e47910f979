"""Axiom checks (002 §2.2). The axioms issue adds the rest; completeness is here first."""

from __future__ import annotations

import torch

from attrbench.checks.context import CheckContext, check
from attrbench.methods.distributional import reference_set
from attrbench.methods.output import as_targets, expand_baseline, target_output
from attrbench.results import Outcome

#: Completeness tolerance: |Σᵢ Aᵢ − ΔF| ≤ RTOL·|ΔF| + ATOL·max(|F(x)|, |F(x′)|, 1).
#: RTOL = 5 % is Sundararajan et al. 2017 §3's criterion for an adequate integral
#: approximation; ATOL covers float32 cancellation in ΔF.
RTOL, ATOL = 0.05, 1e-4


@check(suite="axioms", check="completeness", metric="completeness_residual", direction="lower", axiom="completeness")
def completeness(method, subject, ctx: CheckContext) -> Outcome:
    """Σᵢ Aᵢ = F(x) − F(x′) (002 axiom 3); for ``kind="distributional"`` methods the
    distributional form Σᵢ Aᵢ = F(x) − E F(X′) over the reference rows (002 App. K).
    Value (↓): the largest residual relative to max(|F(x)|, |F(x′)|, 1)."""
    x, t, b = ctx.samples(subject)
    attr = ctx.attribute(method, subject.model, x, t, b, where="completeness")
    targets = as_targets(t, len(x), x.device)
    with torch.no_grad():
        fx = target_output(subject.model, x, targets)
        if method.kind == "distributional":
            refs = reference_set(b, x)
            f_ref = subject.model(refs)[:, targets].mean(0)
        else:
            f_ref = target_output(subject.model, expand_baseline(b, x), targets)
    delta = fx - f_ref
    total = attr.reshape(len(x), -1).sum(1)
    residual = (total - delta).abs()
    scale = torch.maximum(fx.abs(), f_ref.abs()).clamp(min=1)
    tolerance = RTOL * delta.abs() + ATOL * scale
    ok = residual <= tolerance
    worst = int((residual / tolerance).argmax())  # the sample furthest past its tolerance
    return Outcome(
        value=float((residual / scale).max()),
        holds=bool(ok.all()),
        details={
            "sample": worst,
            "x": x[worst],
            "sum_of_attributions": total[worst],
            "F(x) - F(baseline)": delta[worst],
            "residual": residual[worst],
            "allowed": tolerance[worst],
            "violations": int((~ok).sum()),
            "of": len(x),
            "tolerance": f"{RTOL}*|F(x) - F(x')| + {ATOL}*max(|F(x)|, |F(x')|, 1)",
        },
    )
