"""The baseline as a variant axis: ``method[baseline=KIND]`` runs every check of a subject with
the subject's baseline replaced by KIND (``attrbench.functional.BASELINE_KINDS``), the checks
and the method seeing the same one. Sturmfels, Lundberg & Lee 2020 ("Visualizing the Impact of
Feature Attribution Baselines", Distill) compare these choices for path methods.

- ``zero``: the zero input (every subject);
- ``blurred``: each input Gaussian-blurred with σ = ``BLUR_SIGMA`` pixels (kernel to 3σ,
  edges replicated) — images (N, C, H, W) only;
- ``uniform``: each input's own draw of U(domain) per feature, from a generator seeded with
  the run's seed (every subject: its domain bounds the features);
- ``mean``: the mean of the training inputs — subjects trained by attrbench, which keep it as
  ``truth["training_mean"]`` (never passed to a method except as this baseline).

A subject that does not allow a kind raises ``InvalidOptionError``.
"""

from __future__ import annotations

import dataclasses

from attrbench.errors import InvalidOptionError
from attrbench.functional import BASELINE_KINDS

#: σ of the blurred baseline, in pixels.
BLUR_SIGMA = 1.0


def blur(x, sigma: float = BLUR_SIGMA):
    """Separable Gaussian blur of images (N, C, H, W), per channel, edges replicated."""
    import torch
    import torch.nn.functional as F

    radius = max(1, int(3 * sigma))
    grid = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def baseline_of(subject, kind: str, seed: int = 0):
    """The baseline of ``kind`` for ``subject`` (one row, or one per input)."""
    import torch

    x = subject.inputs
    if kind == "zero":
        return torch.zeros(1, *x.shape[1:], dtype=x.dtype, device=x.device)
    if kind == "blurred":
        if x.dim() != 4:
            raise InvalidOptionError(
                f"baseline=blurred blurs images (N, C, H, W); subject {subject.name!r} has inputs of shape "
                f"{tuple(x.shape)}. Use baseline=zero, uniform or mean."
            )
        return blur(x)
    if kind == "uniform":
        lo, hi = subject.domain
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
        return lo + (hi - lo) * u
    if kind == "mean":
        if "training_mean" not in subject.truth:
            raise InvalidOptionError(
                f"baseline=mean needs the training inputs' mean; subject {subject.name!r} was not trained by "
                "attrbench and has none. Use baseline=zero or uniform."
            )
        return subject.truth["training_mean"].to(device=x.device, dtype=x.dtype)
    raise InvalidOptionError(f"baseline={kind!r} is not a baseline kind; choose one of {', '.join(BASELINE_KINDS)}.")


def with_baseline(subject, kind: str, seed: int = 0):
    """A copy of ``subject`` whose baseline is :func:`baseline_of` ``kind``."""
    return dataclasses.replace(subject, baseline=baseline_of(subject, kind, seed))
