"""Occlusion: the change in F when features are set to the baseline (003 Table 1)."""

from __future__ import annotations

import torch

from attrbench.errors import InputShapeError
from attrbench.functional import (
    DEFAULT_BATCH_SIZE,
    as_targets,
    evaluate,
    evaluate_hybrids,
    expand_baseline,
)
from attrbench.methods.registry import BATCH_SIZE_OPTION, Option, register_method


@register_method(
    "occlusion",
    claims=("sensitivity_a", "dummy", "linearity", "symmetry", "implementation_invariance", "ndp", "asi"),
    needs_baseline=True,
    differentiable=False,
    kind="perturbation",
    reference="Zeiler & Fergus 2014; 003 Table 1 (Occlusion-1) and Eq. 6",
    options={"internal_batch_size": BATCH_SIZE_OPTION},
)
def occlusion(model, x, target, baseline, *, internal_batch_size: int | None = DEFAULT_BATCH_SIZE):
    """Occlusion-1: Rᵢ = F(x) − F(x with xᵢ set to x̄ᵢ), one feature (input element) at a time.

    It depends on F only through its values at x and the hybrids, which gives dummy,
    linearity, implementation invariance and symmetry; if x and x̄ differ only in i,
    Rᵢ = F(x) − F(x̄), so sensitivity(a); for F non-decreasing from x̄ to x the hybrid lies
    on a monotone path below x, so Rᵢ ≥ 0 (NDP); an affine map of feature i maps the
    hybrids onto each other (ASI). It satisfies Sensitivity-1 but not completeness (003 §4).
    """
    b = expand_baseline(baseline, x)
    t = as_targets(target, len(x), x.device)
    return single_feature_drops(model, x, b, t, internal_batch_size).reshape(x.shape)


def single_feature_drops(model, x, baseline, targets, batch_size: int | None = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    """F(x) − F(x with feature i set to the baseline), for every input element i: shape
    (N, D). Occlusion-1 itself, which satisfies Sensitivity-1 by construction (003 §4)."""
    d = x[0].numel()
    features = torch.arange(d)

    def keep_all_but_one(s: slice) -> torch.Tensor:
        return features[None, :] != features[s, None]

    occluded = evaluate_hybrids(model, x, baseline, targets, keep_all_but_one, d, batch_size)
    return (evaluate(model, x, targets, batch_size)[None] - occluded).T


@register_method(
    "occlusion_window",
    claims=("linearity", "implementation_invariance"),
    needs_baseline=True,
    differentiable=False,
    kind="perturbation",
    reference="Zeiler & Fergus 2014 §4.2 (sliding occluder); Captum Occlusion",
    requires={"image"},
    options={"window": Option(int, low=1), "stride": Option(int, low=1), "internal_batch_size": BATCH_SIZE_OPTION},
)
def occlusion_window(
    model,
    x,
    target,
    baseline,
    *,
    window: int = 3,
    stride: int = 1,
    internal_batch_size: int | None = DEFAULT_BATCH_SIZE,
):
    """k×k occlusion windows slid with ``stride`` over images (N, C, H, W); all channels of
    a window go to the baseline together. A pixel's attribution is the mean, over the
    windows covering it, of F(x) − F(x with the window occluded) (0 where none covers it),
    repeated over channels. Averaging over windows mixes neighbours' effects, so only
    linearity and implementation invariance are claimed.
    """
    if x.dim() != 4:
        raise InputShapeError(
            f"occlusion_window needs images of shape (N, C, H, W); got {tuple(x.shape)}. "
            "Use occlusion for other inputs."
        )
    n, c, h, w = x.shape
    if window > min(h, w) or window < 1 or stride < 1:
        raise InputShapeError(
            f"window={window}, stride={stride} do not fit {h}×{w} images; use 1 <= window <= {min(h, w)} "
            "and stride >= 1."
        )
    b = expand_baseline(baseline, x)
    t = as_targets(target, n, x.device)
    windows = sliding_windows((h, w), window, stride)  # (K, H*W)
    k = len(windows)

    def keep_outside(s: slice) -> torch.Tensor:
        return ~windows[s].repeat(1, c)  # channel-major flattening of (C, H, W)

    occluded = evaluate_hybrids(model, x, b, t, keep_outside, k, internal_batch_size)
    diffs = evaluate(model, x, t, internal_batch_size)[None] - occluded  # (K, N)
    cover = windows.to(x.dtype).to(x.device)
    pixel = (diffs.T @ cover) / cover.sum(0).clamp(min=1)  # (N, H*W)
    return pixel.reshape(n, 1, h, w).expand(n, c, h, w).clone()


def sliding_windows(shape: tuple[int, ...], window: int, stride: int) -> torch.Tensor:
    """Bool masks (K, prod(shape)) of the window×window squares (for a 2-D ``shape``) or
    length-``window`` runs (1-D) at every ``stride``-th position that fits, row-major."""
    if window < 1 or stride < 1 or window > min(shape):
        raise InputShapeError(
            f"window={window}, stride={stride} do not fit features of shape {tuple(shape)}; use "
            f"1 <= window <= {min(shape)} and stride >= 1."
        )
    axes = []
    for size in shape:
        starts = torch.arange(0, size - window + 1, stride)
        idx = torch.arange(size)
        axes.append((idx[None] >= starts[:, None]) & (idx[None] < starts[:, None] + window))  # (starts, size)
    if len(axes) == 1:
        return axes[0]
    rows, cols = axes
    return (rows[:, None, :, None] & cols[None, :, None, :]).reshape(-1, shape[0] * shape[1])
