"""Every check keeps the per-sample values its value aggregates (``Outcome.samples``) and
names the rule (``Outcome.aggregate``): recomputing the value from them with
``attrbench.leaderboard.intervals.aggregate`` gives the value back, so the leaderboard's
intervals bootstrap exactly what the row reports. Checks computed by exact enumeration
(the Boolean suite) keep no samples. One subject per check at the ``quick`` scale; the
fragility suite sets its own samples (tests/test_fragility.py).
"""

from __future__ import annotations

import math

import pytest
import torch

from attrbench import methods, subjects
from attrbench.checks import axioms, boolean, sanity, sensitivity_n
from attrbench.checks.context import CheckContext
from attrbench.checks.generated import generated
from attrbench.leaderboard.intervals import AGGREGATES, aggregate, as_array
from attrbench.results import Record, json_samples
from attrbench.scales import get_scale


def run(check, method: str, subject: str, seed: int = 0):
    ctx = CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(seed))
    if subject == "generated":
        return generated(check, check.info.cases)(methods.get(method), None, ctx)
    return check(methods.get(method), subjects.get(subject), ctx)


def assert_recomputes(outcome, rule: str, n_samples: int | None = None):
    """The rule is the expected one, the samples give the value back (up to float rounding:
    float32 values are stored exactly as doubles, so max/min are exact and a mean differs
    from the check's own sum only in the last bits), and they survive the JSON round trip
    of a Record."""
    assert outcome.aggregate == rule and rule in AGGREGATES
    assert outcome.samples is not None
    if n_samples is not None:
        assert len(outcome.samples) == n_samples
    assert aggregate(outcome.samples, rule) == pytest.approx(outcome.value, rel=1e-12, abs=0)
    stored = json_samples(outcome.samples)
    assert aggregate(stored, rule) == pytest.approx(outcome.value, rel=1e-12, abs=0)


#: (check, method, subject): each analytic check on a subject it runs on, with a method
#: for which the value is not trivially 0 where one is known (gradient violates
#: completeness and ASI; the non-monotone path violates NDP on analytic/product, 002 App. C).
SUBJECT_CASES = [
    (axioms.completeness, "gradient", "analytic/smooth"),
    (axioms.dummy, "random", "analytic/dummy"),
    (axioms.linearity, "integrated_gradients", "analytic/smooth"),
    (axioms.symmetry, "random", "analytic/symmetric"),
    (axioms.implementation_invariance, "deeplift_rescale", "analytic/equivalent"),
    (axioms.asi, "gradient", "analytic/linear"),
    (axioms.ndp, "nonmonotone_path", "analytic/product"),
    (axioms.lipschitz, "gradient", "analytic/relu_product"),
]


@pytest.mark.parametrize(("check", "method", "subject"), SUBJECT_CASES, ids=lambda v: getattr(v, "__name__", v))
def test_residual_checks_keep_every_sample_and_their_max(check, method, subject):
    """002's residual checks report the worst sample: the rule is "max" over one value per
    sample (``scale.max_samples`` = 8 at quick; the subjects have 32 inputs)."""
    outcome = run(check, method, subject)
    assert outcome.value is not None and outcome.value > 0
    assert_recomputes(outcome, "max", n_samples=8)


def test_sensitivity_a_keeps_a_violation_per_counted_sample():
    """sensitivity(a)'s value is the fraction of counted pairs violated: one 0/1 per sample,
    NaN for pairs that do not count (|ΔF| too small), aggregated by the NaN-ignoring mean.
    influence_decomposition on analytic/relu_product (F = ReLU(x₁ − 1)·ReLU(x₂)) at seed 0:
    of the 8 pairs one does not change F and one of the other 7 gets Aᵢ = 0, so 1/7."""
    outcome = run(axioms.sensitivity_a, "influence_decomposition", "analytic/relu_product")
    values = as_array(json_samples(outcome.samples))
    assert len(values) == 8 and int((values != values).sum()) == 1
    assert sorted(values[values == values].tolist()) == [0.0] * 6 + [1.0]
    assert outcome.value == 1 / 7
    assert_recomputes(outcome, "mean")


