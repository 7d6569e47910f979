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

from attrbench.errors import InvalidOptionError
from attrbench.functional import (
    DEFAULT_BATCH_SIZE,
    as_targets,
    expand_baseline,
    gradient,
    values_and_gradients,
)
from attrbench.methods.registry import BATCH_SIZE_OPTION, Claim, Option, register_method

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
        least = 2 if rule == "riemann_trapezoid" else 1
        raise InvalidOptionError(f"n_steps={n_steps} is too small for the {rule} rule; use n_steps >= {least}.")
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
    raise InvalidOptionError(
        f"unknown integration rule {rule!r}; choose one of {', '.join(map(repr, RULES))} or {ADAPTIVE!r}."
    )


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
    """(end − start) ⊙ ∫₀¹ ∇F(start + α(end − start)) dα for a batch of segments, by a
    fixed rule of ``RULES`` or by ``"adaptive"`` (:func:`adaptive_line_integral`)."""
    if integration == ADAPTIVE:
        return adaptive_line_integral(
            model, start, end, targets, n_steps=n_steps, internal_batch_size=internal_batch_size
        )
    alphas, weights = quadrature(integration, n_steps)
    a = torch.tensor(alphas, dtype=start.dtype, device=start.device)
    w = torch.tensor(weights, dtype=start.dtype, device=start.device)
    shape = (n_steps,) + (1,) * start.dim()
    delta = end - start
    points = (start.unsqueeze(0) + a.view(shape) * delta.unsqueeze(0)).reshape(-1, *start.shape[1:])
    grads = gradient(model, points, targets.repeat(n_steps), internal_batch_size)
    mean_grad = (grads.reshape(n_steps, *start.shape) * w.view(shape)).sum(0)
    return delta * mean_grad


#: The adaptive rule's name (the default of IG, expected gradients and nonmonotone_path).
ADAPTIVE = "adaptive"
#: ``adaptive_line_integral``: an interval is accepted when its local residual is at
#: most this fraction of the segment's scale (or within float rounding), …
ADAPTIVE_TOL = 1e-6
#: … or after this many levels of refinement.
ADAPTIVE_MAX_DEPTH = 24

#: ``integration``: a rule of RULES or ``"adaptive"``; ``n_steps``: nodes (the rule may need 2).
INTEGRATION_OPTION = Option(choices=(ADAPTIVE, *RULES))
N_STEPS_OPTION = Option(int, low=1)


