"""Two honest methods, registered with ``@attrbench.register_method`` on import.

Each claim is justified next to it; the axioms suite checks every claim on every subject
the claim is not scoped away from, and a violated claim fails ``attrbench run``.
"""

from __future__ import annotations

import torch

import attrbench
from attrbench.functional import as_targets, expand_baseline, gradient, repeat_targets


@attrbench.register_method(
    "example_gradient_x_input",
    # dummy: a feature F does not depend on has ∂F/∂xᵢ = 0, so xᵢ·∂F/∂xᵢ = 0.
    # linearity: x ⊙ ∇(aF + bG) = a·(x ⊙ ∇F) + b·(x ⊙ ∇G).
    claims=("dummy", "linearity"),
    needs_baseline=False,
    differentiable=True,
    kind="gradient",
    reference="Shrikumar et al. 2016: x ⊙ ∂F/∂x (attrbench example plugin)",
)
def example_gradient_x_input(model, x, target, baseline):
    """Gradient × input; ignores the baseline."""
    return x * gradient(model, x, as_targets(target, len(x), x.device))


@attrbench.register_method(
    "example_integrated_gradients",
    # completeness: Σᵢ IGᵢ = F(x) − F(x′) up to the quadrature error of n_steps midpoints
    # (well inside the suite's 5 % tolerance at 64 steps); dummy and linearity: a
    # weighted sum of gradients along a fixed path (Sundararajan et al. 2017, §3).
    claims=("completeness", "dummy", "linearity"),
    needs_baseline=True,
    differentiable=False,
    kind="path",
    reference="Sundararajan et al. 2017, Eq. 1, midpoint rule (attrbench example plugin)",
)
def example_integrated_gradients(model, x, target, baseline, *, n_steps: int = 64):
    """Integrated gradients along the straight line from the baseline (zeros if None)."""
    x = x.detach()
    baseline = expand_baseline(baseline, x)
    alphas = (torch.arange(n_steps, dtype=x.dtype, device=x.device) + 0.5) / n_steps
    shape = (n_steps,) + (1,) * x.dim()
    points = baseline + alphas.view(shape) * (x - baseline)  # (n_steps, N, ...): one batched pass
    targets = repeat_targets(as_targets(target, len(x), x.device), n_steps)
    grads = gradient(model, points.reshape(-1, *x.shape[1:]), targets, create_graph=False).reshape(points.shape)
    return (x - baseline) * grads.mean(0)
