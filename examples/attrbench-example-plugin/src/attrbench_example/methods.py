"""Two honest methods, registered with ``@attrbench.register_method`` on import.

Each claim is justified next to it; the axioms suite checks every claim on every subject
the claim is not scoped away from, and a violated claim fails ``attrbench run``.
"""

from __future__ import annotations

import torch

import attrbench


def _target_output(model, x, target):
    """F(x) = model(x)[arange(N), target], attrbench's scalar under attribution."""
    out = model(x)
    target = torch.as_tensor(target, device=x.device).long().expand(len(x))
    return out.gather(1, target.view(-1, 1)).squeeze(1)


def _gradient(model, x, target, *, create_graph=False):
    """∂F/∂x for a batch (each sample's output depends only on its own input)."""
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(_target_output(model, x, target).sum(), x, create_graph=create_graph)
    return grad


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
    return x * _gradient(model, x, target, create_graph=x.requires_grad)


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
    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    alphas = (torch.arange(n_steps, dtype=x.dtype, device=x.device) + 0.5) / n_steps
    shape = (n_steps,) + (1,) * x.dim()
    points = baseline + alphas.view(shape) * (x - baseline)  # (n_steps, N, ...): one batched pass
    target = torch.as_tensor(target, device=x.device).long().expand(len(x)).repeat(n_steps)
    grads = _gradient(model, points.reshape(-1, *x.shape[1:]), target).reshape(points.shape)
    return (x - baseline) * grads.mean(0)
