"""Axiom checks (002 §2.2, §4, §5 and App. K). One pure function per axiom.

Each check takes ``(method, subject, ctx)`` and returns an Outcome whose ``value`` is the
worst residual over the samples (↓ unless said otherwise) and whose ``holds`` is the
verdict; ``details`` name the tolerance, the number of samples tried and, for the worst
sample, both sides of the equation. The same function runs on an analytic subject and on
each hypothesis-drawn case (``case.to_subject()``; ``CheckInfo.cases`` names a case
strategy of :mod:`attrbench.checks.cases` and :mod:`attrbench.checks.generated` runs it).

Conventions. F(x) = model(x)[n, target_n]. A pointwise method gets one baseline per
sample (``expand_baseline``). A ``distributional`` method gets the baseline rows as
its reference set X′ ~ D (``reference_set``), and the distributional form of each axiom
(002 §5) is checked: F(x′) becomes E F(X′).

Tolerances (float32 models are the norm, so they sit well above float32 rounding; float64
cases meet them with room to spare). With scale = max(|F(x)|, |F(x′)|, 1):

- ``ATOL`` · scale: the absolute slack of every equation (rounding in F and in sums).
- ``RTOL_EQUAL`` · max(|lhs|, |rhs|): the relative slack when two attribution vectors must
  be equal (linearity, symmetry, implementation invariance, ASI).
- ``RTOL_COMPLETENESS`` · V: the slack of completeness, where V is the total variation of
  F along the straight segment x′ → x (≥ |F(x) − F(x′)|, equal when F is monotone on it).
  5 % is Sundararajan et al. 2017 §3's criterion for an adequate integral approximation;
  it is measured against V and not only |ΔF| because a quadrature's error scales with
  how much the integrand moves: on a segment where F rises and falls (ReLU networks) ΔF
  can be near 0 while every rule with finitely many nodes is off by a fraction of V.
- ``NEGLIGIBLE`` · |ΔF|: sensitivity(a) counts |Aᵢ| at or below this as zero.

The residual checks print a value below ``RESOLUTION`` (float32 rounding, not evidence) as
"< resolution". Each Outcome keeps its per-sample values (``Outcome.samples``): residual /
scale per sample with the rule "max", or sensitivity(a)'s 0/1 per sample (NaN where the
pair does not count) with "mean".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.checks.context import FLOAT32_RESOLUTION, CheckContext, check
from attrbench.checks.verdicts import equal_outcome
from attrbench.checks.verdicts import per_sample_verdict as _per_sample_verdict
from attrbench.functional import as_targets, evaluate, expand_baseline, reference_set, target_output
from attrbench.results import Outcome
from attrbench.subjects.networks import AffineInput, WeightedSum, build_network
from attrbench.suite import HOLDS_RATE, Suite

ATOL = 1e-4
RTOL_EQUAL = 1e-4
RTOL_COMPLETENESS = 0.05
NEGLIGIBLE = 1e-6
#: Grid points per segment for the total variation V of completeness.
VARIATION_POINTS = 257
#: The numerical resolution of a residual / scale (the justification is at FLOAT32_RESOLUTION).
RESOLUTION = FLOAT32_RESOLUTION


# ------------------------------------------------------------------------------ helpers


def _baselines(method, b, x: Tensor) -> Tensor:
    """What the method's baseline rows are: one per sample, or the reference set."""
    return reference_set(b, x) if method.distributional else expand_baseline(b, x)


def _f_baseline(method, model, rows: Tensor, x: Tensor, t: Tensor) -> Tensor:
    """F(x′_n) per sample, or E F(X′) over the reference rows for each sample's target."""
    with torch.no_grad():
        if method.distributional:
            return model(rows)[:, t].mean(0)
        return target_output(model, rows, t)


def _f(model, x: Tensor, t: Tensor) -> Tensor:
    with torch.no_grad():
        return target_output(model, x, t)


def _scale_of(method, model, b, x: Tensor, t: Tensor) -> Tensor:
    """max(|F(x)|, |F(x′)| or |E F(X′)|, 1) per sample."""
    return _scale(_f(model, x, t), _f_baseline(method, model, _baselines(method, b, x), x, t))


