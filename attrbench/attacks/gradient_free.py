"""A gradient-free Algorithm 1 (Ghorbani et al., 004 App. A) for methods that are not
differentiable: the same objective D, ball, step and best-iterate rule, with ∇ₓD replaced
by a simultaneous-perturbation estimate (SPSA; Spall 1992, "Multivariate stochastic
approximation using a simultaneous perturbation gradient approximation", IEEE TAC 37(3),
Eq. 2.2) taken through the method's own output.

Per step and point x, ``directions`` = d Rademacher vectors δ ∈ {−1, +1}^F are drawn, the
method is called once on the batch of all 2·d·rows points x ± c·δ (c = ``c`` × the row's
ε), and

    ĝ = (1/d) Σ_δ (D(x + cδ) − D(x − cδ)) / (2c) · δ

(δ⁻¹ = δ for Rademacher entries). E[ĝ] = ∇D + O(c²) for smooth D, and each entry's
variance is (‖∇D‖² − (∂ᵢD)²)/d, so ‖ĝ − ∇D‖² ≈ (F − 1)‖∇D‖²/d and the cosine similarity of
ĝ and ∇D is about 1/√(1 + (F − 1)/d) (:func:`expected_cosine`). The step is x ← Π(x + α·
sign(ĝ)), Π the projection onto the ε-ball ∩ the domain, as in Algorithm 1. Each iterate
after x_t (whose R is known) is explained in a call of its own with x_t's batch layout, so
the explanation kept for the chosen point is comparable with R(x_t) even for a method
whose output depends on a row's place in the batch; a point costs ``steps`` × (2d + 1)
method evaluations (:func:`query_budget`). Iterates are judged by D of the real network's
explanation, labels on the real network; no surrogate network is needed, since nothing is
differentiated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from attrbench.attacks.importance import center_of_mass, importance
from attrbench.attacks.interpretation import TARGETED, AttackResult, BestIterate, prepare_attack
from attrbench.errors import InvalidOptionError


def query_budget(steps: int, directions: int) -> int:
    """Method evaluations per attacked point: ``steps`` × (2·``directions`` + 1)."""
    return steps * (2 * directions + 1)


def expected_cosine(features: int, directions: int) -> float:
    """The cosine similarity of the SPSA estimate with ∇D to expect for smooth D, small c
    and a gradient spread over the F features: 1/√(1 + (F − 1)/d) (module doc)."""
    return 1.0 / math.sqrt(1.0 + (features - 1) / directions)


def check_spsa_options(directions, c, largest: float = 1.0) -> None:
    """Typed errors for a query budget ≤ 0 (fewer than one direction) or a probe size c
    outside (0, ``largest``] (in the attack c is a fraction of ε: probes beyond the ball's
    width would measure another point's slope)."""
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise InvalidOptionError(
            f"directions={directions!r}: the SPSA query budget steps × (2·directions + 1) must be positive; "
            "use at least one direction."
        )
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or not 0 < c <= largest:
        raise InvalidOptionError(f"c={c!r}: the SPSA probe size must lie in (0, {largest:g}]; e.g. 0.1.")


def rademacher(directions: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """(directions, *like.shape) entries ±1 with probability ½ each."""
    bits = torch.randint(0, 2, (directions, *like.shape), generator=generator)
    return (2 * bits - 1).to(dtype=like.dtype, device=like.device)


def probes(x: Tensor, size: Tensor, delta: Tensor) -> Tensor:
    """The 2·d·rows points x + size·δ (all directions), then x − size·δ, stacked
    direction-major; ``size`` broadcasts per row of x."""
    return torch.cat([(x[None] + size * delta).flatten(0, 1), (x[None] - size * delta).flatten(0, 1)])


def estimate(d_probes: Tensor, size: Tensor, delta: Tensor) -> Tensor:
    """ĝ from D at the :func:`probes` (2·d·rows values): the mean over directions of
    (D(x + cδ) − D(x − cδ)) / (2c) · δ, shaped like x."""
    d = len(delta)
    plus, minus = d_probes.view(2, d, -1)
    shape = (d, -1, *[1] * (delta.dim() - 2))
    return (((plus - minus).view(shape) / (2 * size)) * delta).mean(0)


def spsa_gradient(fn: Callable[[Tensor], Tensor], x: Tensor, c: float, directions: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """The SPSA estimate of ∇fn at each row of ``x`` (fn: points → one value per point),
    fn called once on all 2·d·rows probes."""
    check_spsa_options(directions, c, largest=math.inf)
    delta = rademacher(directions, x, generator)
    size = torch.as_tensor(c, dtype=x.dtype, device=x.device)
    return estimate(fn(probes(x, size, delta)), size, delta)


def run_spsa_attack(
    method,
    model,
    x: Tensor,
    target,
    *,
    kind: str,
    epsilon,
    steps: int,
    directions: int,
    c: float,
    generator: torch.Generator | None = None,
    **options,
) -> AttackResult:
    """Algorithm 1 of ``kind`` (``topk`` or ``mass_center``) with SPSA estimates of ∇D
    through ``method``'s own output (module doc): ``directions`` Rademacher directions per
    point and step, probes at ± ``c`` × ε; the other options (step_size, k, baseline,
    domain, image_shape, guard) are those of
    :func:`attrbench.attacks.interpretation.run_interpretation_attack`."""
    if kind not in TARGETED:
        raise InvalidOptionError(f"kind={kind!r}: the gradient-free attack ascends D of {' or '.join(TARGETED)}.")
    check_spsa_options(directions, c)
    p = prepare_attack(method, model, x, target, kind=kind, epsilon=epsilon, steps=steps, generator=generator,
                       **options)  # fmt: skip
    best = BestIterate(p, p.dissimilarity(p.r_t))
    size = (c * p.radius)[None]  # per row, broadcast over directions
    current, r_current = p.x_t, p.r_t
    for i in range(steps):
        if i > 0:  # the iterate, in x_t's batch layout
            r_current = importance(p.attribute(model, current, "SPSA iterate").detach())
            best.consider(current, r_current)
        delta = rademacher(directions, p.x_t, generator)
        r = importance(p.attribute(model, probes(current, size, delta), "SPSA probes", copies=2 * directions).detach())
        along_u = None
        if p.kind == "mass_center":  # the start rule of Algorithm 1, decided at the iterate
            norm = (center_of_mass(r_current, p.positions) - p.c_t).norm(dim=1)
            along_u = p.flat(norm).repeat(2 * directions)
        g = estimate(p.objective(r, along_u), size[0], delta)
        current = p.project(current + p.step * g.sign())
    best.consider(current, importance(p.attribute(model, current, "SPSA last iterate").detach()))
    note = (f"{steps} SPSA steps, {directions} directions, probes at ±{c:g}·ε: "
            f"{query_budget(steps, directions)} method evaluations per point")  # fmt: skip
    return p.result(best.x, best.r, best.moved, 0, note)
