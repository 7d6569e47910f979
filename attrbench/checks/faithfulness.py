"""Faithfulness: remove what a map calls important and watch the model.

- :func:`deletion_insertion` — Petsiuk, Das & Saenko 2018, "RISE: Randomized input
  sampling for explanation of black-box models", BMVC, §4.1. Features are ordered by
  attribution, descending, ties broken by the lower index (a stable sort); for (N, C, H, W)
  inputs a pixel (its channels, attributions summed) is one feature. At step j = 0..S,
  k_j = ⌊j·F/S + ½⌋ (round half up; S = F when ``steps`` is None: one feature per step)
  features are replaced by the baseline starting from x (deletion) or copied from x into
  the baseline (insertion). The score is the softmax probability of the target class, and
  each AUC is the trapezoid rule over the fractions k_j/F ∈ [0, 1].
- :func:`road` — Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A consistent and
  efficient evaluation strategy for attribution methods" (ROAD), ICML: the top (MoRF)
  or bottom (LeRF) fraction p of the pixels by attribution is removed by noisy linear
  imputation (:mod:`attrbench.checks.imputation`) and the model's accuracy (argmax = target)
  measured at each p of a grid; the softmax probability of the target is kept beside it.
- localisation (:mod:`attrbench.checks.localisation`, part of this suite): the share of |A|
  inside the evidence mask (Arras et al. 2022) and the pointing game (Zhang et al. 2018).
- :func:`infidelity` — Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (in)fidelity
  and sensitivity of explanations", NeurIPS, §2 (explanation infidelity): per sample,
  E_I[(Iᵀ A − (F(x) − F(x − I)))²] over given perturbations I, F the target logit; with
  ``normalize`` A is first rescaled by the optimal β = E[IᵀA·ΔF] / E[(IᵀA)²] (§2; Captum's
  ``normalize=True``).

Every perturbed input of every sample and step (or perturbation) is one point of a single
stream of model evaluations, built and evaluated chunk by chunk (``batch_size`` points per
forward pass, ``attrbench.functional.chunks``; :data:`BATCH_SIZE` by default).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from attrbench.checks.context import CheckContext, check
from attrbench.checks.imputation import NESTED_MAX_PIXELS, nested_imputation
from attrbench.checks.localisation import relevance_mass_accuracy  # noqa: F401  (the suite's localisation check)
from attrbench.checks.sensitivity_n import feature_attributions, groups_channels
from attrbench.errors import InputShapeError, InvalidOptionError, UnsupportedModelError
from attrbench.functional import (
    as_targets, check_scores, check_target_range, chunks, evaluate, expand_baseline, seeded_generator,
)  # fmt: skip
from attrbench.results import Outcome
from attrbench.suite import Curves, Plot, Suite

#: Points per forward pass by default: on the digits CNNs (one torch thread) passes of 256 or
#: 512 inputs cost about 0.7× per input what passes of 1024 do (bench/README.md, faithfulness);
#: the MLPs lose little (≤ 0.5 ms per 4160 points against 1024).
BATCH_SIZE = 512
#: ROAD's grid of removed fractions: 10 % to 90 % in steps of 10 %.
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The suite's ROAD noise σ as a fraction of the subject's domain width b − a (Rong et
#: al.'s code adds σ = 0.01 to images normalised per channel, a width of about 4–5).
ROAD_NOISE = 0.0025
#: Images :func:`road` imputes per call where :func:`nested_imputation` factors them (up to
#: ``NESTED_MAX_PIXELS`` pixels): a call's cost there is mostly fixed (about 0.4 ms of its
#: 2 ms for 576 images of 8×8), its memory a few float64 copies of the images (4.5 MiB
#: each for 2048 images of 16×16 pixels; one forward pass's worth above 256 pixels).
ROAD_NESTED_IMAGES = 2048
#: The suite's infidelity perturbations: I ~ N(0, σ² Id), σ = this fraction of the domain
#: width b − a, drawn per subject (the same I for every method). Yeh et al. (§2)
#: leave μ_I to the user; a Gaussian is the distribution of Captum's infidelity example.
INFIDELITY_SIGMA = 0.05


class DeletionInsertion(NamedTuple):
    """Per-sample results of :func:`deletion_insertion`: the fractions k_j/F (S + 1,), the
    removed counts k_j (S + 1,), the curves (N, S + 1) and their AUCs (N,)."""

    fractions: Tensor
    counts: Tensor
    deletion: Tensor
    insertion: Tensor
    deletion_auc: Tensor
    insertion_auc: Tensor


class Road(NamedTuple):
    """Per-sample results of :func:`road`: the fractions p (G,), the number of removed
    pixels (G,), accuracy (1.0 when argmax = target) and target probability (N, G) after
    most-relevant-first (``morf_*``) and least-relevant-first (``lerf_*``) removal."""

    fractions: Tensor
    counts: Tensor
    morf_correct: Tensor
    lerf_correct: Tensor
    morf_probability: Tensor
    lerf_probability: Tensor


def step_counts(n_features: int, steps: int | None = None) -> Tensor:
    """k_j = ⌊j·F/S + ½⌋ for j = 0..S (exact integer arithmetic; S = F when ``steps`` is None)."""
    steps = n_features if steps is None else int(steps)
    if steps < 1:
        raise InvalidOptionError(f"steps={steps}: pass at least 1 step (or None for one feature per step).")
    j = torch.arange(steps + 1)
    return (2 * j * n_features + steps) // (2 * steps)


def feature_ranks(attributions: Tensor, x: Tensor, group_channels: bool | None = None) -> Tensor:
    """(N, F): each feature's position when the features are sorted by attribution,
    descending, ties by the lower index (a stable sort); 0 is the most relevant."""
    a = feature_attributions(attributions, x, group_channels)
    order = torch.sort(a, dim=1, descending=True, stable=True).indices
    return torch.empty_like(order).scatter_(1, order, torch.arange(a.shape[1], device=a.device).expand_as(order))


def target_probabilities(model, points: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax probability of the target class at ``points`` and whether it is the
    argmax (1.0) or not (0.0): one forward pass, no graph."""
    with torch.no_grad():
        scores = check_scores(model(points), len(points))
    if scores.shape[1] < 2:
        raise UnsupportedModelError(
            "the model returns one score per sample, whose softmax is always 1; deletion, insertion and ROAD "
            "need class scores (N, C) with C ≥ 2 (return the logits of every class, e.g. (−z, z) for two)."
        )
    check_target_range(targets, scores.shape[1])
    p = scores.softmax(1).gather(1, targets[:, None]).squeeze(1)
    return p, (scores.argmax(1) == targets).float()


