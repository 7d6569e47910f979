"""Fragility of explanations (Ghorbani et al., 004 §2.1, §2.3, §3, App. A and D).

Each sample is attacked (``attrbench.attacks.interpretation``) with random sign noise and, for
differentiable methods, the top-k and mass-center attacks of Algorithm 1, at every ε of
the scale's grid, keeping the predicted label. The normalised importance R(x_t) is then
compared with R(x_adv) by three metrics (§2.3, App. D), each averaged over samples:

- Spearman rank correlation of R(x_t) and R(x_adv) (↑: 1 = same order);
- top-k intersection: the fraction of the k most important features of R(x_t) that are
  still among the k most important of R(x_adv) (↑);
- centre-of-mass shift ‖C(x_adv) − C(x_t)‖₂ in pixels (↓; feature indices for inputs with
  no pixel grid).

The summary (the row's value, ``robustness`` ↑) is the mean top-k intersection under the
strongest attack (the lowest top-k intersection) at the largest ε. Methods that are not
differentiable get the random perturbation only, so their robustness is measured against
random noise alone; their targeted cells are N/A.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor

from attrbench.attacks.importance import center_of_mass, feature_positions, topk_mask
from attrbench.attacks.interpretation import KINDS, TARGETED, run_interpretation_attack
from attrbench.checks.context import CheckContext, check
from attrbench.results import Outcome
from attrbench.suite import Curves, Plot, Suite

NOT_DIFFERENTIABLE = "N/A: the method is not differentiable, so only the random perturbation applies"


def topk_intersection(r1: Tensor, r2: Tensor, k: int) -> Tensor:
    """Fraction of the top-k features of r1 that are also top-k in r2, per row (004 §2.3)."""
    return (topk_mask(r1, k) & topk_mask(r2, k)).sum(1).to(r1.dtype) / k


def spearman(r1: Tensor, r2: Tensor) -> Tensor:
    """Spearman rank correlation of each row pair (004 §2.3): the Pearson correlation of
    their ranks, ties given their average rank (scipy.stats.rankdata); NaN for a row whose
    ranks are all equal."""
    a = rankdata(r1.detach().cpu().double().numpy(), axis=1)
    b = rankdata(r2.detach().cpu().double().numpy(), axis=1)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return torch.from_numpy(rho)


def center_shift(r1: Tensor, r2: Tensor, positions: Tensor) -> Tensor:
    """‖C(r2) − C(r1)‖₂ per row, in the units of ``positions`` (004 App. D)."""
    return (center_of_mass(r2, positions) - center_of_mass(r1, positions)).norm(dim=1)


def _mean(values: Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return float(finite.double().mean()) if len(finite) else math.nan


@check(suite="fragility", check="fragility", metric="robustness", direction="higher")
def fragility(method, subject, ctx: CheckContext) -> Outcome:
    """The three attacks at every ε of ``scale.fragility_epsilons`` (× the domain width),
    ``scale.fragility_steps`` iterations of step ``scale.fragility_step`` × ε, k =
    ``scale.fragility_topk`` of the features, on ``scale.fragility_samples`` samples with the
    subject's baseline. The details hold, per (attack, ε), the three metrics, the
    fraction of samples the attack moved while keeping the label, and a status."""
    x, t, b = ctx.samples(subject, ctx.scale.fragility_samples or len(subject.inputs))
    lo, hi = subject.domain
    fractions = list(ctx.scale.fragility_epsilons)
    eps = [f * (hi - lo) for f in fractions]
    image_shape = subject.truth.get("image_shape")
    positions = feature_positions(x, image_shape)
    n_features = positions.shape[0]
    k = max(1, round(ctx.scale.fragility_topk * n_features))
    rows: dict[str, list] = {c: [] for c in ("attack", "epsilon_fraction", "epsilon", "topk_intersection",
                                             "spearman", "center_shift", "moved", "status")}  # fmt: skip
    notes = {}
    for kind in KINDS:
        if kind in TARGETED and not method.differentiable:
            for f, e in zip(fractions, eps):
                _add(rows, kind, f, e, math.nan, math.nan, math.nan, math.nan, NOT_DIFFERENTIABLE)
            continue
        result = run_interpretation_attack(
            method, subject.model, x, t, kind=kind, epsilon=eps, steps=ctx.scale.fragility_steps,
            step_size=[ctx.scale.fragility_step * e for e in eps], k=k, baseline=b, generator=ctx.generator,
            domain=subject.domain, image_shape=image_shape, guard=ctx.guard,
        )  # fmt: skip
        notes[kind] = result.note + (f"; gradient through a softplus surrogate ({result.surrogate} ReLUs)"
                                     if result.surrogate else "")  # fmt: skip
        for g, (f, e) in enumerate(zip(fractions, eps)):
            rows_g = slice(g * len(x), (g + 1) * len(x))
            r0, r1 = result.r_start[rows_g], result.r_adv[rows_g]
            _add(rows, kind, f, e, _mean(topk_intersection(r0, r1, k)), _mean(spearman(r0, r1)),
                 _mean(center_shift(r0, r1, positions)), float(result.moved[rows_g].double().mean()), "ok")  # fmt: skip
    last = [i for i, f in enumerate(rows["epsilon_fraction"]) if f == fractions[-1] and rows["status"][i] == "ok"]
    strongest = min(last, key=lambda i: (rows["topk_intersection"][i], rows["attack"][i]))
    return Outcome(
        value=rows["topk_intersection"][strongest],
        holds=None,
        details={
            "samples": len(x), "k": k, "features": n_features, "steps": ctx.scale.fragility_steps,
            "strongest attack": rows["attack"][strongest], "attacks": notes, **rows,
        },  # fmt: skip
    )


def _add(rows, attack, fraction, epsilon, topk, rho, shift, kept, status) -> None:
    for column, value in zip(rows, (attack, fraction, epsilon, topk, rho, shift, kept, status)):
        rows[column].append(value)


SUITE = Suite(
    name="fragility",
    title="Fragility",
    marker_help="fragility of explanations under attack (004)",
    description=(
        "Fragility of explanations (Ghorbani et al., 004): each sample is perturbed within "
        "an L∞ ball of radius ε (a fraction of the domain width) so that the predicted "
        "label is kept — by random sign noise (004 §3) and, for differentiable methods, "
        "by the top-k and mass-center attacks of Algorithm 1 (App. A), whose gradient goes "
        "through a softplus copy of ReLU networks (footnote c) — and the normalised "
        "importance R = |A| / Σ|A| (§2.1) before and after is compared by Spearman rank "
        "correlation (↑), top-k intersection (↑, k = 10 % of the features) and the shift of "
        "the centre of saliency mass in pixels (↓; §2.3, App. D). The score `robustness` "
        "is the mean top-k intersection under the strongest attack at the largest ε (↑)."
    ),
    summary_metrics=("robustness",),
    direction="higher",
    # The digits CNNs and MLPs with all four activations, and the linear model of App. F.
    subjects={"fragility": ("digits/cnn_*", "digits/mlp_*", "analytic/linear")},
    page="fragility.md",
    notes=(
        "**Targeted cells of non-differentiable methods are N/A**: occlusion, Shapley "
        "sampling, the windowed occlusion and the random control have no gradient to "
        "follow, so they meet only the random perturbation and their robustness is an "
        "upper bound (random noise is the weakest attack).\n\n"
        "**Linear model** (`analytic/linear`, App. F): the gradient and saliency maps "
        "are the weights and no attack moves them (top-k intersection and Spearman 1). "
        "Gradient×Input, IG and DeepLIFT equal w ⊙ (x − x̄) there, which moves with x: "
        "an attack can reorder features whose |wᵢxᵢ| lie within ε|wᵢ| + ε|wⱼ| of each "
        "other, so App. F's robustness does not carry over to them (tests/"
        "test_fragility.py).\n\n"
        "**ReLU networks**: the attack follows the gradient of D through the softplus "
        "copy and picks its iterate by that copy's D; the reported metrics compare the "
        "real network's explanations. ε-LRP barely moves under it: on the softplus copy "
        "ε-LRP is no longer Gradient×Input (003 Prop. 3), so its gradient points "
        "elsewhere — a limit of the surrogate, not evidence of robustness."
    ),
    curves=Curves(
        "fragility",
        ("epsilon_fraction", "attack", "epsilon", "topk_intersection", "spearman", "center_shift",
         "moved", "status"),
        "fragility_curves.csv",
        x="epsilon_fraction",
        labels=("attack", "status"),
        table=("method", "attack", "epsilon_fraction"),
        table_values=("topk_intersection", "spearman", "center_shift", "moved"),
        plots=(
            Plot("fragility_topk.png", "topk_intersection", panel="method", line="attack",
                 caption="Top-k intersection against ε (fraction of the domain width), mean over "
                 "subjects, one panel per method and one line per attack, as 004 Figure 2."),
            Plot("fragility_spearman.png", "spearman", panel="method", line="attack",
                 caption="Spearman rank correlation against ε, as above."),
        ),
    ),
)  # fmt: skip
