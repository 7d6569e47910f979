"""Plain-gradient methods: saliency, signed gradient, Gradient×Input, SmoothGrad.

All take ``internal_batch_size`` (points per forward/backward pass; None = all at once).
Gradients depend on F only through ∂F, so each satisfies implementation invariance
(Sundararajan et al. 2017 §3), dummy (∂ᵢF ≡ 0 ⇒ Aᵢ = 0) and symmetry (F symmetric in
(i, j) and xᵢ = xⱼ ⇒ ∂ᵢF(x) = ∂ⱼF(x)).
"""

from __future__ import annotations

import torch

from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, gradient as target_gradient
from attrbench.methods.registry import BATCH_SIZE_OPTION, SEED_OPTION, Option, register_method

_GRADIENT_AXIOMS = ("dummy", "symmetry", "implementation_invariance")
_OPTIONS = {"internal_batch_size": BATCH_SIZE_OPTION}


@register_method(
    "saliency",
    claims=_GRADIENT_AXIOMS,
    kind="gradient",
    reference="Simonyan et al. 2014, Eq. 2: |∂F/∂x| (Captum's Saliency, abs=True)",
    options=_OPTIONS,
)
def saliency(model, x, target, baseline, *, internal_batch_size: int | None = DEFAULT_BATCH_SIZE):
    """|∂F/∂x|. The absolute value breaks linearity, so linearity is not claimed."""
    return _grad(model, x, target, internal_batch_size).abs()


@register_method(
    "gradient",
    claims=_GRADIENT_AXIOMS + ("linearity",),
    kind="gradient",
    reference="Simonyan et al. 2014, Eq. 2 (signed): ∂F/∂x",
    options=_OPTIONS,
)
def gradient(model, x, target, baseline, *, internal_batch_size: int | None = DEFAULT_BATCH_SIZE):
    """Signed ∂F/∂x; linear in F, so it claims linearity too."""
    return _grad(model, x, target, internal_batch_size)


@register_method(
    "input_x_gradient",
    claims=_GRADIENT_AXIOMS + ("linearity",),
    kind="gradient",
    reference="Shrikumar et al. 2016; Ancona et al. 2018 (003) Table 1: x ⊙ ∂F/∂x",
    options=_OPTIONS,
)
def input_x_gradient(model, x, target, baseline, *, internal_batch_size: int | None = DEFAULT_BATCH_SIZE):
    """x ⊙ ∂F/∂x (003 Table 1). Complete only for linear models with a zero baseline
    (003 Prop 4), which no claim can express, so completeness is not claimed."""
    return x * _grad(model, x, target, internal_batch_size)


@register_method(
    "smoothgrad",
    claims=("dummy", "implementation_invariance", "linearity"),
    kind="gradient",
    reference="Smilkov et al. 2017, Eq. 2: mean of ∂F/∂x over x + N(0, σ²)",
    options={
        "n_samples": Option(int, low=1),
        "noise_level": Option(float, low=0),  # 0: the plain gradient (test_gradient_methods)
        "seed": SEED_OPTION,
        **_OPTIONS,
    },
)
def smoothgrad(
    model,
    x,
    target,
    baseline,
    *,
    n_samples: int = 50,
    noise_level: float = 0.15,
    seed: int = 0,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """Signed gradient averaged over ``n_samples`` noisy copies, σ = noise_level·(max−min)
    of each sample (Smilkov et al. §3). The noise comes from a generator seeded with
    ``seed``, so two calls see the same noise: linearity holds exactly. Noise breaks
    symmetry (xᵢ + εᵢ ≠ xⱼ + εⱼ), so symmetry is not claimed."""
    n = len(x)
    flat = x.reshape(n, -1)
    sigma = noise_level * (flat.max(1).values - flat.min(1).values)
    # drawn on the CPU and moved, as every seeded draw in attrbench: the same noise (and
    # attributions) on every device (a CUDA generator would draw another stream)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn((n_samples, *x.shape), generator=gen, dtype=x.dtype).to(x.device)
    points = (x.unsqueeze(0) + noise * sigma.view(1, n, *[1] * (x.dim() - 1))).reshape(n_samples * n, *x.shape[1:])
    t = as_targets(target, n, x.device).repeat(n_samples)
    grads = target_gradient(model, points, t, internal_batch_size)
    return grads.reshape(n_samples, *x.shape).mean(0)


def _grad(model, x, target, internal_batch_size):
    return target_gradient(model, x, as_targets(target, len(x), x.device), internal_batch_size)
