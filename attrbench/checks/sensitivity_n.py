"""Sensitivity-n (Ancona et al., 003 §4 and §4.1).

A method satisfies Sensitivity-n when, for every subset S of n features,
Σ_{i∈S} R_i = S_c(x) − S_c(x_[x_S = x̄]). §4.1 measures how close a method comes: for each
sample draw subsets of n features uniformly at random (100 in the paper), take the
Pearson correlation across those subsets between the attribution sum and the output
drop, and average the correlation over samples (1000 in the paper), for n from 1 to about
80 % of the features. For images a feature is a pixel: attributions are summed over the
channels and all channels of a pixel are set to the baseline together (003 App. C.2).

This is not Quantus' ``SensitivityN``, which removes features cumulatively in the order
of the attributions and correlates across samples; see the suite page.

Every drop of every subset, size n and sample is one point of a single stream of model
evaluations, chunked by ``batch_size`` (``attrbench.functional.evaluate_replaced``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attrbench.checks.context import CheckContext, check
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, evaluate, evaluate_replaced, expand_baseline
from attrbench.results import Outcome
from attrbench.suite import Curves, Plot, Suite

#: Largest subset size of the grid as a fraction of the features (003 §4.1: "about 80 %").
MAX_FRACTION = 0.8
#: A side of one sample's correlation counts as zero-variance when its standard deviation
#: over the subsets is at most this fraction of its scale (|S_c| of the sample and its
#: perturbations for the drops, Σ|R| for the attribution sums): float32 noise is ~1e-7.
ZERO_VARIANCE_RTOL = 1e-5


def n_grid(n_features: int, size: int, max_fraction: float = MAX_FRACTION) -> list[int]:
    """Subset sizes from 1 to ⌊max_fraction · N⌋ (at least 1), ``size`` points spaced
    evenly on a log axis and rounded; duplicates after rounding are dropped (003 §4.1)."""
    top = max(1, math.floor(max_fraction * n_features))
    points = np.geomspace(1, top, num=max(1, size))
    return sorted({int(v) for v in np.rint(points)})


def groups_channels(x: Tensor, group_channels: bool | None = None) -> bool:
    """Whether a feature is a pixel (all channels of one position of dims 2..) rather than
    an input element; by default for image batches, shape (N, C, H, W)."""
    grouped = x.dim() == 4 if group_channels is None else bool(group_channels)
    if grouped and x.dim() < 3:
        raise InputShapeError(
            f"group_channels needs inputs of shape (N, C, ...), got {tuple(x.shape)}; pass group_channels=False."
        )
    return grouped


def feature_attributions(attributions: Tensor, x: Tensor, group_channels: bool | None = None) -> Tensor:
    """Attributions per feature, shape (N, F): summed over channels where a feature is a
    pixel (003 App. C.2), flattened otherwise."""
    if attributions.shape != x.shape:
        raise InputShapeError(
            f"attributions have shape {tuple(attributions.shape)} but the inputs {tuple(x.shape)}; "
            "pass one attribution per input element."
        )
    a = attributions.sum(1) if groups_channels(x, group_channels) else attributions
    return a.reshape(len(x), -1)


def random_subsets(n_samples: int, n_subsets: int, n_features: int, n: int, generator=None) -> Tensor:
    """Bool masks (n_samples, n_subsets, n_features), each row n features drawn uniformly
    without replacement (the n smallest of i.i.d. uniform keys, by a partial selection:
    ``topk``, not a full sort), independently per row."""
    if not 1 <= n <= n_features:
        raise InvalidOptionError(
            f"subset size n={n} must lie in 1..{n_features} (the number of features); pass smaller ns."
        )
    if n_subsets < 2:
        raise InvalidOptionError(f"n_subsets={n_subsets}: a correlation across subsets needs at least 2.")
    keys = torch.rand((n_samples, n_subsets, n_features), generator=generator)
    chosen = keys.topk(n, dim=-1, largest=False, sorted=False).indices
    return torch.zeros(keys.shape, dtype=torch.bool).scatter_(-1, chosen, True)


def subset_sums_and_drops(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    ns,
    *,
    n_subsets: int = 100,
    baseline=0.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    group_channels: bool | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """For each n in ``ns``, sample and subset: Σ_{i∈S} R_i and S_c(x) − S_c(x_[x_S = x̄]).

    Returns (sums, drops, scale), sums and drops of shape (len(ns), N, n_subsets) in the
    attributions' dtype, and scale (len(ns), N): max |S_c| over the sample and its
    perturbations (the drops' float scale). Subsets are drawn on the CPU from ``generator``
    (one (N, n_subsets, F) draw per n, so the result does not depend on ``batch_size``);
    all len(ns)·N·n_subsets perturbed inputs are evaluated in chunks of ``batch_size``."""
    ns = [int(n) for n in ns]
    t = as_targets(target, len(x), x.device)
    b = expand_baseline(baseline, x)
    a = feature_attributions(attributions, x, group_channels)
    mask_shape = (1, *x.shape[2:]) if groups_channels(x, group_channels) else tuple(x.shape[1:])
    masks, sums = [], []
    for n in ns:  # one draw and one masked sum per subset size, each over every sample
        m = random_subsets(len(x), n_subsets, a.shape[1], n, generator).to(a.device)
        masks.append(m)
        sums.append((m * a[:, None, :]).sum(-1))
    replaced = torch.stack(masks, 1).reshape(len(x), len(ns) * n_subsets, *mask_shape)
    sums = torch.stack(sums)
    f_x = evaluate(model, x, t, batch_size)
    f_s = evaluate_replaced(model, x, b, t, replaced, batch_size).reshape(len(x), len(ns), n_subsets)
    drops = (f_x[:, None, None] - f_s).permute(1, 0, 2).to(a.dtype)
    scale = torch.maximum(f_x.abs()[:, None], f_s.abs().amax(-1)).T.to(a.dtype)
    return sums, drops, scale


def per_sample_pcc(
    a: Tensor, b: Tensor, scale_a: Tensor | None = None, scale_b: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Pearson correlation along the last dim of ``a`` and ``b``, and a mask of the rows
    where either side has zero variance: standard deviation ≤ ZERO_VARIANCE_RTOL × its
    scale (default: the row's largest |value|), where the correlation is undefined."""
    ca, cb = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    sa, sb = ca.pow(2).mean(-1).sqrt(), cb.pow(2).mean(-1).sqrt()
    scale_a = a.abs().amax(-1) if scale_a is None else scale_a
    scale_b = b.abs().amax(-1) if scale_b is None else scale_b
    degenerate = (sa <= ZERO_VARIANCE_RTOL * scale_a) | (sb <= ZERO_VARIANCE_RTOL * scale_b)
    pcc = (ca * cb).mean(-1) / (sa * sb).clamp(min=torch.finfo(a.dtype).tiny)
    return pcc.clamp(-1.0, 1.0), degenerate


def sensitivity_n(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    ns,
    *,
    n_subsets: int = 100,
    baseline=0.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    group_channels: bool | None = None,
) -> pd.DataFrame:
    """The Sensitivity-n curve of one method's ``attributions`` (same shape as ``x``) for
    the model's class ``target`` (003 §4.1).

    For every n in ``ns`` and every sample, ``n_subsets`` subsets of n features are drawn
    uniformly; the Pearson correlation between Σ_{i∈S} R_i and S_c(x) − S_c(x_[x_S = x̄])
    is taken across the subsets of that sample, then averaged over the samples. The
    baseline x̄ (scalar, or a tensor broadcasting to ``x``; default 0) replaces the removed
    features. Features are pixels for (N, C, H, W) inputs (see ``groups_channels``).

    Returns one row per n with columns ``n``, ``pcc`` (mean over samples), ``pcc_std``
    (their standard deviation), ``samples`` (correlations averaged) and
    ``zero_variance`` (samples left out because a side had zero variance; ``pcc`` is NaN
    when every sample was left out)."""
    ns = [int(n) for n in ns]
    pcc, degenerate = per_sample_curves(
        model, x, target, attributions, ns, n_subsets=n_subsets, baseline=baseline,
        generator=generator, batch_size=batch_size, group_channels=group_channels,
    )  # fmt: skip
    return curve_frame(ns, pcc, degenerate)


def per_sample_curves(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    ns,
    *,
    n_subsets: int = 100,
    baseline=0.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    group_channels: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """Each sample's PCC at each n (arguments as ``sensitivity_n``): ``(pcc,
    zero_variance)``, both (len(ns), N); ``zero_variance`` marks the samples whose
    correlation is undefined (a side with zero variance, ``per_sample_pcc``)."""
    sums, drops, scale = subset_sums_and_drops(
        model, x, target, attributions, [int(n) for n in ns], n_subsets=n_subsets, baseline=baseline,
        generator=generator, batch_size=batch_size, group_channels=group_channels,
    )  # fmt: skip
    attr_scale = feature_attributions(attributions, x, group_channels).abs().sum(1).to(sums.dtype)
    return per_sample_pcc(sums, drops, attr_scale.expand_as(scale), scale)


def curve_frame(ns, pcc: Tensor, degenerate: Tensor) -> pd.DataFrame:
    """The curve of ``sensitivity_n`` from the per-sample PCC (len(ns), N) and its
    zero-variance mask: per n the mean and standard deviation over the defined samples."""
    rows = []
    for g, n in enumerate(ns):
        kept = pcc[g][~degenerate[g]].double()
        rows.append({
            "n": n,
            "pcc": float(kept.mean()) if len(kept) else math.nan,
            "pcc_std": float(kept.std(correction=0)) if len(kept) else math.nan,
            "samples": len(kept),
            "zero_variance": int(degenerate[g].sum()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["n", "pcc", "pcc_std", "samples", "zero_variance"])


@check(suite="sensitivity_n", check="sensitivity_n", metric="mean_pcc", direction="higher")
def sensitivity_n_curve(method, subject, ctx: CheckContext) -> Outcome:
    """The Sensitivity-n curve on ``scale.sensitivity_n_samples`` samples of the subject,
    ``scale.n_subsets`` subsets per n, n on ``n_grid(F, scale.sensitivity_n_grid)``, the
    subject's baseline (zero when it has none) both for the method and for the removed
    features. The value is the mean PCC over the n where it is defined; the details hold
    the curve (n, pcc, pcc_std, samples, zero_variance); ``Outcome.samples`` each sample's
    PCC at each n (NaN where undefined), aggregated by "grid_mean"."""
    x, t, b = ctx.samples(subject, ctx.scale.sensitivity_n_samples)
    attr = ctx.attribute(method, subject.model, x, t, b, where="sensitivity_n")
    n_features = feature_attributions(attr, x).shape[1]
    ns = n_grid(n_features, ctx.scale.sensitivity_n_grid)
    pcc, degenerate = per_sample_curves(
        subject.model, x, t, attr, ns,
        n_subsets=ctx.scale.n_subsets, baseline=0.0 if b is None else b, generator=ctx.generator,
    )  # fmt: skip
    curve = curve_frame(ns, pcc, degenerate)
    defined = curve["pcc"].dropna()
    return Outcome(
        value=float(defined.mean()) if len(defined) else math.nan,
        holds=None,
        # samples × grid, NaN where a sample's correlation is undefined: the value is their
        # mean over samples at each n, then over the n where that is defined
        samples=pcc.double().masked_fill(degenerate, math.nan).T.tolist(),
        aggregate="grid_mean",
        details={
            "features": n_features,
            "inputs": len(x),
            "n_subsets": ctx.scale.n_subsets,
            **{column: curve[column].tolist() for column in curve.columns},
        },
    )


SUITE = Suite(
    name="sensitivity_n",
    title="Sensitivity-n",
    marker_help="Sensitivity-n (003 §4)",
    description=(
        "Sensitivity-n (Ancona et al., 003 §4.1): for each sample, subsets S of n "
        "features are drawn uniformly at random and the Pearson correlation (PCC) between "
        "Σ_{i∈S} R_i and the drop S_c(x) − S_c(x with x_S set to the baseline) is taken "
        "across the subsets of that sample, then averaged over samples; n runs over a "
        "log-spaced grid from 1 to 80 % of the features. For images a feature is a pixel "
        "(channels summed and removed together, 003 App. C.2). The baseline is the "
        "subject's (zero for every subject here), for the method and for the removed "
        "features alike. The score `mean_pcc` is the mean of the curve over the grid (↑); "
        "the curves are in the table and figure below. Samples whose subsets give zero "
        "variance on either side are counted (`zero_variance` in the CSV), never averaged in."
    ),
    summary_metrics=("mean_pcc",),
    direction="higher",
    # 003 §4 / App. C.1: MNIST MLPs and CNNs with four activations (here 8×8 digits, and the
    # 28×28 digits at MNIST's size), the 32×32 shapes CNN and ResNet (CIFAR-10's size), a tabular
    # MLP and the linear model of Prop. 4. The large subjects run at the scales that name them
    # (attrbench.scales.Scale.large_subjects).
    subjects={
        "sensitivity_n": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*", "tabular/*", "analytic/linear"),
    },
    page="sensitivity_n.md",
    notes=(
        "**Not Quantus' SensitivityN.** Quantus removes features cumulatively, in the "
        "order of the attributions, `features_in_step` at a time, and correlates the "
        "attribution sums with the output drops *across samples* at each step. 003 "
        "§4.1 — implemented here — draws random subsets of each size n and correlates "
        "*across the subsets of one sample*, then averages over samples; the two "
        "numbers answer different questions and are not comparable.\n\n"
        "**Expected shapes** (003 §4): Occlusion-1 satisfies Sensitivity-1 (PCC = 1 "
        "at n = 1) and its curve falls as n grows; on a linear model every method of "
        "003 Table 1 gives PCC = 1 for every n (Prop. 4), as `analytic/linear` shows; "
        "local methods (saliency, gradient, SmoothGrad) are not built to predict "
        "output drops and score lower. The 8×8 digits networks are far closer to "
        "linear than the paper's MNIST models, so their curves stay higher."
    ),
    curves=Curves(
        "sensitivity_n", ("n", "pcc", "pcc_std", "samples", "zero_variance"),
        "sensitivity_n_curves.csv", x="n", xlog=True,
        plots=(Plot("sensitivity_n_curves.png", "pcc", caption="PCC against n (log axis), one "
                    "panel per subject and one line per method, as 003 Figure 4."),),
    ),
)  # fmt: skip