def _scale(*values: Tensor) -> Tensor:
    """max(|v|..., 1) elementwise: the magnitude the absolute tolerance is relative to."""
    out = torch.ones_like(values[0])
    for v in values:
        out = torch.maximum(out, v.abs())
    return out


def _flat(a: Tensor) -> Tensor:
    return a.reshape(len(a), -1)


def segment_variation(model, starts: Tensor, ends: Tensor, targets: Tensor, points: int = VARIATION_POINTS) -> Tensor:
    """Total variation of t ↦ F(start + t(end − start)) on [0, 1], from ``points`` grid
    values per segment in chunked batched passes (a lower bound that is exact when F is
    monotone between grid points; piecewise-linear F is resolved to the grid). Shape (S,)."""
    t = torch.linspace(0, 1, points, dtype=starts.dtype, device=starts.device)
    shape = (points,) + (1,) * starts.dim()
    grid = starts.unsqueeze(0) + t.view(shape) * (ends - starts).unsqueeze(0)
    values = evaluate(model, grid.reshape(-1, *starts.shape[1:]), targets.repeat(points)).reshape(points, -1)
    return values.diff(dim=0).abs().sum(0)


def _equal_outcome(lhs: Tensor, rhs: Tensor, scale: Tensor, details: dict, names: tuple[str, str]) -> Outcome:
    """Verdict of lhs = rhs (N, D) within ATOL·scale + RTOL_EQUAL·max(|lhs|, |rhs|)."""
    return equal_outcome(lhs, rhs, scale, details, names, atol=ATOL, rtol=RTOL_EQUAL)


# ------------------------------------------------------------------------- completeness