@pytest.mark.parametrize("check", [axioms.completeness, axioms.sensitivity_a])
def test_generated_rows_keep_one_value_per_drawn_case(check):
    """On drawn cases the value is the worst case's value in the check's direction (↓: the
    largest), over every case tried: 25 cases at quick, plus shrinking if one fails."""
    outcome = run(check, "integrated_gradients", "generated")
    assert outcome.details["cases"] >= len(outcome.samples) > 1
    assert_recomputes(outcome, "max")


def test_sensitivity_n_keeps_the_samples_by_grid_matrix():
    """003 §4.1: the value is the mean over n of the mean PCC over samples; the samples
    are the (samples × grid) PCC matrix, 8 samples and n_grid(64, 6) at quick."""
    outcome = run(sensitivity_n.sensitivity_n_curve, "saliency", "digits/mlp_relu")
    grid = sensitivity_n.n_grid(64, 6)
    assert len(outcome.samples) == 8 and all(len(row) == len(grid) for row in outcome.samples)
    assert_recomputes(outcome, "grid_mean")


def test_sensitivity_n_samples_are_nan_where_a_sample_has_zero_variance():
    """A map that is 1 on feature 0 and 0 elsewhere gives a subset the attribution sum 1
    if it holds feature 0, else 0. At n = 1 the 20 subsets (quick) of one sample all miss
    feature 0 with probability (63/64)^20 ≈ 0.73: a constant sum, zero variance, so the
    matrix holds NaN for such samples and the curve mean leaves them out."""

    def first_only(model, x, target, baseline):
        a = torch.zeros_like(x)
        a.reshape(len(x), -1)[:, 0] = 1.0
        return a

    method = methods.registry.Registry().register("first_only", first_only, differentiable=False).build()
    ctx = CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(0))
    outcome = sensitivity_n.sensitivity_n_curve(method, subjects.get("digits/mlp_relu"), ctx)
    matrix = as_array(json_samples(outcome.samples))
    assert (matrix[:, 0] != matrix[:, 0]).any()
    assert_recomputes(outcome, "grid_mean")


@pytest.mark.parametrize(
    ("check", "subject"),
    [(boolean.dummy_recovery, "boolean/junta_4"), (boolean.influence_recovery, "boolean/threshold_4"),
     (boolean.order_identifiability, "boolean/or_4")],
)  # fmt: skip
def test_boolean_checks_are_exact(check, subject):
    """The Boolean scores enumerate all 2ⁿ inputs (001): no sample to resample, so no
    samples and a degenerate interval."""
    outcome = run(check, "saliency", subject)
    assert outcome.samples is None and outcome.aggregate is None and not math.isnan(outcome.value)


def test_record_keeps_samples_and_rule():
    """Record.from_outcome stores the samples JSON-safe (NaN as null, inf as text) with the
    rule; an outcome without a value keeps none."""
    outcome = run(axioms.completeness, "gradient", "analytic/smooth")
    columns = dict(suite="axioms", check="completeness", metric="completeness_residual", direction="lower",
                   method="gradient", subject="analytic/smooth", scale="quick", seed=0)  # fmt: skip
    record = Record.from_outcome(outcome, claimed=False, **columns)
    assert record.aggregate == "max" and aggregate(record.samples, "max") == record.value
    assert json_samples([float("nan"), float("inf"), [1.0, float("-inf")]]) == [None, "inf", [1.0, "-inf"]]


@pytest.mark.parametrize("check", [sanity.model_randomization, sanity.target_sensitivity], ids=lambda c: c.__name__)
def test_sanity_checks_keep_one_similarity_per_sample_and_their_mean(check):
    """The sanity checks report the mean Spearman similarity over ``scale.sanity_samples``
    (8 at quick) samples: the rule is "mean" over one value per sample."""
    outcome = run(check, "saliency", "digits/mlp_relu")
    assert_recomputes(outcome, "mean", n_samples=get_scale("quick").sanity_samples)