def adaptive_line_integral(
    model, start: Tensor, end: Tensor, targets: Tensor, *, n_steps: int, internal_batch_size: int | None
) -> Tensor:
    """The straight-line integral by adaptive trapezoids (Kuncir 1962's bisection scheme),
    accurate on piecewise-linear F, where a fixed rule can miss a whole linear region
    between two nodes (a ReLU network).

    Each segment starts as ``n_steps // 2`` intervals [a, b] with midpoint m, so about
    ``n_steps + 1`` gradients are evaluated. An interval is accepted, with the two-trapezoid
    value (b − a)/4 · (∇F(a) + 2∇F(m) + ∇F(b)) ⊙ Δ, when (1) that differs from the
    one-trapezoid value by at most the tolerance in every feature and (2) it sums to
    F(b) − F(a) within the tolerance (the completeness residual of the interval, which
    also sees a region entered and left between the nodes). Otherwise it is halved; every
    such interval of every segment is refined in one batched pass per level. Tolerance:
    ADAPTIVE_TOL · max(|F(start)|, |F(end)|, 1), at least 64 float epsilons of it; after
    ADAPTIVE_MAX_DEPTH levels an interval is accepted as it is. Criterion (1) is per
    feature, so the refinement of αF + βG is that of F and G unless their kinks cancel in
    every feature at once: linearity holds to the tolerance."""
    if n_steps < 2:
        raise InvalidOptionError(
            f"n_steps={n_steps} is too small for the {ADAPTIVE!r} rule; use n_steps >= 2 (or another integration rule)."
        )
    n, shape = len(start), start.shape[1:]
    delta = end - start
    flat_delta = delta.reshape(n, -1)
    eps = torch.finfo(start.dtype).eps

    def at(seg: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """F and ∇F (flattened) at start[seg] + alpha·delta[seg]."""
        view = alpha.view(-1, *[1] * len(shape))
        points = start[seg] + view * delta[seg]
        f, g = values_and_gradients(model, points, targets[seg], internal_batch_size)
        return f, g.reshape(len(seg), -1)

    k = n_steps // 2
    grid = torch.linspace(0, 1, 2 * k + 1, dtype=start.dtype, device=start.device)
    f, g = at(torch.arange(n, device=start.device).repeat_interleave(2 * k + 1), grid.repeat(n))
    f, g = f.view(n, 2 * k + 1), g.view(n, 2 * k + 1, -1)
    scale = torch.maximum(torch.maximum(f[:, 0].abs(), f[:, -1].abs()), torch.ones_like(f[:, 0]))
    tolerance = torch.maximum(ADAPTIVE_TOL * scale, 64 * eps * scale)
    seg = torch.arange(n, device=start.device).repeat_interleave(k)
    a, m, b = grid[0:-1:2].repeat(n), grid[1::2].repeat(n), grid[2::2].repeat(n)
    fa, fm, fb = f[:, 0:-1:2].reshape(-1), f[:, 1::2].reshape(-1), f[:, 2::2].reshape(-1)
    ga, gm, gb = (g[:, sl].reshape(n * k, -1) for sl in (slice(0, -1, 2), slice(1, None, 2), slice(2, None, 2)))
    total = torch.zeros_like(flat_delta)
    for depth in range(ADAPTIVE_MAX_DEPTH + 1):
        h = (b - a)[:, None] * flat_delta[seg]
        fine = h * (ga + 2 * gm + gb) / 4
        coarse = h * (ga + gb) / 2
        spread = (fine - coarse).detach().abs().amax(1)
        residual = (fine.detach().sum(1) - (fb - fa)).abs()
        ok = (spread <= tolerance[seg]) & (residual <= tolerance[seg])
        if depth == ADAPTIVE_MAX_DEPTH:
            ok = torch.ones_like(ok)
        total = total.index_add(0, seg[ok], fine[ok])
        bad = ~ok
        if not bool(bad.any()):
            break
        s, a, m, b = seg[bad], a[bad], m[bad], b[bad]
        fa, fm, fb, ga, gm, gb = fa[bad], fm[bad], fb[bad], ga[bad], gm[bad], gb[bad]
        left, right = (a + m) / 2, (m + b) / 2
        f_new, g_new = at(torch.cat([s, s]), torch.cat([left, right]))
        seg = torch.cat([s, s])
        a, m, b = torch.cat([a, m]), torch.cat([left, right]), torch.cat([m, b])
        fa, fm, fb = torch.cat([fa, fm]), f_new, torch.cat([fm, fb])
        ga, gm, gb = torch.cat([ga, gm]), g_new, torch.cat([gm, gb])
    return total.reshape(n, *shape)


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
    options={"n_steps": N_STEPS_OPTION, "integration": INTEGRATION_OPTION, "internal_batch_size": BATCH_SIZE_OPTION},
)
def integrated_gradients(
    model,
    x,
    target,
    baseline,
    *,
    n_steps: int = 50,
    integration: str = ADAPTIVE,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """IG along the straight line from ``baseline`` (zeros when None) to ``x``.

    Claims (002 §2.2): completeness, sensitivity(a), dummy, linearity, symmetry,
    implementation invariance and ASI hold for IG; NDP holds because the straight line is
    a monotone path (002 §4); Lipschitz continuity holds for C¹ F with Lipschitz gradient
    (002 Theorem 4) and fails on ReLU/max networks (002 App. J), hence ``unless``. The
    integral is computed by ``integration``: the default ``"adaptive"`` starts from
    ``n_steps`` trapezoids and resolves every interval where F is not linear to within
    ADAPTIVE_TOL, so completeness holds to that tolerance even on ReLU networks, where a
    fixed rule can miss a whole linear region between two nodes (Sundararajan et al. §3
    advise checking exactly this residual). A fixed rule of ``RULES`` (``"gausslegendre"``
    is Captum's default) makes completeness hold up to an error that shrinks with
    ``n_steps``.
    """
    b = expand_baseline(baseline, x)
    t = as_targets(target, len(x), x.device)
    return line_integral(
        model, b, x, t, n_steps=n_steps, integration=integration, internal_batch_size=internal_batch_size
    )
