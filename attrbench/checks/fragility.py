"""Fragility of explanations (Ghorbani et al., 004 §2.1, §2.3, §3, App. A and D).

Every method meets the same attack set, at every ε of the scale's grid, each attack
keeping the predicted label within the ε-ball ∩ the domain:

- ``random``: random sign noise (004 §3), drawn once per subject from a generator of the
  run's seed and the subject, so every method sees the same perturbed inputs;
- ``topk@s``, ``mass_center@s`` for each surrogate s of the panel
  (``attrbench.attacks.shared.PANEL``: gradient, Gradient×Input): the top-k and
  mass-center attacks of Algorithm 1 (App. A) computed against s, once per subject in a
  process, and applied to every method (transfer attacks);
- ``topk@self``, ``mass_center@self``: the same two attacks against the method itself —
  white-box Algorithm 1 where it is differentiable (for a panel method with its default
  options, its own transfer attack), and for the rest the gradient-free version with
  SPSA estimates of ∇D through the method's output (``attrbench.attacks.gradient_free``)
  at the scale's query budget.

The normalised importance R_m(x_t) of the method under test is then compared with
R_m(x_adv) by three metrics (§2.3, App. D), each averaged over samples:

- Spearman rank correlation of R(x_t) and R(x_adv) (↑: 1 = same order);
- top-k intersection: the fraction of the k most important features of R(x_t) that are
  still among the k most important of R(x_adv) (↑);
- centre-of-mass shift ‖C(x_adv) − C(x_t)‖₂ in pixels (↓; feature indices for inputs with
  no pixel grid).

The summary (the row's value, ``robustness`` ↑) is the worst case over the common set: the
lowest mean top-k intersection over the attacks at the largest ε. ``Outcome.samples``
holds each sample's top-k intersection there under every attack (samples × attacks),
aggregated by ``min_of_means``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from attrbench.attacks import shared
from attrbench.attacks.gradient_free import check_spsa_options, query_budget, run_spsa_attack
from attrbench.attacks.importance import center_of_mass, feature_positions, importance, topk_mask
from attrbench.attacks.interpretation import TARGETED, repeat_baseline, run_interpretation_attack
from attrbench.checks.context import CheckContext, check
from attrbench.guard import Guard
from attrbench.results import Outcome
from attrbench.suite import Curves, Plot, Suite


def attack_set() -> list[tuple[str, str]]:
    """(attack, family) of the common set, in column order."""
    return [
        ("random", "random"),
        *((f"{kind}@{s}", f"transfer {kind}") for kind in TARGETED for s in shared.PANEL),
        *((f"{kind}@self", f"self {kind}") for kind in TARGETED),
    ]


def topk_intersection(r1: Tensor, r2: Tensor, k: int) -> Tensor:
    """Fraction of the top-k features of r1 that are also top-k in r2, per row (004 §2.3)."""
    return (topk_mask(r1, k) & topk_mask(r2, k)).sum(1).to(r1.dtype) / k


def spearman(r1: Tensor, r2: Tensor) -> Tensor:
    """Spearman rank correlation of each row pair (004 §2.3): the Pearson correlation of
    their ranks, ties given their average rank (scipy.stats.rankdata); NaN for a row whose
    ranks are all equal."""
    return rank_correlation(row_ranks(r1), row_ranks(r2))


def row_ranks(r: Tensor) -> np.ndarray:
    """Each row's ranks, ties given their average rank (scipy.stats.rankdata), float64."""
    from scipy.stats import rankdata  # here: importing scipy.stats costs every pytest process 0.7 s

    return rankdata(r.detach().cpu().double().numpy(), axis=1)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> Tensor:
    """Pearson correlation of each row pair of ranks (:func:`row_ranks`): :func:`spearman`
    from ranks computed once; ``a`` broadcasts against ``b`` (e.g. (1, N, F) with (S, N, F))."""
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return torch.from_numpy(rho)


def center_shift(r1: Tensor, r2: Tensor, positions: Tensor) -> Tensor:
    """‖C(r2) − C(r1)‖₂ per row, in the units of ``positions`` (004 App. D)."""
    return (center_of_mass(r2, positions) - center_of_mass(r1, positions)).norm(dim=1)