def _mask_shape(x: Tensor, grouped: bool) -> tuple[int, ...]:
    return (1, *x.shape[2:]) if grouped else tuple(x.shape[1:])


def deletion_insertion(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    baseline=0.0,
    *,
    steps: int | None = None,
    batch_size: int | None = BATCH_SIZE,
    group_channels: bool | None = None,
) -> DeletionInsertion:
    """Deletion and insertion curves and AUCs of ``attributions`` (same shape as ``x``)
    for the class ``target`` (Petsiuk et al. 2018, §4.1; definitions in the module
    docstring). ``baseline`` (scalar or broadcasting to ``x``; None for zeros) replaces
    the deleted features and is the canvas insertion starts from."""
    t = as_targets(target, len(x), x.device)
    b = expand_baseline(baseline, x)
    grouped = groups_channels(x, group_channels)
    ranks = feature_ranks(attributions, x, grouped)
    counts = step_counts(ranks.shape[1], steps).to(x.device)
    n, s = len(x), len(counts)
    shape = _mask_shape(x, grouped)
    probs = []
    for chunk in chunks(2 * n * s, batch_size):  # point p: sample p // 2S, curve (p // S) % 2, step p % S
        p = torch.arange(chunk.start, chunk.stop, device=x.device)
        rows, inserting, step = p // (2 * s), (p // s) % 2 == 1, p % s
        top = (ranks[rows] < counts[step][:, None]).reshape(len(p), *shape)
        from_baseline = top ^ inserting.reshape(-1, *[1] * len(shape))
        points = torch.where(from_baseline, b[rows], x[rows])
        probs.append(target_probabilities(model, points, t[rows])[0])
    curves = torch.cat(probs).reshape(n, 2, s)
    fractions = counts.double() / ranks.shape[1]
    aucs = torch.trapezoid(curves.double(), fractions, dim=-1)
    return DeletionInsertion(fractions, counts, curves[:, 0], curves[:, 1], aucs[:, 0], aucs[:, 1])


