"""Attributions against a distribution of baselines: Expected Gradients, GradientSHAP.

For these methods (``distributional=True``) the ``baseline`` argument is a *reference
set*: its rows, of shape (M, *x.shape[1:]), are the baseline distribution D shared by
every sample (one row, or None for zeros, gives plain IG). The distributional axioms of
002 §5 / App. K are stated against E_{X'~D}.
"""

from __future__ import annotations

import torch

from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, gradient, reference_set
from attrbench.methods.integrated_gradients import ADAPTIVE, INTEGRATION_OPTION, N_STEPS_OPTION, line_integral
from attrbench.methods.registry import BATCH_SIZE_OPTION, SEED_OPTION, Option, register_method


@register_method(
    "expected_gradients",
    claims=("completeness", "dummy", "linearity", "implementation_invariance", "ndp", "asi"),
    needs_baseline=True,
    distributional=True,
    kind="distributional",
    reference="Erion et al. 2021; 002 §5 and App. K: EG(x, X', F) = E_{X'~D} IG(x, X', F)",
    options={
        "n_baselines": Option(int, low=1, optional=True),
        "n_steps": N_STEPS_OPTION,
        "integration": INTEGRATION_OPTION,
        "seed": SEED_OPTION,
        "internal_batch_size": BATCH_SIZE_OPTION,
    },
)
def expected_gradients(
    model,
    x,
    target,
    baseline,
    *,
    n_baselines: int | None = None,
    n_steps: int = 50,
    integration: str = ADAPTIVE,
    seed: int = 0,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """Distributional IG: the mean of IG(x, x'_m) over reference rows x'_m (002 §5).

    Every reference is used unless ``n_baselines`` is smaller than the reference set, in
    which case that many rows are drawn without replacement by a generator seeded with
    ``seed`` (the same rows for every sample). The inner integral uses a deterministic
    rule (``integration`` as in integrated_gradients), so Σᵢ EGᵢ = F(x) − mean_m F(x'_m)
    up to quadrature error: the
    distributional completeness of 002 App. K (exact in expectation when rows are drawn).
    Dummy, linearity, implementation invariance and ASI carry over from IG (002 §5);
    NDP in its distributional form (002 §5, item 4) holds because every quadrature
    weight is positive.
    """
    refs = reference_set(baseline, x)
    if n_baselines is not None and n_baselines < len(refs):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        refs = refs[torch.randperm(len(refs), generator=gen)[:n_baselines].to(refs.device)]
    m, n = len(refs), len(x)
    starts = refs.unsqueeze(1).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
    ends = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
    t = as_targets(target, n, x.device).repeat(m)
    ig = line_integral(
        model, starts, ends, t, n_steps=n_steps, integration=integration, internal_batch_size=internal_batch_size
    )
    return ig.reshape(m, *x.shape).mean(0)


@register_method(
    "gradient_shap",
    claims=("dummy", "linearity", "implementation_invariance"),
    needs_baseline=True,
    distributional=True,
    kind="distributional",
    reference="Lundberg & Lee 2017 (SHAP), expected-gradients estimator; Captum GradientShap",
    options={
        "n_samples": Option(int, low=1),
        "stdev": Option(float, low=0),
        "seed": SEED_OPTION,
        "internal_batch_size": BATCH_SIZE_OPTION,
    },
)
def gradient_shap(
    model,
    x,
    target,
    baseline,
    *,
    n_samples: int = 50,
    stdev: float = 0.0,
    seed: int = 0,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """Monte-Carlo expected gradients: for each of ``n_samples`` draws pick a reference
    row x' and α ~ U(0, 1), add N(0, stdev²) noise to x, and average
    (x − x') ⊙ ∇F(x' + α(x + noise − x')). Completeness holds only in expectation, so it
    is not claimed; draws are seeded, so linearity holds exactly."""
    refs = reference_set(baseline, x)
    n = len(x)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    pick = torch.randint(len(refs), (n_samples, n), generator=gen).to(x.device)
    alpha = torch.rand((n_samples, n), generator=gen, dtype=x.dtype).to(x.device)
    noise = torch.randn((n_samples, *x.shape), generator=gen, dtype=x.dtype).to(x.device) * stdev
    base = refs[pick]  # (S, N, ...)
    a = alpha.view(n_samples, n, *[1] * (x.dim() - 1))
    points = base + a * (x.unsqueeze(0) + noise - base)
    t = as_targets(target, n, x.device).repeat(n_samples)
    grads = gradient(model, points.reshape(-1, *x.shape[1:]), t, internal_batch_size)
    return ((x.unsqueeze(0) - base) * grads.reshape(n_samples, *x.shape)).mean(0)
