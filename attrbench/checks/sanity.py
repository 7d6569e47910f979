"""Sanity checks for attribution maps (Adebayo et al. 2018, "Sanity checks for saliency
maps", NeurIPS).

A map that explains a model must change when the model does. Adebayo et al. §3 test this
by *cascading model-parameter randomisation*: the layers' weights are re-initialised from
the top (the logits) down, one more layer at each stage, until every layer is random, and
the map of the trained model is compared with the map of each randomised copy. Their
similarity metrics are the Spearman rank correlation of the maps with and without the
absolute value, SSIM and the Pearson correlation of HOG features; a method whose maps stay
similar after full randomisation (their Guided BackProp and Guided GradCAM) is insensitive
to what the model learned, like an edge detector applied to the input.

Here:

- :func:`randomized_copies` builds the cascade (deep copies; the trained model is never
  touched): stage k has the top k Linear/Conv layers re-initialised with torch's default
  initialisation of that layer type, drawn reproducibly from a given generator.
- :func:`rank_similarity` is the per-sample Spearman rank correlation of two maps
  (``attrbench.checks.fragility.spearman``: average ranks for ties, as
  ``scipy.stats.rankdata``). The verdicts use it on |A| (the paper's "with absolute value");
  the signed version is kept in the curve. SSIM and HOG are not computed: on 8×8 digits
  a 7×7 SSIM window covers nearly the whole image and HOG cells would be a pixel or two.
- :func:`model_randomization` (the check) and :func:`target_sensitivity` (the map for
  another class must differ: a check the issue asks for beside the paper's test) hold when
  the mean similarity is below :data:`SIMILARITY_THRESHOLD`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.checks.context import CheckContext, check
from attrbench.checks.fragility import rank_correlation, row_ranks
from attrbench.errors import InputShapeError, InvalidOptionError, UnsupportedModelError
from attrbench.functional import as_targets, expand_baseline
from attrbench.results import Outcome
from attrbench.suite import HOLDS_RATE, Curves, Plot, Suite

#: A check holds when the mean Spearman correlation of |A| is below this value. Fixed a
#: priori from the scale of the metric, not from any method's numbers: 0 is the expected
#: rank correlation of two unrelated maps and 1 that of identical rankings; a map that
#: stays at or above the midpoint 0.5 is closer to its trained self than to an unrelated
#: map. Adebayo et al. set no numeric threshold (they read the curves of §3, Fig. 4:
#: maps that pass fall towards 0, maps that fail stay near 1); 0.5 makes that reading a rule.
SIMILARITY_THRESHOLD = 0.5

#: The layers the cascade re-initialises (the paper's "trainable variables" of the
#: weight layers); any other parameters keep their trained values.
LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: An attribution call ``(model, x, target, baseline, where) -> Tensor`` (the guard's).
Attribute = Callable[..., Tensor]


@dataclass(frozen=True)
class Stage:
    """One model of the cascade: ``index`` layers randomised (0: the trained copy),
    ``layer`` the one randomised at this stage ("" at stage 0), ``randomized`` all of them
    from the top down."""

    index: int
    layer: str
    randomized: tuple[str, ...]
    model: nn.Module


def check_threshold(threshold: float) -> float:
    """``threshold`` if it lies in [0, 1], else InvalidOptionError."""
    if not 0.0 <= threshold <= 1.0:
        raise InvalidOptionError(
            f"similarity threshold {threshold!r} is outside [0, 1]; pass a rank correlation between 0 "
            f"(unrelated maps) and 1 (identical rankings), e.g. SIMILARITY_THRESHOLD = {SIMILARITY_THRESHOLD}."
        )
    return float(threshold)


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the model's Linear and Conv layers in registration order (the forward
    order of an ``nn.Sequential``); UnsupportedModelError when there are none."""
    names = [name for name, module in model.named_modules() if isinstance(module, LAYER_TYPES)]
    if not names:
        raise UnsupportedModelError(
            f"{type(model).__name__} has no Linear or Conv layer, so the model-randomisation test has "
            "nothing to re-initialise; run the sanity suite on networks built from such layers."
        )
    return names