@check(
    suite="axioms", check="completeness", metric="completeness_residual", direction="lower",
    axiom="completeness", cases="network_cases", resolution=RESOLUTION,
)  # fmt: skip
def completeness(method, subject, ctx: CheckContext) -> Outcome:
    """Σᵢ Aᵢ = F(x) − F(x′) (002 axiom 3); distributional: Σᵢ Eᵢ = F(x) − E F(X′) (002 §5,
    App. K). Holds within RTOL_COMPLETENESS·V + ATOL·scale, V the variation of F along
    x′ → x (averaged over X′ for a distribution). Value: worst |residual| / scale."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    attr = ctx.attribute(method, subject.model, x, targets, b, where="completeness")
    rows = _baselines(method, b, x)
    fx = _f(subject.model, x, targets)
    f_ref = _f_baseline(method, subject.model, rows, x, targets)
    if method.distributional:
        m = len(rows)
        starts = rows.unsqueeze(1).expand(m, *x.shape).reshape(-1, *x.shape[1:])
        ends = x.unsqueeze(0).expand(m, *x.shape).reshape(-1, *x.shape[1:])
        variation = segment_variation(subject.model, starts, ends, targets.repeat(m)).reshape(m, -1).mean(0)
    else:
        variation = segment_variation(subject.model, rows, x, targets)
    delta = fx - f_ref
    total = _flat(attr).sum(1)
    scale = _scale(fx, f_ref)
    allowed = RTOL_COMPLETENESS * torch.maximum(variation, delta.abs()) + ATOL * scale
    shown = {
        "x": x,
        "sum of attributions": total,
        "F(x) - E F(X')" if method.distributional else "F(x) - F(x')": delta,
        "variation of F on x' -> x": variation,
    }
    rule = f"{RTOL_COMPLETENESS}*V + {ATOL}*max(|F(x)|, |F(x')|, 1), V the variation of F on x' -> x"
    return _per_sample_verdict((total - delta).abs(), allowed, scale, shown, {}, rule)


# ------------------------------------------------------------------------ sensitivity(a)


def single_feature_pairs(method, x: Tensor, b, features: Tensor) -> tuple[Tensor, Tensor]:
    """Inputs and baselines that differ in one feature only (002 axiom 1 / §5 item 1).

    Pointwise: x_n against x_n with feature ``features[n]`` taken from its baseline.
    Distributional: every input and every reference row equal x_0 except in feature
    ``features[0]``, where inputs take x_n's value and references their baseline's, so
    X′ varies in exactly that feature and X′_j = x_j elsewhere, as §5 requires."""
    flat_x, flat_b = _flat(x), _flat(expand_baseline(b, x))
    rows = torch.arange(len(x), device=x.device)
    if method.distributional:
        i = features[0]
        common = flat_x[:1].expand_as(flat_x).clone()
        inputs, refs = common.clone(), common.clone()
        inputs[:, i], refs[:, i] = flat_x[:, i], flat_b[:, i]
        return inputs.reshape(x.shape), refs.reshape(x.shape)
    baselines = flat_x.clone()
    baselines[rows, features] = flat_b[rows, features]
    return x, baselines.reshape(x.shape)


@check(
    suite="axioms", check="sensitivity_a", metric="sensitivity_a_violations", direction="lower",
    axiom="sensitivity_a", cases="single_feature_changes",
)  # fmt: skip
def sensitivity_a(method, subject, ctx: CheckContext) -> Outcome:
    """x, x′ differ in feature i only and F(x) ≠ F(x′) ⇒ Aᵢ ≠ 0 (002 axiom 1; §5 item 1
    for distributions). Pairs come from the subject's inputs and baselines, one feature
    per sample (``truth["feature"]`` or drawn). A pair counts when |ΔF| > ATOL·scale; Aᵢ
    counts as zero when |Aᵢ| ≤ NEGLIGIBLE·|ΔF|. Value: fraction of counted pairs violated."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    d = _flat(x).shape[1]
    if "feature" in subject.truth:
        features = torch.full((len(x),), int(subject.truth["feature"]), dtype=torch.long)
    else:
        features = torch.randint(d, (len(x),), generator=ctx.generator)
    features = features.to(x.device)
    inputs, baselines = single_feature_pairs(method, x, b, features)
    fx = _f(subject.model, inputs, targets)
    f_ref = _f_baseline(method, subject.model, baselines, inputs, targets)
    delta = fx - f_ref
    counted = delta.abs() > ATOL * _scale(fx, f_ref)
    if not bool(counted.any()):
        return Outcome(value=None, holds=None, details={"note": "no pair changes F", "of": len(x)})
    attr = ctx.attribute(method, subject.model, inputs, targets, baselines, where="sensitivity_a")
    if method.distributional:
        features = features[:1].expand(len(x))
    a_i = _flat(attr)[torch.arange(len(x), device=x.device), features]
    violated = counted & (a_i.abs() <= NEGLIGIBLE * delta.abs())
    worst = int(violated.float().argmax()) if bool(violated.any()) else int(counted.float().argmax())
    per_sample = torch.where(counted, violated.double(), torch.full_like(delta, torch.nan, dtype=torch.float64))
    return Outcome(
        value=int(violated.sum()) / int(counted.sum()),
        holds=not bool(violated.any()),
        samples=per_sample.tolist(),
        aggregate="mean",
        details={
            "sample": worst,
            "feature": int(features[worst]),
            "x": inputs[worst],
            "x'": baselines[worst],
            "F(x) - E F(X')" if method.distributional else "F(x) - F(x')": delta[worst],
            "A_i": a_i[worst],
            "violations": int(violated.sum()),
            "of": int(counted.sum()),
            "tolerance": (
                f"pairs with |F(x) - F(x')| > {ATOL}*max(|F(x)|, |F(x')|, 1); "
                f"A_i is zero when |A_i| <= {NEGLIGIBLE}*|F(x) - F(x')|"
            ),
        },
    )


# --------------------------------------------------------------------------------- dummy


def dummy_mask(truth, d: int) -> Tensor:
    """The dummy features of ``truth["dummy"]`` (indices or a bool mask) as a bool (d,)."""
    given = torch.as_tensor(truth["dummy"])
    if given.dtype == torch.bool:
        return given.reshape(-1).cpu()
    mask = torch.zeros(d, dtype=torch.bool, device=given.device)  # indices moved with the subject
    mask[given.long()] = True
    return mask