def _mean(values: Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return float(finite.double().mean()) if len(finite) else math.nan


@check(suite="fragility", check="fragility", metric="robustness", direction="higher")
def fragility(method, subject, ctx: CheckContext) -> Outcome:
    """The common attack set (module doc) at every ε of ``scale.fragility_epsilons`` (× the
    domain width), ``scale.fragility_steps`` iterations of step ``scale.fragility_step`` × ε
    (the SPSA attack: ``scale.fragility_spsa_steps`` iterations of the same path length,
    ``scale.fragility_spsa_directions`` directions, probes at ± ``scale.fragility_spsa_c``
    × ε), k = ``scale.fragility_topk`` of the features, on ``scale.fragility_samples``
    samples with the subject's baseline. The details hold, per (attack, ε), the three
    metrics and the fraction of samples the attack moved while keeping the label, and how
    each attack ran."""
    scale = ctx.scale
    check_spsa_options(scale.fragility_spsa_directions, scale.fragility_spsa_c)
    x, t, b = ctx.samples(subject, scale.fragility_samples or len(subject.inputs))
    lo, hi = subject.domain
    fractions = list(scale.fragility_epsilons)
    eps = [f * (hi - lo) for f in fractions]
    image_shape = subject.truth.get("image_shape")
    positions = feature_positions(x, image_shape)
    k = max(1, round(scale.fragility_topk * positions.shape[0]))
    grid = shared.Grid(tuple(eps), scale.fragility_steps, tuple(scale.fragility_step * e for e in eps), k, ctx.seed)
    n, g = len(x), len(eps)
    x_t, t_rows, b_rows = x.repeat(g, *[1] * (x.dim() - 1)), t.repeat(g), repeat_baseline(b, x, g)

    def explain(points: Tensor, where: str) -> Tensor:
        return importance(ctx.attribute(method, subject.model, points, t_rows, b_rows, where=where).detach())

    r_t = explain(x_t, "original")
    found = {}  # attack -> (R_m(x_adv), moved, note)
    for name, p in _common_perturbations(subject, x, t, b, grid, ctx).items():
        found[name] = (explain(p.x_adv, f"{name} attack"), p.moved, p.note)
    options = dict(epsilon=eps, baseline=b, domain=subject.domain, image_shape=image_shape, guard=ctx.guard,
                   r_start=r_t, k=k)  # fmt: skip
    for kind in TARGETED:
        found[f"{kind}@self"] = _self_attack(method, kind, subject, x, t, options, found, scale, ctx)

    rows: dict[str, list] = {c: [] for c in ("attack", "family", "epsilon_fraction", "epsilon", "topk_intersection",
                                             "spearman", "center_shift", "moved")}  # fmt: skip
    per_sample = []  # at the largest ε: one column per attack
    for name, family in attack_set():
        r_adv, moved, _ = found[name]
        for e, (f, radius) in enumerate(zip(fractions, eps)):
            part = slice(e * n, (e + 1) * n)
            topk = topk_intersection(r_t[part], r_adv[part], k)
            values = (name, family, f, radius, _mean(topk), _mean(spearman(r_t[part], r_adv[part])),
                      _mean(center_shift(r_t[part], r_adv[part], positions)), float(moved[part].double().mean()))
            for column, value in zip(rows, values):
                rows[column].append(value)
        per_sample.append(topk.double().tolist())
    samples = np.asarray(per_sample).T  # (samples, attacks)
    means = samples.mean(0)
    strongest = int(np.argmin(means))  # the first of equal means, in column order
    return Outcome(
        value=float(means[strongest]),
        holds=None,
        details={
            "samples": n, "k": k, "features": positions.shape[0], "steps": scale.fragility_steps,
            "panel": list(shared.PANEL), "strongest attack": attack_set()[strongest][0],
            "attacks": {name: note for name, (_, _, note) in found.items()}, **rows,
        },  # fmt: skip
        samples=samples.tolist(),
        aggregate="min_of_means",
    )


def _common_perturbations(subject, x, t, b, grid: shared.Grid, ctx: CheckContext) -> dict:
    """The random and transfer perturbations of ``subject`` (cached; module doc of
    ``attrbench.attacks.shared``), the panel's calls under a guard of their own."""
    guard = Guard(timeout=ctx.guard.timeout, memory=ctx.guard.memory, seed=shared.panel_seed(grid.seed, subject.name),
                  check_determinism=False, check="fragility transfer panel")  # fmt: skip
    found = {"random": shared.random_perturbation(subject.name, subject.model, x, grid=grid, domain=subject.domain)}
    with guard.scope():
        for kind in TARGETED:
            for s in shared.PANEL:
                p = shared.transfer_perturbation(
                    s, kind, subject.name, subject.model, x, t, b, grid=grid, domain=subject.domain,
                    image_shape=subject.truth.get("image_shape"), guard=guard,
                )  # fmt: skip
                surrogate = f"; gradient through a softplus surrogate ({p.surrogate} ReLUs)" if p.surrogate else ""
                found[f"{kind}@{s}"] = shared.Perturbation(p.x_adv, p.moved, f"against {s}: {p.note}{surrogate}")
    return found


def _self_attack(method, kind: str, subject, x, t, options: dict, found: dict, scale, ctx) -> tuple:
    """(R_m(x_adv), moved, note) of the ``kind`` attack against ``method`` itself."""
    if method.name in shared.PANEL and not method.params:
        r_adv, moved, note = found[f"{kind}@{method.name}"]
        return r_adv, moved, f"white-box: the panel's own attack on {method.name} ({note})"
    steps = scale.fragility_steps
    if method.differentiable:
        result = run_interpretation_attack(
            method, subject.model, x, t, kind=kind, steps=steps, generator=ctx.generator,
            step_size=[scale.fragility_step * e for e in options["epsilon"]], **options,
        )  # fmt: skip
        surrogate = f"; gradient through a softplus surrogate ({result.surrogate} ReLUs)" if result.surrogate else ""
        return result.r_adv, result.moved, f"white-box Algorithm 1: {result.note}{surrogate}"
    spsa_steps, d = scale.fragility_spsa_steps, scale.fragility_spsa_directions
    result = run_spsa_attack(
        method, subject.model, x, t, kind=kind, steps=spsa_steps, directions=d, c=scale.fragility_spsa_c,
        step_size=[scale.fragility_step * steps / spsa_steps * e for e in options["epsilon"]],
        generator=ctx.generator, **options,
    )  # fmt: skip
    budget = query_budget(spsa_steps, d)
    return result.r_adv, result.moved, f"gradient-free Algorithm 1 (budget {budget}): {result.note}"


SUITE = Suite(
    name="fragility",
    title="Fragility",
    marker_help="fragility of explanations under attack (004)",
    description=(
        "Fragility of explanations (Ghorbani et al., 004): each sample is perturbed within "
        "an L∞ ball of radius ε (a fraction of the domain width) so that the predicted "
        "label is kept, and the normalised importance R = |A| / Σ|A| (§2.1) before and "
        "after is compared by Spearman rank correlation (↑), top-k intersection (↑, k = "
        "10 % of the features) and the shift of the centre of saliency mass in pixels (↓; "
        "§2.3, App. D). Every method meets the same seven attacks: random sign noise (§3; "
        "the same perturbed inputs for every method), the top-k and mass-center attacks of "
        "Algorithm 1 (App. A) computed against each of a fixed panel of differentiable "
        "surrogates — gradient, Gradient×Input — and transferred (`topk@gradient`, …), "
        "and the same two attacks against the method itself (`topk@self`, "
        "`mass_center@self`): white-box where it is differentiable, gradient-free (SPSA "
        "estimates of ∇D through its own output, a stated query budget) where it is not. "
        "Gradients of ReLU networks go through a softplus copy (footnote c). The score "
        "`robustness` is the worst case over the seven: the lowest mean top-k intersection "
        "at the largest ε (↑)."
    ),
    summary_metrics=("robustness",),
    direction="higher",
    # The digits CNNs and MLPs with all four activations, the 28×28 digits (004's MNIST size) and the
    # 32×32 shapes networks (its CIFAR-10 size) at the scales that name them (Scale.large_subjects),
    # and the linear model of App. F.
    subjects={"fragility": ("digits/cnn_*", "digits/mlp_*", "digits28/*", "shapes/*", "analytic/linear")},
    page="fragility.md",
    notes=(
        "**One attack set.** No cell is N/A: occlusion, Shapley sampling, the windowed "
        "occlusion, the influence decomposition and the random control meet the transfer "
        "attacks and a gradient-free self attack (SPSA, Spall 1992: per step d Rademacher "
        "directions, the method evaluated at x ± c·ε·δ; budget per point = SPSA steps × "
        "(2d + 1) method evaluations, in each row's details). The SPSA attack is weaker "
        "than white-box Algorithm 1 at equal steps, so for those methods the self column "
        "is an upper bound on their fragility; the transfer columns are the same attacks "
        "for everyone.\n\n"
        "**Linear model** (`analytic/linear`, App. F): the gradient and saliency maps "
        "are the weights and no attack moves them (top-k intersection and Spearman 1). "
        "Gradient×Input, IG and DeepLIFT equal w ⊙ (x − x̄) there, which moves with x: "
        "an attack can reorder features whose |wᵢxᵢ| lie within ε|wᵢ| + ε|wⱼ| of each "
        "other, so App. F's robustness does not carry over to them (tests/"
        "test_fragility.py).\n\n"
        "**ReLU networks**: the white-box and transfer attacks follow the gradient of D "
        "through the softplus copy and pick their iterate by that copy's D; the reported "
        "metrics compare the real network's explanations. ε-LRP barely moves under its own "
        "white-box attack: on the softplus copy ε-LRP is no longer Gradient×Input (003 "
        "Prop. 3), so its gradient points elsewhere — a limit of the surrogate, which the "
        "transfer attack from Gradient×Input does not share."
    ),
    curves=Curves(
        "fragility",
        ("epsilon_fraction", "attack", "family", "epsilon", "topk_intersection", "spearman", "center_shift", "moved"),
        "fragility_curves.csv",
        x="epsilon_fraction",
        labels=("attack", "family"),
        table=("method", "epsilon_fraction"),
        table_values=("topk_intersection",),
        pivot="attack",
        plots=(
            Plot("fragility_topk.png", "topk_intersection", panel="method", line="family",
                 caption="Top-k intersection against ε (fraction of the domain width), mean over "
                 "subjects and, for the transfer families, over the panel's two surrogates; one "
                 "panel per method and one line per attack family, as 004 Figure 2."),
            Plot("fragility_spearman.png", "spearman", panel="method", line="family",
                 caption="Spearman rank correlation against ε, as above."),
        ),
    ),
)  # fmt: skip
