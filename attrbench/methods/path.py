"""A non-monotone path method (002 Definition 3 with the path of 002 App. C)."""

from __future__ import annotations

import torch

from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, expand_baseline
from attrbench.methods.integrated_gradients import ADAPTIVE, INTEGRATION_OPTION, N_STEPS_OPTION, line_integral
from attrbench.methods.registry import BATCH_SIZE_OPTION, Option, register_method


@register_method(
    "nonmonotone_path",
    claims=("completeness", "dummy", "linearity", "implementation_invariance"),
    needs_baseline=True,
    kind="path",
    reference="002 Definition 3 and App. C (counterexample to Claim 1)",
    options={
        "detour": Option(float),
        "n_steps": N_STEPS_OPTION,
        "integration": INTEGRATION_OPTION,
        "internal_batch_size": BATCH_SIZE_OPTION,
    },
)
def nonmonotone_path(
    model,
    x,
    target,
    baseline,
    *,
    detour: float = 1.0,
    n_steps: int = 64,
    integration: str = ADAPTIVE,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """Path method along three straight segments, App. C's path generalised to n features
    (the first feature of the flattened input is "x₁", the rest are "the others"):

    1. from x′, raise every other feature to ``detour`` above max(xⱼ, x′ⱼ);
    2. move the first feature from x′₁ to x₁;
    3. bring every other feature down to xⱼ.

    A path method satisfies completeness, dummy, linearity and implementation invariance
    (002 §3, line after Definition 5). The path is not monotone, so NDP fails: on
    F = x₁x₂, x′ = (0, 0), x = (1, 0) it gives (1, −1) (002 App. C). The detour is an
    absolute offset, so ASI is not claimed either. ``n_steps`` initial nodes per segment,
    integrated as in integrated_gradients (``"adaptive"`` by default: exact to its
    tolerance on ReLU networks, whose kinks this longer path crosses more often).
    """
    b = expand_baseline(baseline, x)
    n = len(x)
    flat_x, flat_b = x.reshape(n, -1), b.reshape(n, -1)
    others = torch.ones_like(flat_x)
    others[:, 0] = 0
    high = torch.maximum(flat_x, flat_b) + detour
    p1 = flat_b + others * (high - flat_b)  # others raised, first feature still x'_1
    p2 = p1.clone()
    p2[:, 0] = flat_x[:, 0]  # first feature moved to x_1
    starts = torch.cat([flat_b, p1, p2]).reshape(3 * n, *x.shape[1:])
    ends = torch.cat([p1, p2, flat_x]).reshape(3 * n, *x.shape[1:])
    t = as_targets(target, n, x.device).repeat(3)
    segments = line_integral(
        model, starts, ends, t, n_steps=n_steps, integration=integration, internal_batch_size=internal_batch_size
    )
    return segments.reshape(3, *x.shape).sum(0)