@check(
    suite="axioms", check="dummy", metric="dummy_residual", direction="lower", axiom="dummy",
    cases="dummy_cases", resolution=RESOLUTION,
)  # fmt: skip
def dummy(method, subject, ctx: CheckContext) -> Outcome:
    """∂ᵢF ≡ 0 ⇒ Aᵢ = 0 (002 axiom 5) for the features of ``truth["dummy"]``; holds within
    ATOL·scale. Value: worst |A_dummy| / scale."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    mask = dummy_mask(subject.truth, _flat(x).shape[1]).to(x.device)
    attr = _flat(ctx.attribute(method, subject.model, x, targets, b, where="dummy"))
    scale = _scale_of(method, subject.model, b, x, targets)
    residual = attr[:, mask].abs().max(1).values
    details = {"dummy features": torch.nonzero(mask).flatten()}
    rule = f"|A_i| <= {ATOL}*max(|F(x)|, |F(x')|, 1)"
    return _per_sample_verdict(residual, ATOL * scale, scale, {"x": x, "attributions": attr}, details, rule)


# ----------------------------------------------------------------------------- linearity


def _outputs(model, x: Tensor) -> int:
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


def second_function(x: Tensor, n_outputs: int, generator: torch.Generator) -> nn.Module:
    """A tanh network G with ``x``'s features and ``n_outputs`` outputs, weights from
    ``generator`` (the G of linearity on a subject that brings only F)."""
    seed = int(torch.randint(2**31, (1,), generator=generator))
    net = build_network(_flat(x).shape[1], (8,), n_outputs, "tanh", True, seed, dtype=x.dtype)
    return nn.Sequential(nn.Flatten(), net.model).to(x.device)


@check(
    suite="axioms", check="linearity", metric="linearity_residual", direction="lower", axiom="linearity",
    cases="linear_combinations", resolution=RESOLUTION,
)  # fmt: skip
def linearity(method, subject, ctx: CheckContext) -> Outcome:
    """A(αF + βG) = αA(F) + βA(G) (002 axiom 4). F, G, α, β from ``truth`` (generated
    cases) or F = the subject's model, G = :func:`second_function`, α, β ~ U(−2, 2)."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    if "f" in subject.truth:
        f, g = subject.truth["f"], subject.truth["g"]
        alpha, beta = subject.truth["alpha"], subject.truth["beta"]
    else:
        f, g = subject.model, second_function(x, _outputs(subject.model, x), ctx.generator)
        alpha, beta = (4 * torch.rand(2, generator=ctx.generator, dtype=torch.float64) - 2).tolist()
    combined = WeightedSum(f, g, alpha, beta)
    a_comb = ctx.attribute(method, combined, x, targets, b, where="linearity")
    a_f = ctx.attribute(method, f, x, targets, b, where="linearity")
    a_g = ctx.attribute(method, g, x, targets, b, where="linearity")
    rows = _baselines(method, b, x)
    scale = _scale(*(v for model in (combined, f, g) for v in (
        _f(model, x, targets), _f_baseline(method, model, rows, x, targets))))  # fmt: skip
    details = {"alpha": alpha, "beta": beta, "x": x}
    return _equal_outcome(a_comb, alpha * a_f + beta * a_g, scale, details, ("A(aF + bG)", "a A(F) + b A(G)"))


# ------------------------------------------------------------------------------ symmetry