def reinitialize(layer: nn.Module, generator: torch.Generator) -> None:
    """Give ``layer`` fresh parameters from torch's default initialisation of its type
    (its ``reset_parameters``: Kaiming-uniform weights and uniform biases for Linear and
    Conv), drawn on the CPU under a seed taken from ``generator`` — the same values on any
    device — without touching the global RNG."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    fresh = copy.deepcopy(layer).to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        fresh.reset_parameters()
    with torch.no_grad():
        for old, new in zip(layer.parameters(recurse=False), fresh.parameters(recurse=False)):
            old.copy_(new)


def randomized_copies(model: nn.Module, generator: torch.Generator) -> list[Stage]:
    """The cascade of Adebayo et al. §3: stage 0 is a deep copy of the trained ``model``;
    stage k a copy with the top k weight layers (from the output down) re-initialised
    (:func:`reinitialize`), the last stage has every weight layer random. Each stage
    copies the previous one and re-initialises one more layer, so the draws — one seed per
    layer, top layer first — depend only on ``generator``'s state."""
    top_down = tuple(reversed(weight_layers(model)))
    current = copy.deepcopy(model)
    stages = [Stage(0, "", (), current)]
    for k, name in enumerate(top_down, 1):
        current = copy.deepcopy(current)
        reinitialize(current.get_submodule(name), generator)
        stages.append(Stage(k, name, top_down[:k], current))
    return stages


