"""Localisation: does a map put its relevance on the pixels that decide the class?

On subjects whose ``truth["evidence"]`` marks, per input, the pixels of the object that
decides the class (a bool tensor (N, H, W) aligned with the inputs; the ``shapes/*``
subjects), two per-sample scores of a map A, with a pixel's relevance
r_p = Σ_c |A_{c,p}| (|A| summed over the pixel's channels):

- :func:`relevance_mass` — relevance mass accuracy (Arras, Osman & Samek 2022,
  "CLEVR-XAI: a benchmark dataset for the ground truth evaluation of neural network
  explanations", Information Fusion 81; after Kohlbrenner, Bauer, Nakajima, Binder, Samek
  & Lapuschkin 2020, "Towards best practice in explaining neural network decisions with
  LRP", IJCNN): Σ_{p ∈ mask} r_p / Σ_p r_p ∈ [0, 1]. Arras et al. compute it on a pooled,
  non-negative one-channel heatmap; r is their L1-norm pooling over channels (their code's
  ``l1-norm``), so relevance of either sign counts as pointing at its pixel (the issue's
  "share of |A|"). An all-zero map gets the mask's area fraction |mask| / P, what a uniform
  map gets (no better than chance), where the ratio would be 0/0.
- :func:`pointing_game` — Zhang, Bargal, Lin, Brandt, Shen & Sclaroff 2018, "Top-down
  neural attention by excitation backprop", IJCV 126: 1 when the pixel of maximal r lies
  inside the mask, else 0; ties go to the lowest flat (row-major) index, a stable rule, so
  an all-zero map points at the top-left pixel. No tolerance region: Zhang et al. count a
  hit within 15 px of a hand-drawn ImageNet annotation (about 7 % of a 224-px side) to
  absorb annotation slack; the evidence masks here are exact (the object's own pixels,
  generated with the image), so a maximum outside the object is a miss.

A random map puts about the mask's area fraction of its mass inside the mask and points
into it with about that probability: the random control is the reference.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from attrbench.checks.context import CheckContext, check
from attrbench.errors import InputShapeError, MissingTruthError
from attrbench.results import Outcome

#: The key of ``Subject.truth`` that holds the evidence masks (N, H, W), bool.
EVIDENCE = "evidence"


class Localisation(NamedTuple):
    """Per-sample results of :func:`localisation`, each (N,) float64: the relevance mass
    inside the mask, the pointing-game hit (0 or 1) and the mask's area fraction."""

    mass: Tensor
    pointing: Tensor
    area: Tensor


def pixel_relevance(attributions: Tensor, mask: Tensor) -> Tensor:
    """r = Σ_c |A_c| per pixel, float64, shape (N, H·W) for masks (N, H, W): attributions
    (N, C, H, W), (N, H, W), or flat (N, C·H·W) of images (an MLP's inputs, channels
    first as ``reshape(N, C, H, W)`` lays them out)."""
    if mask.dim() != 3 or mask.dtype != torch.bool:
        raise InputShapeError(
            f"evidence masks have shape {tuple(mask.shape)} and dtype {mask.dtype}; pass a bool tensor (N, H, W), "
            "True on the pixels of the object that decides the class."
        )
    n, pixels = mask.shape[0], mask.shape[1] * mask.shape[2]
    grid = attributions.dim() >= 3 and tuple(attributions.shape[-2:]) != tuple(mask.shape[1:])
    if len(attributions) != n or attributions.shape[1:].numel() % pixels or grid:
        raise InputShapeError(
            f"attributions {tuple(attributions.shape)} do not fit evidence masks {tuple(mask.shape)}: pass one map "
            "per mask, (N, C, H, W), (N, H, W) or flat (N, C·H·W), on the mask's H×W pixels."
        )
    a = attributions.detach().double().abs().reshape(n, -1, pixels)
    return a.sum(1)


def _mass(r: Tensor, inside: Tensor, area: Tensor) -> Tensor:
    """Σ_{mask} r / Σ r per row of the pixel relevances ``r`` (N, P); ``area`` where Σ r = 0."""
    total = r.sum(1)
    return torch.where(total > 0, (r * inside).sum(1) / torch.where(total > 0, total, 1.0), area)


def _pointing(r: Tensor, inside: Tensor) -> Tensor:
    """1.0 where the first pixel of maximal r lies inside the mask, else 0.0."""
    top = r.max(1, keepdim=True).values
    first = (r == top).double().argmax(1)  # argmax of a 0/1 row: its first 1 (documented for ties)
    return inside.gather(1, first[:, None]).squeeze(1).double()


def _flat(mask: Tensor, r: Tensor) -> Tensor:
    return mask.reshape(len(mask), -1).to(r.device)


def relevance_mass(attributions: Tensor, mask: Tensor) -> Tensor:
    """Σ_{p ∈ mask} r_p / Σ_p r_p per sample (Arras et al. 2022, on r = Σ_c |A_c|), (N,)
    float64; the mask's area fraction where the map is all zero."""
    r = pixel_relevance(attributions, mask)
    inside = _flat(mask, r)
    return _mass(r, inside, inside.double().mean(1))


def pointing_game(attributions: Tensor, mask: Tensor) -> Tensor:
    """1.0 where the pixel of maximal r lies inside the mask, else 0.0 (Zhang et al. 2018;
    no tolerance region; ties: the lowest flat index), (N,) float64."""
    r = pixel_relevance(attributions, mask)
    return _pointing(r, _flat(mask, r))


def localisation(attributions: Tensor, mask: Tensor) -> Localisation:
    """:func:`relevance_mass`, :func:`pointing_game` and the mask's area fraction |mask| / P,
    from one computation of the pixel relevances."""
    r = pixel_relevance(attributions, mask)
    inside = _flat(mask, r)
    area = inside.double().mean(1)
    return Localisation(_mass(r, inside, area), _pointing(r, inside), area)


def evidence_masks(subject, n: int) -> Tensor:
    """The first ``n`` evidence masks of ``subject`` (``truth["evidence"]``), or
    MissingTruthError where the subject has none."""
    masks = subject.truth.get(EVIDENCE)
    if masks is None:
        raise MissingTruthError(
            f"subject {subject.name!r} has no truth[{EVIDENCE!r}] (a bool mask (N, H, W) of the pixels that decide "
            "the class), so no localisation score exists for it; run the check on subjects with evidence masks "
            "(shapes/*)."
        )
    return torch.as_tensor(masks)[:n]


@check(suite="faithfulness", check="localisation", metric="relevance_mass", direction="higher")
def relevance_mass_accuracy(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`localisation` on ``scale.faithfulness_samples`` samples with the subject's
    baseline for the method. The value is the mean relevance mass inside the evidence
    mask (↑; per sample in ``samples``); the details hold the pointing-game hit rate and
    the masks' mean area fraction (what a random map gets on both), each also per sample."""
    x, t, b = ctx.samples(subject, ctx.scale.faithfulness_samples)
    masks = evidence_masks(subject, len(x))
    attr = ctx.attribute(method, subject.model, x, t, b, where="localisation")
    r = localisation(attr, masks.to(attr.device))
    return Outcome(
        value=float(r.mass.mean()),
        samples=r.mass.tolist(),
        aggregate="mean",
        details={
            "inputs": len(x),
            "pixels": masks.shape[1] * masks.shape[2],
            "relevance_mass": float(r.mass.mean()),
            "pointing_game": float(r.pointing.mean()),
            "area_fraction": float(r.area.mean()),
            "per_sample_pointing_game": r.pointing.tolist(),
            "per_sample_area_fraction": r.area.tolist(),
        },
    )