@check(
    suite="axioms", check="symmetry", metric="symmetry_residual", direction="lower", axiom="symmetry",
    cases="symmetric_cases", resolution=RESOLUTION,
)  # fmt: skip
def symmetry(method, subject, ctx: CheckContext) -> Outcome:
    """F symmetric in (i, j), xᵢ = xⱼ and x′ᵢ = x′ⱼ ⇒ Aᵢ = Aⱼ (002 axiom 6; §5 item 3 with
    exchangeable X′ᵢ, X′ⱼ) for every pair in ``truth["pairs"]``."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    pairs = torch.as_tensor(subject.truth["pairs"], dtype=torch.long, device=x.device).reshape(-1, 2)
    attr = _flat(ctx.attribute(method, subject.model, x, targets, b, where="symmetry"))
    scale = _scale_of(method, subject.model, b, x, targets)
    details = {"pairs (i, j)": pairs, "x": x}
    return _equal_outcome(attr[:, pairs[:, 0]], attr[:, pairs[:, 1]], scale, details, ("A_i", "A_j"))


# ------------------------------------------------------------- implementation invariance


@check(
    suite="axioms", check="implementation_invariance", metric="implementation_residual", direction="lower",
    axiom="implementation_invariance", cases="equivalent_network_pairs", resolution=RESOLUTION,
)  # fmt: skip
def implementation_invariance(method, subject, ctx: CheckContext) -> Outcome:
    """Functionally equivalent networks get equal attributions (002 axiom 2): the
    subject's model against ``truth["equivalent"]``."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    other = subject.truth["equivalent"]
    first = ctx.attribute(method, subject.model, x, targets, b, where="implementation_invariance")
    second = ctx.attribute(method, other, x, targets, b, where="implementation_invariance")
    scale = _scale_of(method, subject.model, b, x, targets)
    gap = (_f(subject.model, x, targets) - _f(other, x, targets)).abs().max()
    details = {"x": x, "max |F1(x) - F2(x)| (equivalence)": gap}
    return _equal_outcome(first, second, scale, details, ("A(x, x', F1)", "A(x, x', F2)"))


# ------------------------------------------------------------------------------------ asi


