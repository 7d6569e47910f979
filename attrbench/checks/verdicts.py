"""The two verdict shapes of the residual checks (attrbench.checks.axioms), each keeping
its per-sample values for the leaderboard's intervals (``Outcome.samples``, rule "max").

- ``per_sample_verdict``: one residual per sample against its allowance (completeness,
  dummy, NDP);
- ``equal_outcome``: two attribution vectors per sample that must be equal elementwise
  (linearity, symmetry, implementation invariance, ASI).

The value is the worst sample's residual / scale, where scale = max(|F(x)|, |F(x′)|, 1)
per sample; the details show the sample furthest past its tolerance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attrbench.results import Outcome


def _flat(a: Tensor) -> Tensor:
    return a.reshape(len(a), -1)


def equal_outcome(
    lhs: Tensor, rhs: Tensor, scale: Tensor, details: dict, names: tuple[str, str], *, atol: float, rtol: float
) -> Outcome:
    """Verdict of lhs = rhs (N, D) within atol·scale + rtol·max(|lhs|, |rhs|) elementwise;
    value = the largest per-sample max |lhs − rhs| / scale (samples: each sample's)."""
    lhs, rhs = _flat(lhs), _flat(rhs)
    residual = (lhs - rhs).abs()
    allowed = atol * scale[:, None] + rtol * torch.maximum(lhs.abs(), rhs.abs())
    ratio = residual / allowed
    worst = int(ratio.max(1).values.argmax())
    ok = (residual <= allowed).all(1)
    per_sample = residual.max(1).values / scale
    return Outcome(
        value=float(per_sample.max()),
        holds=bool(ok.all()),
        samples=per_sample.tolist(),
        aggregate="max",
        details={
            **details,
            "sample": worst,
            names[0]: lhs[worst],
            names[1]: rhs[worst],
            "largest residual": residual[worst].max(),
            "violations": int((~ok).sum()),
            "of": len(lhs),
            "tolerance": f"{atol}*max(|F(x)|, |F(x')|, 1) + {rtol}*max(|lhs|, |rhs|), elementwise",
        },
    )


def per_sample_verdict(
    residual: Tensor, allowed: Tensor, scale: Tensor, shown: dict[str, Tensor], details: dict, rule: str
) -> Outcome:
    """Verdict of residual ≤ allowed for every sample; value = worst residual / scale
    (samples: each sample's). The details show ``shown``'s per-sample values at the sample
    furthest past its tolerance, with the residual, its allowance and the count of
    violations."""
    ok = residual <= allowed
    worst = int((residual / allowed).argmax())
    per_sample = residual / scale
    return Outcome(
        value=float(per_sample.max()),
        holds=bool(ok.all()),
        samples=per_sample.tolist(),
        aggregate="max",
        details={
            "sample": worst,
            **details,
            **{name: values[worst] for name, values in shown.items()},
            "residual": residual[worst],
            "allowed": allowed[worst],
            "violations": int((~ok).sum()),
            "of": len(residual),
            "tolerance": rule,
        },
    )