def road(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    *,
    fractions=ROAD_FRACTIONS,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
    batch_size: int | None = BATCH_SIZE,
    image_shape: tuple[int, ...] | None = None,
) -> Road:
    """ROAD (Rong et al. 2022): for each p in ``fractions`` the round(p·F) most
    (MoRF) and least (LeRF) relevant pixels — the stable descending order of
    :func:`feature_ranks`, channels summed — are removed by noisy linear imputation with
    noise N(0, ``noise_std``²), and the model's accuracy and target probability measured.

    ``x`` is (N, C, H, W); flat inputs (N, D) of images (an MLP's) take ``image_shape``
    (C, H, W) or (H, W), and the model still sees them flat. Every (sample, order,
    fraction) image is imputed and evaluated in one chunked stream of (sample, order)
    pairs: batched imputations (:func:`attrbench.checks.imputation.nested_imputation`: up
    to 256 pixels two Cholesky factors per pair, removed and kept side, serve its G nested
    removals, for up to :data:`ROAD_NESTED_IMAGES` images per call; above, a banded
    Cholesky solve per image, one forward pass's worth per call) and forward passes of at most about ``batch_size``
    images, as few as it takes, evenly filled. The noise is drawn for all images at once
    from ``generator``, so the result does not depend on ``batch_size``."""
    t = as_targets(target, len(x), x.device)
    flat = x
    if image_shape is not None:
        shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
        if x[0].numel() != torch.Size(shape).numel() or attributions.shape != x.shape:
            raise InputShapeError(
                f"image_shape {tuple(image_shape)} does not hold one input of shape {tuple(x.shape[1:])} "
                f"(attributions {tuple(attributions.shape)}); pass the (C, H, W) the flat inputs come from."
            )
        x, attributions = x.reshape(len(x), *shape), attributions.reshape(len(x), *shape)
    if x.dim() != 4:
        raise InputShapeError(
            f"ROAD imputes pixels from their neighbours, so it needs images (N, C, H, W); got {tuple(x.shape)}. "
            "Pass image_shape for flattened images; inputs without a pixel grid have no neighbours."
        )
    ranks = feature_ranks(attributions, x, True)
    n, f = ranks.shape
    grid = torch.as_tensor([float(v) for v in fractions], dtype=torch.float64)
    counts = torch.floor(grid * f + 0.5).long()
    if len(grid) == 0 or bool(((grid < 0) | (counts >= f)).any()):
        raise InvalidOptionError(
            f"ROAD fractions {list(map(float, grid))} must remove between 0 and F − 1 of the F = {f} pixels: "
            "an image with every pixel removed has nothing to impute from; pass fractions in [0, 1)."
        )
    g = len(grid)
    noise = torch.randn((n * 2, g, *x.shape[1:]), generator=generator, dtype=x.dtype).to(x.device)
    counts_dev = counts.to(x.device)
    positions = torch.stack([ranks, f - 1 - ranks], 1).reshape(2 * n, f)  # pair q: sample q // 2, LeRF if q % 2
    parts = -(-2 * n * g // (batch_size or 2 * n * g))  # as few passes as batch_size allows, evenly filled
    per_pass = -(-2 * n * g // parts)
    nested = f <= NESTED_MAX_PIXELS  # small fixed cost per call, little memory: impute many pairs at once
    probs, correct = [], []
    for chunk in chunks(2 * n, max(1, ROAD_NESTED_IMAGES // g) if nested else -(-2 * n // parts)):
        rows = torch.arange(chunk.start, chunk.stop, device=x.device) // 2
        position = positions[chunk]
        removed = (position[:, None, :] < counts_dev[None, :, None]).reshape(-1, 1, *x.shape[2:])
        images = nested_imputation(x[rows], position, counts).reshape(len(rows) * g, *x.shape[1:])
        images = images + noise_std * noise[chunk].reshape(images.shape) * removed.to(x.dtype)
        points, targets = images.reshape(len(images), *flat.shape[1:]), t[rows].repeat_interleave(g)
        for s in chunks(len(points), per_pass):
            prob, hit = target_probabilities(model, points[s], targets[s])
            probs.append(prob)
            correct.append(hit)
    prob, hit = torch.cat(probs).reshape(n, 2, g), torch.cat(correct).reshape(n, 2, g)
    return Road(grid, counts, hit[:, 0], hit[:, 1], prob[:, 0], prob[:, 1])


def infidelity(
    model,
    x: Tensor,
    target,
    attributions: Tensor,
    perturbations: Tensor,
    *,
    normalize: bool = False,
    batch_size: int | None = BATCH_SIZE,
) -> Tensor:
    """Infidelity per sample (Yeh et al. 2019, §2), shape (N,):
    mean over the M perturbations I = ``perturbations[i, m]`` (shape (N, M, *x.shape[1:]))
    of (Σ I ⊙ A − (F(x) − F(x − I)))², F(x) = model(x)[target] (the logit). With
    ``normalize`` the attributions of each sample are first scaled by the optimal
    β = mean(IᵀA · ΔF) / mean((IᵀA)²) (0 where every IᵀA is 0), as Captum's
    ``infidelity(normalize=True)``. The N·M points x − I are evaluated in chunks."""
    if perturbations.dim() != x.dim() + 1 or perturbations.shape[0] != len(x) or perturbations.shape[2:] != x.shape[1:]:
        raise InputShapeError(
            f"perturbations have shape {tuple(perturbations.shape)} for inputs {tuple(x.shape)}; pass M "
            f"perturbations per sample, shape ({len(x)}, M, {', '.join(map(str, x.shape[1:]))})."
        )
    if attributions.shape != x.shape:
        raise InputShapeError(
            f"attributions have shape {tuple(attributions.shape)} but the inputs {tuple(x.shape)}; "
            "pass one attribution per input element."
        )
    dots, drops = infidelity_terms(model, x, target, attributions, perturbations, batch_size=batch_size)
    return infidelity_from_terms(dots, drops, normalize)


def infidelity_terms(
    model, x: Tensor, target, attributions: Tensor, perturbations: Tensor, *,
    batch_size: int | None = BATCH_SIZE,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(IᵀA, F(x) − F(x − I)), both (N, M) float64: the two sides of :func:`infidelity`."""
    t = as_targets(target, len(x), x.device)
    n, m = perturbations.shape[:2]
    flat = perturbations.reshape(n * m, *x.shape[1:])
    f_x = evaluate(model, x, t, batch_size).double()
    targets = t.repeat_interleave(m)
    f_p = []
    for s in chunks(n * m, batch_size):  # point p: sample p // M, perturbation p % M
        rows = torch.arange(s.start, s.stop, device=x.device) // m
        f_p.append(evaluate(model, x[rows] - flat[s], targets[s], None))
    drops = f_x[:, None] - torch.cat(f_p).double().reshape(n, m)
    dots = (perturbations.double() * attributions.double()[:, None]).reshape(n, m, -1).sum(-1)
    return dots, drops


def infidelity_from_terms(dots: Tensor, drops: Tensor, normalize: bool = False) -> Tensor:
    """mean over perturbations of (β·IᵀA − ΔF)², β = 1 or (``normalize``) the optimal
    β = mean(IᵀA·ΔF) / mean((IᵀA)²), 0 where every IᵀA is 0."""
    if normalize:
        beta = (dots * drops).mean(1) / (dots * dots).mean(1)
        dots = torch.nan_to_num(beta, nan=0.0, posinf=0.0, neginf=0.0)[:, None] * dots
    return (dots - drops).pow(2).mean(1)


# ------------------------------------------------------------------------------- the suite


def _steps(n_features: int, steps: int | None) -> int | None:
    return None if steps is None or steps >= n_features else steps


@check(suite="faithfulness", check="deletion_insertion", metric="insertion_minus_deletion", direction="higher")
def deletion_insertion_auc(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`deletion_insertion` on ``scale.faithfulness_samples`` samples, the subject's
    baseline (zero without one) for the method, the deleted features and the insertion
    canvas, S = ``scale.faithfulness_steps`` steps (one feature per step where S ≥ F). The
    value is the mean over samples of insertion AUC − deletion AUC (↑); the details hold
    both AUCs and the mean curves."""
    x, t, b = ctx.samples(subject, ctx.scale.faithfulness_samples)
    attr = ctx.attribute(method, subject.model, x, t, b, where="deletion_insertion")
    n_features = feature_attributions(attr, x).shape[1]
    r = deletion_insertion(subject.model, x, t, attr, 0.0 if b is None else b,
                           steps=_steps(n_features, ctx.scale.faithfulness_steps))  # fmt: skip
    gap = r.insertion_auc - r.deletion_auc
    return Outcome(
        value=float(gap.mean()),
        samples=gap.tolist(),
        aggregate="mean",
        details={
            "inputs": len(x),
            "features": n_features,
            "deletion_auc": float(r.deletion_auc.mean()),
            "insertion_auc": float(r.insertion_auc.mean()),
            "per_sample_deletion_auc": r.deletion_auc.tolist(),
            "per_sample_insertion_auc": r.insertion_auc.tolist(),
            "fraction": r.fractions.tolist(),
            "removed": r.counts.tolist(),
            "deletion": r.deletion.double().mean(0).tolist(),
            "insertion": r.insertion.double().mean(0).tolist(),
        },
    )


def image_shape(subject, x: Tensor) -> tuple[int, ...] | None:
    """None for image batches (N, C, H, W); the subject's ``truth["image_shape"]`` for
    flattened images (the digits MLPs'); UnsupportedModelError for inputs without a pixel grid."""
    if x.dim() == 4:
        return None
    shape = subject.truth.get("image_shape")
    if shape is None:
        raise UnsupportedModelError(
            f"subject {subject.name!r} has inputs {tuple(x.shape)} with no pixel grid (no truth['image_shape']), "
            "so ROAD has no neighbours to impute from; run ROAD on image subjects only."
        )
    return tuple(shape)


@check(suite="faithfulness", check="road", metric="road_lerf_minus_morf", direction="higher")
def road_accuracy(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`road` on ``scale.faithfulness_samples`` samples at :data:`ROAD_FRACTIONS`,
    noise σ = :data:`ROAD_NOISE` · (b − a) drawn per subject. Per sample, the mean
    accuracy over the grid after least-relevant-first removal minus that after
    most-relevant-first removal (↑); the details hold the accuracy and probability curves."""
    x, t, b = ctx.samples(subject, ctx.scale.faithfulness_samples)
    attr = ctx.attribute(method, subject.model, x, t, b, where="road")
    lo, hi = subject.domain
    r = road(subject.model, x, t, attr, noise_std=ROAD_NOISE * (hi - lo), image_shape=image_shape(subject, x),
             generator=seeded_generator(ctx.seed, subject.name, "road"))  # fmt: skip
    morf, lerf = r.morf_correct.double().mean(1), r.lerf_correct.double().mean(1)
    gap = lerf - morf
    return Outcome(
        value=float(gap.mean()),
        samples=gap.tolist(),
        aggregate="mean",
        details={
            "inputs": len(x),
            "noise_std": ROAD_NOISE * (hi - lo),
            "morf_accuracy": float(morf.mean()),
            "lerf_accuracy": float(lerf.mean()),
            "fraction": r.fractions.tolist(),
            "removed": r.counts.tolist(),
            "morf": r.morf_correct.double().mean(0).tolist(),
            "lerf": r.lerf_correct.double().mean(0).tolist(),
            "morf_probability": r.morf_probability.double().mean(0).tolist(),
            "lerf_probability": r.lerf_probability.double().mean(0).tolist(),
        },
    )


@check(suite="faithfulness", check="infidelity", metric="infidelity", direction="lower")
def infidelity_normalized(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`infidelity` with ``normalize=True`` on ``scale.faithfulness_samples`` samples,
    ``scale.infidelity_perturbations`` perturbations I ~ N(0, σ²), σ = :data:`INFIDELITY_SIGMA`
    · (b − a), drawn per subject (the same I for every method). The value is the mean over
    samples (↓); the unnormalised infidelity is in the details."""
    x, t, b = ctx.samples(subject, ctx.scale.faithfulness_samples)
    attr = ctx.attribute(method, subject.model, x, t, b, where="infidelity")
    lo, hi = subject.domain
    shape = (len(x), ctx.scale.infidelity_perturbations, *x.shape[1:])
    noise = torch.randn(shape, generator=seeded_generator(ctx.seed, subject.name, "infidelity"), dtype=x.dtype)
    perturbations = (INFIDELITY_SIGMA * (hi - lo) * noise).to(x.device)
    dots, drops = infidelity_terms(subject.model, x, t, attr, perturbations)
    value, raw = infidelity_from_terms(dots, drops, normalize=True), infidelity_from_terms(dots, drops)
    return Outcome(
        value=float(value.mean()),
        samples=value.tolist(),
        aggregate="mean",
        details={
            "inputs": len(x),
            "perturbations": shape[1],
            "sigma": INFIDELITY_SIGMA * (hi - lo),
            "unnormalized": float(raw.mean()),
            "per_sample_unnormalized": raw.tolist(),
        },
    )


SUITE = Suite(
    name="faithfulness",
    title="Faithfulness",
    marker_help=(
        "faithfulness: deletion/insertion (Petsiuk 2018), ROAD (Rong 2022), infidelity (Yeh 2019), "
        "localisation (Arras 2022, Zhang 2018)"
    ),
    description=(
        "Remove what a map calls important and watch the model. `deletion_insertion` (Petsiuk et al. "
        "2018, RISE §4.1): features sorted by attribution, descending (a stable sort; a pixel's channels "
        "are one feature), are set to the baseline one step at a time starting from x (deletion) or copied "
        "from x into the baseline (insertion); the softmax probability of the target is integrated by the "
        "trapezoid rule over the fraction removed. The row's value is insertion AUC − deletion AUC (↑; both "
        "AUCs are in the row's details). `road` (Rong et al. 2022, ROAD): the top (MoRF) or bottom (LeRF) 10–90 % of "
        "the pixels are removed by noisy linear imputation from their neighbours, not a constant, and the "
        "model's accuracy measured; the value is the mean LeRF accuracy − the mean MoRF accuracy over the "
        "grid (↑; image subjects only: imputation needs a pixel grid). `infidelity` (Yeh et al. 2019, "
        "§2): E[(β·IᵀA − (F(x) − F(x − I)))²] on the target logit with the optimal β (scale-free), "
        "I ~ N(0, (0.05·(b − a))²) drawn per subject, the same for every method (↓). The score "
        "`faithfulness` is the mean of the method's `insertion_minus_deletion` and `road_lerf_minus_morf` "
        "rows (↑, in [−1, 1]; 0 is what a map unrelated to the model gets on average, as the random "
        "control shows). Infidelity is on its own scale (squared logits, differing by orders of magnitude "
        "between subjects), so it is shown in its own table and not averaged into the score. "
        "`localisation` runs where the pixels that decide the class are known (the `shapes/*` subjects' "
        "evidence masks): the value is the relevance mass accuracy (Arras, Osman & Samek 2022, CLEVR-XAI; "
        "Kohlbrenner et al. 2020), the share of the map's |A| (summed over a pixel's channels) inside the "
        "mask (↑, in [0, 1]); the pointing game (Zhang et al. 2018: is the pixel of largest |A| inside the "
        "mask?) and the masks' mean area fraction are in the row's details. The random control is its "
        "reference: a map unrelated to the image puts about the mask's area fraction inside it. It is "
        "shown in its own table and not averaged into the score: only some subjects have masks, and "
        "averaging it in would give them more weight than the others."
    ),
    summary_metrics=("insertion_minus_deletion", "road_lerf_minus_morf"),
    direction="higher",
    # Subjects by registry glob: the digits MLPs and CNNs (8×8 and 28×28), the 32×32 shapes
    # networks, the tabular MLP and the linear model; ROAD needs a pixel grid (images, or the
    # digits MLPs' flattened images with truth["image_shape"]); localisation needs evidence
    # masks (truth["evidence"]), which only the shapes subjects have. The 28×28 and 32×32
    # subjects (tag `large`) run at the scales that name them (Scale.large_subjects).
    subjects={
        "deletion_insertion": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*", "tabular/*",
                               "analytic/linear"),
        "road": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*"),
        "infidelity": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*", "tabular/*", "analytic/linear"),
        "localisation": ("shapes/*",),
    },
    page="faithfulness.md",
    label="faithfulness",
    notes=(
        "**Baselines.** Deletion fills removed features with the subject's baseline (zero for every "
        "subject here) and insertion starts from it; RISE's insertion starts from a blurred copy of the "
        "image, which an 8×8 digit barely has room for. Quantus' `PixelFlipping` fills with "
        "`perturb_baseline=\"black\"`, each sample's minimum, and integrates with `np.trapz(dx=1)` over "
        "the steps without the k = 0 point: its curves equal ours for the same baseline "
        "(tests/test_faithfulness.py), its AUCs are on another scale (docs/suites.md lists the other "
        "differences).\n\n"
        "**ROAD** measures accuracy (argmax = target), as Rong et al. do; the target probabilities are in "
        "each row's details. The imputation is the authors' (8 neighbours, weights 1/6 and 1/12, one "
        "linear system per image, here solved for a chunk of images at once); its noise "
        "σ = 0.0025·(b − a) corresponds to their σ = 0.01 on images normalised to a width of about 4. It "
        "equals Quantus' `noisy_linear_imputation` with the noise off.\n\n"
        "**Infidelity** equals Captum's `infidelity(normalize=True)` when Captum's `perturb_func` returns "
        "the same I and x − I. Captum's `infidelity_perturb_func_decorator(multiply_by_inputs=True)` "
        "instead divides I by x − x̄ (for attributions that already multiply by the input), and Quantus' "
        "`Infidelity` replaces square patches by a baseline and compares with a loss of its own: other "
        "perturbation distributions, other numbers.\n\n"
        "**Expected shapes.** On `analytic/linear`, F(x) − F(x − I) = wᵀI exactly, so the gradient "
        "(A = w) has infidelity 0 up to float32 rounding, whatever the scale; maps that multiply by the "
        "input (Gradient×Input, IG, DeepLIFT, all w ⊙ x there) give IᵀA = Σ wᵢxᵢIᵢ, not proportional to "
        "wᵀI for Gaussian I, so they are not 0: infidelity rewards the map that predicts the effect of "
        "*its* perturbation distribution. "
        "Deletion and insertion favour those same maps: they order features by their contribution "
        "wᵢxᵢ, which is what removing them changes.\n\n"
        "**Why the gradient and SmoothGrad score below the random control.** They rank pixels by "
        "sensitivity ∂F/∂xᵢ, ignoring the sign of xᵢ − x′ᵢ. The digits inputs lie in [−1, 1] with the "
        "baseline 0, so many of their top pixels have xᵢ < x′ᵢ and a negative first-order contribution "
        "∂F/∂xᵢ·(xᵢ − x′ᵢ): deleting them raises the target's probability, and the ink that carries the "
        "class comes late in their order. Their |·| (`saliency`) and the maps that multiply by xᵢ − x′ᵢ "
        "do not have this problem. It is a property of the metric's question (contribution, not "
        "sensitivity), not an error of these methods."
    ),
    curves=Curves(
        "deletion_insertion", ("fraction", "removed", "deletion", "insertion"), "faithfulness_curves.csv",
        x="fraction",
        plots=(Plot("faithfulness_deletion.png", "deletion", caption="Deletion: mean softmax probability of the "
                    "target against the fraction of features removed, most relevant first (↓ faster is better), "
                    "one panel per subject and one line per method."),
               Plot("faithfulness_insertion.png", "insertion", caption="Insertion: the same probability as the "
                    "most relevant features are copied into the baseline (↑ faster is better).")),
    ),
    more_curves=(Curves(
        "road", ("fraction", "removed", "morf", "lerf", "morf_probability", "lerf_probability"),
        "faithfulness_road_curves.csv", x="fraction",
        plots=(Plot("faithfulness_road_morf.png", "morf", caption="ROAD, most relevant first: accuracy against "
                    "the fraction of pixels imputed (↓ lower is better), one panel per subject and one line per "
                    "method."),
               Plot("faithfulness_road_lerf.png", "lerf", caption="ROAD, least relevant first: accuracy against "
                    "the fraction imputed (↑ higher is better).")),
    ),),
)  # fmt: skip
