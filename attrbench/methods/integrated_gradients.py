"""Integrated Gradients and the straight-line path integral it is built on.

IGᵢ(x, x', F) = (xᵢ − x'ᵢ) ∫₀¹ ∂ᵢF(x' + α(x − x')) dα  (Sundararajan et al. 2017, Eq. 1;
002 Definition 3 with the straight path; 003 Table 1). The integral is a quadrature
rule over ``n_steps`` nodes; all nodes of all samples go through the model in chunked
batched passes of ``internal_batch_size`` points.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import MethodParameterError
from attrbench.methods.output import DEFAULT_BATCH_SIZE, as_targets, expand_baseline, gradient
from attrbench.methods.registry import Claim, register_method

RULES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


@functools.lru_cache(maxsize=64)
def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes α ∈ [0, 1] and weights (summing to 1) of a rule for ∫₀¹ g(α) dα.

    Cached (Gauss–Legendre nodes cost ~1 ms); the arrays are read-only."""
    nodes, weights = _quadrature(rule, n_steps)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def _quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    if n_steps < 1 or (rule == "riemann_trapezoid" and n_steps < 2):
        raise MethodParameterError(f"n_steps={n_steps} is too small for the {rule} rule.")
    k = np.arange(n_steps, dtype=np.float64)
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1) / 2, weights / 2
    if rule == "riemann_left":
        return k / n_steps, np.full(n_steps, 1 / n_steps)
    if rule == "riemann_right":
        return (k + 1) / n_steps, np.full(n_steps, 1 / n_steps)
    if rule == "riemann_middle":
        return (k + 0.5) / n_steps, np.full(n_steps, 1 / n_steps)
    if rule == "riemann_trapezoid":
        w = np.full(n_steps, 1 / (n_steps - 1))
        w[[0, -1]] /= 2
        return k / (n_steps - 1), w
    raise MethodParameterError(f"unknown integration rule {rule!r}; choose one of {', '.join(RULES)}.")


def line_integral(
    model,
    start: Tensor,
    end: Tensor,
    targets: Tensor,
    *,
    n_steps: int,
    integration: str,
    internal_batch_size: int | None,
) -> Tensor:
    """(end − start) ⊙ ∫₀¹ ∇F(start + α(end − start)) dα for a batch of segments."""
    alphas, weights = quadrature(integration, n_steps)
    a = torch.tensor(alphas, dtype=start.dtype, device=start.device)
    w = torch.tensor(weights, dtype=start.dtype, device=start.device)
    shape = (n_steps,) + (1,) * start.dim()
    delta = end - start
    points = (start.unsqueeze(0) + a.view(shape) * delta.unsqueeze(0)).reshape(-1, *start.shape[1:])
    grads = gradient(model, points, targets.repeat(n_steps), internal_batch_size)
    mean_grad = (grads.reshape(n_steps, *start.shape) * w.view(shape)).sum(0)
    return delta * mean_grad


@register_method(
    "integrated_gradients",
    claims=(
        "completeness",
        "sensitivity_a",
        "dummy",
        "linearity",
        "symmetry",
        "implementation_invariance",
        "ndp",
        "asi",
        Claim("lipschitz", frozenset({"relu", "nonsmooth"})),
    ),
    needs_baseline=True,
    kind="path",
    reference="Sundararajan et al. 2017, Eq. 1; 002 §2.2 (axioms), §4 (NDP), Theorem 4 (Lipschitz)",
)
def integrated_gradients(
    model,
    x,
    target,
    baseline,
    *,
    n_steps: int = 50,
    integration: str = "gausslegendre",
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """IG along the straight line from ``baseline`` (zeros when None) to ``x``.

    Claims (002 §2.2): completeness, sensitivity(a), dummy, linearity, symmetry,
    implementation invariance and ASI hold for IG; NDP holds because the straight line is
    a monotone path (002 §4); Lipschitz continuity holds for C¹ F with Lipschitz gradient
    (002 Theorem 4) and fails on ReLU/max networks (002 App. J), hence ``unless``. The
    quadrature makes completeness hold up to an error that shrinks with ``n_steps``.
    """
    b = expand_baseline(baseline, x)
    t = as_targets(target, len(x), x.device)
    return line_integral(
        model, b, x, t, n_steps=n_steps, integration=integration, internal_batch_size=internal_batch_size
    )