@check(
    suite="axioms", check="asi", metric="asi_residual", direction="lower", axiom="asi", cases="affine_maps",
    resolution=RESOLUTION,
)  # fmt: skip
def asi(method, subject, ctx: CheckContext) -> Outcome:
    """A(x, x′, F) = A(T(x), T(x′), F∘T⁻¹) with T(x)ᵢ = c·xᵢ + d on one feature (002 axiom
    7). T from ``truth`` (generated cases) or drawn: i uniform, |c| ~ U(0.25, 4) with a
    random sign, d ~ U(−2, 2). The domain condition T(x) ∈ [a, b] is not imposed: the
    models are defined everywhere."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    if "transformed_model" in subject.truth:
        composed = subject.truth["transformed_model"]
    else:
        d = _flat(x).shape[1]
        i = int(torch.randint(d, (1,), generator=ctx.generator))
        u = torch.rand(3, generator=ctx.generator, dtype=torch.float64).tolist()
        c = (0.25 + 3.75 * u[0]) * (1 if u[1] < 0.5 else -1)
        composed = AffineInput(nn.Sequential(nn.Unflatten(1, x.shape[1:]), subject.model), i, c, 4 * u[2] - 2,
                               d, x.dtype).to(x.device)  # fmt: skip
        composed = _FlatInput(composed, x.shape[1:])
    rows = _baselines(method, b, x)
    tx, trows = composed.transform(x), composed.transform(rows)
    before = ctx.attribute(method, subject.model, x, targets, b, where="asi")
    after = ctx.attribute(method, composed, tx, targets, trows, where="asi")
    scale = _scale_of(method, subject.model, b, x, targets)
    details = {"feature": composed.feature, "scale c": composed.scale, "shift d": composed.shift, "x": x}
    return _equal_outcome(before, after, scale, details, ("A(x, x', F)", "A(T(x), T(x'), F o T^-1)"))


class _FlatInput(nn.Module):
    """An :class:`AffineInput` over flattened features, taking and giving ``shape`` inputs."""

    def __init__(self, inner: AffineInput, shape) -> None:
        super().__init__()
        self.inner, self.shape = inner, tuple(shape)
        self.feature, self.scale, self.shift = inner.feature, inner.scale, inner.shift

    def forward(self, y: Tensor) -> Tensor:
        return self.inner(y.reshape(len(y), -1))

    def transform(self, x: Tensor) -> Tensor:
        return self.inner.transform(x.reshape(len(x), -1)).reshape(x.shape)


# ------------------------------------------------------------------------------------ ndp


def ordered_references(rows: Tensor, x: Tensor, signs: Tensor) -> Tensor:
    """Reference rows moved, feature by feature, to the side of every input that
    ``signs`` names (below all xₙ where +1, above where −1), so F is non-decreasing from
    each reference to each input when F is monotone in those directions on the box."""
    flat_r, flat_x = _flat(rows), _flat(x)
    low, high = flat_x.min(0).values, flat_x.max(0).values
    up = signs.reshape(-1).to(x.device) > 0
    moved = torch.where(up, torch.minimum(flat_r, low), torch.maximum(flat_r, high))
    return moved.reshape(rows.shape)


@check(
    suite="axioms", check="ndp", metric="ndp_violation", direction="lower", axiom="ndp",
    cases="monotone_cases", resolution=RESOLUTION,
)  # fmt: skip
def ndp(method, subject, ctx: CheckContext) -> Outcome:
    """F non-decreasing from x′ to x ⇒ A(x, x′, F) ≥ 0 (002 Definition 6; §5 item 4 for
    distributions). On subjects tagged ``monotone`` (their (x, x′) pairs meet the premise;
    ``truth["signs"]`` gives each feature's direction, + by default). A distributional
    method gets the reference rows moved by :func:`ordered_references`, which keeps the
    premise for every input on the built-in monotone subjects (F monotone on the whole
    box). Holds when every Aᵢ ≥ −ATOL·scale. Value: the most negative Aᵢ / scale (0 if none)."""
    x, t, b = ctx.samples(subject)
    targets = as_targets(t, len(x), x.device)
    d = _flat(x).shape[1]
    signs = torch.as_tensor(subject.truth.get("signs", torch.ones(d)), dtype=x.dtype)
    if method.distributional:
        b = ordered_references(reference_set(b, x), x, signs)
    attr = _flat(ctx.attribute(method, subject.model, x, targets, b, where="ndp"))
    scale = _scale_of(method, subject.model, b, x, targets)
    negative = (-attr).clamp(min=0).max(1).values
    rows = _baselines(method, b, x)
    shown, details = {"x": x, "attributions": attr}, {}
    if method.distributional:
        details["references X'"] = rows  # one reference set for every sample
    else:
        shown["x'"] = rows
    rule = f"A_i >= -{ATOL}*max(|F(x)|, |F(x')|, 1)"
    return _per_sample_verdict(negative, ATOL * scale, scale, shown, details, rule)


from attrbench.checks.lipschitz import lipschitz  # noqa: E402  (the ninth axiom check)

#: Every axiom check, in the order of 002 §2.2 then §4.
CHECKS = (
    completeness, sensitivity_a, dummy, linearity, symmetry, implementation_invariance, asi, ndp, lipschitz,
)  # fmt: skip

SUITE = Suite(
    name="axioms", title="Axioms", marker_help="axiom checks: the CI gate on claimed axioms (002 §2.2)",
    description=(
        "Does each attribution axiom hold (Lundstrom et al., 002 §2.2, §4, §5)? Nine checks — completeness, "
        "sensitivity(a), dummy, linearity, symmetry, implementation invariance, affine scale invariance, "
        "non-decreasing positivity and Lipschitz continuity — each on named analytic subjects and on "
        "hypothesis-drawn networks (the subject `generated`). A violation of an axiom the method claims fails "
        "its pytest gate; the score is the fraction of (check, subject) verdicts that hold. Tolerances and the "
        "Lipschitz search are described in attrbench.checks.axioms and attrbench.checks.lipschitz; the "
        "`lipschitz_estimate` table lists each method's estimated local Lipschitz constant (↓), which grows "
        "without bound where the attribution jumps (002 App. J)."
    ),
    summary_metrics=(HOLDS_RATE,), direction="higher",
    # Each check runs on the analytic subjects whose premise it needs (every analytic subject where the
    # axiom applies to any F) and on its ``CheckInfo.cases`` (the pseudo-subject ``generated``).
    subjects={
        "completeness": ("analytic/*", "generated"),
        "sensitivity_a": ("analytic/*", "generated"),
        "dummy": ("analytic/dummy", "generated"),
        "linearity": ("analytic/*", "generated"),
        "symmetry": ("analytic/symmetric", "generated"),
        "implementation_invariance": ("analytic/equivalent", "generated"),
        "asi": ("analytic/*", "generated"),
        "ndp": ("analytic/monotone", "analytic/product", "generated"),
        "lipschitz": ("analytic/*", "generated"),
    },
    page="axioms.md", verdict_matrix=True,
)  # fmt: skip