def rank_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each sample's flattened maps ``a[i]`` and ``b[i]``
    (float64, CPU). A constant map has no rank order: two constant maps count as the same
    ranking (1), a constant and a non-constant one as unrelated (0)."""
    return ranked_similarity(Ranked(a), Ranked(b))


class Ranked:
    """The rows of maps (N, ...) flattened, ranked once (:func:`row_ranks`), and which rows
    are constant: one side of :func:`ranked_similarity`, reusable against many others."""

    def __init__(self, maps: Tensor | None = None, *, ranks=None, flat: Tensor | None = None) -> None:
        if maps is not None:
            rows = maps.detach().reshape(len(maps), -1)
            ranks, flat = row_ranks(rows), rows.eq(rows[:, :1]).all(1).cpu()
        self.ranks, self.flat = ranks, flat

    def first(self, n: int) -> Ranked:
        """The first ``n`` rows, without ranking them again."""
        return Ranked(ranks=self.ranks[:n], flat=self.flat[:n])


def ranked_similarity(a: Ranked, b: Ranked) -> Tensor:
    """:func:`rank_similarity` of two ranked sides; when one side has N rows and the other
    S·N (S stages of the same N samples, stage-major), row i of the longer is compared with
    row i mod N of the shorter."""
    n, k = sorted((len(a.flat), len(b.flat)))
    if k % n:
        raise InputShapeError(f"maps of {len(a.flat)} and {len(b.flat)} rows: one count must divide the other.")
    rho = rank_correlation(*(r.ranks.reshape(-1, n, r.ranks.shape[-1]) for r in (a, b))).reshape(k)
    flat_a, flat_b = (r.flat.repeat(k // len(r.flat)) for r in (a, b))
    rho = torch.where(flat_a | flat_b, 0.0, rho)
    return torch.where(flat_a & flat_b, 1.0, rho)


def runner_up(model: nn.Module, x: Tensor, target) -> Tensor:
    """Per sample, the class other than ``target`` with the largest logit: the model's
    most likely alternative (one forward pass, no graph)."""
    with torch.no_grad():
        logits = model(x)
    t = as_targets(target, len(x), logits.device)
    return logits.scatter(1, t[:, None], float("-inf")).argmax(1)


def cascading_randomization(
    attribute: Attribute, model, x: Tensor, target, baseline, generator: torch.Generator,
    threshold: float = SIMILARITY_THRESHOLD,
) -> Outcome:  # fmt: skip
    """Adebayo et al.'s cascading model-parameter randomisation of ``model``
    (:func:`randomized_copies`), the maps of every stage for the same inputs, targets and
    baseline, and :func:`rank_similarity` of |A| against the trained map. ``value`` is the
    mean similarity after full randomisation; it holds when below ``threshold``. The
    details hold the curve — ``stage``, ``layer``, mean ``similarity`` (|A|),
    ``signed_similarity`` (A) and ``input_similarity`` (of |A| with the edge-detector map
    |x − x̄|, which shows how much of a map is the input's) per stage — and ``per_sample``:
    each stage's similarities."""
    threshold = check_threshold(threshold)
    stages = randomized_copies(model, generator)
    trained = attribute(stages[0].model, x, target, baseline, where="model_randomization (trained)")
    edges = (x - expand_baseline(baseline, x)).abs()
    maps = torch.stack([trained] + [
        attribute(stage.model, x, target, baseline, where=f"model_randomization (top {stage.index} layers random)")
        for stage in stages[1:]
    ])  # fmt: skip
    s, n = len(stages), len(x)
    # every stage's similarities at once, each map ranked once (row i: stage i // N, sample i % N)
    stages_abs, stages_signed = Ranked(maps.abs().reshape(s * n, -1)), Ranked(maps.reshape(s * n, -1))
    trained_abs, trained_signed = stages_abs.first(n), stages_signed.first(n)  # stage 0 is the trained map
    rho, signed, own = (
        ranked_similarity(u, v).reshape(s, n)
        for u, v in ((trained_abs, stages_abs), (trained_signed, stages_signed), (stages_abs, Ranked(edges)))
    )
    curve = {
        "stage": [stage.index for stage in stages],
        "layer": [stage.layer or "trained" for stage in stages],
        "similarity": [float(r.mean()) for r in rho],
        "signed_similarity": [float(r.mean()) for r in signed],
        "input_similarity": [float(r.mean()) for r in own],
        "per_sample": [r.tolist() for r in rho],
    }
    value = curve["similarity"][-1]
    return Outcome(
        value=value,
        holds=value < threshold,
        details={"samples": len(x), "threshold": threshold, "layers": list(stages[-1].randomized), **curve},
        samples=curve["per_sample"][-1],
        aggregate="mean",
    )


def other_class_similarity(
    attribute: Attribute, model, x: Tensor, target, baseline, threshold: float = SIMILARITY_THRESHOLD
) -> Outcome:
    """:func:`rank_similarity` of |A(x, t)| and |A(x, t′)|, t′ the :func:`runner_up`
    class. ``value`` is the mean over samples; it holds when below ``threshold``."""
    threshold = check_threshold(threshold)
    other = runner_up(model, x, target)
    a = attribute(model, x, target, baseline, where="target_sensitivity (target class)")
    b = attribute(model, x, other, baseline, where="target_sensitivity (runner-up class)")
    rho = rank_similarity(a.abs(), b.abs())
    value = float(rho.mean())
    return Outcome(
        value=value,
        holds=value < threshold,
        samples=rho.tolist(),
        aggregate="mean",
        details={
            "samples": len(x),
            "threshold": threshold,
            "other_class": other.tolist(),
            "signed_similarity": float(rank_similarity(a, b).mean()),
            "per_sample": rho.tolist(),
        },
    )


@check(suite="sanity", check="model_randomization", metric="randomized_similarity", direction="lower")
def model_randomization(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`cascading_randomization` on ``scale.sanity_samples`` samples of the subject
    (their targets and the subject's baseline), the cascade drawn from the test's generator."""
    x, t, b = ctx.samples(subject, ctx.scale.sanity_samples)
    return cascading_randomization(functools.partial(ctx.attribute, method), subject.model, x, t, b, ctx.generator)


@check(suite="sanity", check="target_sensitivity", metric="other_class_similarity", direction="lower")
def target_sensitivity(method, subject, ctx: CheckContext) -> Outcome:
    """:func:`other_class_similarity` on ``scale.sanity_samples`` samples of the subject."""
    x, t, b = ctx.samples(subject, ctx.scale.sanity_samples)
    return other_class_similarity(functools.partial(ctx.attribute, method), subject.model, x, t, b)


SUITE = Suite(
    name="sanity",
    title="Sanity",
    marker_help="sanity checks: maps must change when the model's weights or the class do (Adebayo et al. 2018)",
    description=(
        "Sanity checks for attribution maps (Adebayo et al. 2018, \"Sanity checks for saliency maps\", "
        "NeurIPS): a map that explains a model must change when the model does. "
        "`model_randomization` — cascading model-parameter randomisation (§3): the Linear and Conv "
        "layers are re-initialised with torch's default initialisation from the output layer down, one "
        "more layer per stage, until every layer is random; at each stage the Spearman rank correlation "
        "of |A| between the trained and the randomised model's map is taken per sample and averaged "
        "(↓). The row's value is the similarity after full randomisation. `target_sensitivity` — the "
        "map for the model's runner-up class (the largest logit other than the target) must differ "
        "from the target's map: the same similarity of |A| (↓). Each check holds when its mean "
        f"similarity is below {SIMILARITY_THRESHOLD}, fixed a priori as the midpoint between unrelated "
        "rank orders (0) and identical ones (1), never tuned to a method. A method that fails is "
        "insensitive to the weights or the class it explains — like an edge detector, or the random "
        "control, whose map is fixed — and its scores in the other suites (robustness above all) are "
        "no evidence of quality. The score is the fraction of verdicts that hold (↑); the cascading "
        "curves are in the figure below."
    ),
    summary_metrics=(HOLDS_RATE,),
    direction="higher",
    subjects={
        # The trained digits networks, 8×8 and 28×28, and the 32×32 shapes networks (Adebayo et al.
        # use trained image classifiers, §3; the large ones at the scales that name them,
        # Scale.large_subjects) and the tabular MLP: randomising its three layers is as
        # meaningful as for an image model.
        "model_randomization": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*", "tabular/*"),
        # Not tabular/*: with two classes softmax sees only z₁ − z₀, so the other logit's map
        # is no independent explanation to differ from.
        "target_sensitivity": ("digits/mlp_*", "digits/cnn_*", "digits28/*", "shapes/*"),
    },
    page="sanity.md",
    label="sanity",
    failure_mark="⚠",
    notes=(
        "**Metrics.** Adebayo et al. also report the Spearman correlation without the absolute "
        "value (here `signed_similarity` in the curves CSV), SSIM and HOG similarity. SSIM and "
        "HOG are not computed: on 8×8 digits an SSIM window or a HOG cell spans most of the image.\n\n"
        "**Input dominance.** `input_similarity` in the curves is the Spearman correlation of each "
        "stage's |A| with |x − x̄|, the map an edge detector of the input would give. Methods that "
        "multiply by x − x̄ (input×gradient, IG, DeepLIFT, ε-LRP, and implicitly occlusion) keep it "
        "after full randomisation, so their similarity falls less than the gradient's — the partial "
        "input dependence Adebayo et al. report for Gradient⊙Input and IG.\n\n"
        "**Constant maps** have no rank order: two constant maps count as identical (1), a constant "
        "and a non-constant one as unrelated (0)."
    ),
    curves=Curves(
        "model_randomization", ("stage", "layer", "similarity", "signed_similarity", "input_similarity"),
        "sanity_curves.csv", x="stage", labels=("layer",),
        plots=(Plot("sanity_cascading.png", "similarity", caption="Spearman rank correlation of |A| between "
                    "the trained and the randomised model against the number of layers randomised from the "
                    "top (0: trained), one panel per subject and one line per method, as Adebayo et al. "
                    "Fig. 4."),
               Plot("sanity_input.png", "input_similarity", caption="Spearman rank correlation of |A| with "
                    "|x − x̄| (the input's own map) at each stage, as above.")),
    ),
)  # fmt: skip
