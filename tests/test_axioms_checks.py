"""The axiom checks give the outcomes the papers predict for the built-in methods.

Each expectation comes from a paper, not from running the code: 002 §2.2 and §4 for IG's
axioms, 002 App. C (non-monotone path: complete, not NDP), 003 §3.1 (DeepLIFT on
h = ReLU(x₁ − 1)·ReLU(x₂)), 002 App. J and Theorem 4 (Lipschitz). Nothing in the checks
is keyed on method names: these hold because the checks compute the axioms. Runs at the
``quick`` scale (25 drawn cases per check).
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from attrbench import methods, subjects
from attrbench.checks import axioms
from attrbench.checks.context import CheckContext
from attrbench.checks.generated import generated
from attrbench.guard import Guard
from attrbench.results import jsonable
from attrbench.scales import get_scale

REPO = Path(__file__).resolve().parents[1]


def run(check, method, subject_name: str, seed: int = 0, guard: Guard | None = None):
    """``check`` on a subject, or on drawn cases for ``"generated"``, at quick scale."""
    method = methods.get(method) if isinstance(method, str) else method
    ctx = CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(seed), guard=guard or Guard())
    if subject_name == "generated":
        return generated(check, check.info.cases)(method, None, ctx)
    return check(method, subjects.get(subject_name), ctx)


def where(check) -> list[str]:
    """The analytic subjects the axioms suite runs ``check`` on, plus ``generated``."""
    names = subjects.available()
    patterns = axioms.SUITE.subjects[check.info.check]
    found = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns if p != "generated")]
    return found + ["generated"]


def cases(*checks):
    return [pytest.param(c, s, id=f"{c.info.check}-{s}") for c in checks for s in where(c)]


# -- integrated gradients (002 §2.2: axioms 1-6; §4: NDP) -------------------------------


IG_AXIOMS = (
    axioms.completeness, axioms.sensitivity_a, axioms.dummy, axioms.linearity, axioms.symmetry,
    axioms.implementation_invariance, axioms.ndp,
)  # fmt: skip


@pytest.mark.parametrize(("check", "subject"), cases(*IG_AXIOMS))
def test_integrated_gradients_holds_its_axioms(check, subject):
    """002 §2.2: IG satisfies completeness, sensitivity(a), dummy, linearity, symmetry and
    implementation invariance; §4: NDP (the straight line is a monotone path)."""
    outcome = run(check, "integrated_gradients", subject)
    assert outcome.holds is True, outcome.details


def test_nonmonotone_path_is_complete_but_not_ndp():
    """002 App. C: a path method is complete on any path, but on F = x₁x₂ with x′ = (0, 0),
    x = (1, 0) (row 0 of analytic/product) the non-monotone path gives (1, −1) although F
    is non-decreasing from x′ to x: NDP fails. Each segment of the path moves one feature,
    along which x₁x₂ is linear, so the trapezoids are exact and only float32 rounding
    (~1e-7 per node, 3 × 33 nodes) separates the result from (1, −1): atol 1e-5."""
    for subject in where(axioms.completeness):
        assert run(axioms.completeness, "nonmonotone_path", subject).holds is True, subject
    outcome = run(axioms.ndp, "nonmonotone_path", "analytic/product")
    assert outcome.holds is False
    assert outcome.details["sample"] == 0
    assert torch.allclose(torch.as_tensor(outcome.details["attributions"]), torch.tensor([1.0, -1.0]), atol=1e-5)
    assert run(axioms.ndp, "nonmonotone_path", "generated").holds is False


def test_nonmonotone_path_is_not_sensitive_a_on_drawn_networks():
    """002 §2.2 derives sensitivity(a) from completeness for the straight line only: when x
    and x′ differ in feature i, IG's other attributions are 0 so Aᵢ = ΔF. The non-monotone
    path moves the other features away and back at different values of xᵢ, so their
    attributions need not cancel and Aᵢ can be 0 while ΔF ≠ 0 (a drawn ReLU net shows it)."""
    outcome = run(axioms.sensitivity_a, "nonmonotone_path", "generated")
    assert outcome.holds is False
    assert not methods.get("nonmonotone_path").claims_axiom("sensitivity_a")


def test_deeplift_is_incomplete_on_relu_product_outside_its_claim():
    """003 §3.1: with a multiplicative unit DeepLIFT-Rescale is not complete; on row 0,
    x = (3, 2), it gives (4, 4) (by hand), summing to 8 while h(x) − h(0) = 4. The
    method's claim excludes ``multiplicative`` subjects, so this is recorded, not failed."""
    subject = subjects.get("analytic/relu_product")
    method = methods.get("deeplift_rescale")
    outcome = run(axioms.completeness, method, "analytic/relu_product")
    assert outcome.holds is False
    assert not method.claims_axiom("completeness", subject.tags)
    row0 = method.attribute(subject.model, subject.inputs[:1], 0, subject.baseline)
    assert torch.allclose(row0, torch.tensor([[4.0, 4.0]]))


def test_saliency_is_not_complete():
    """|∂F/∂x| has no reason to sum to F(x) − F(x′): on analytic/smooth (F = V tanh(Wx +
    b), x′ = 0) it does not, and saliency does not claim completeness."""
    outcome = run(axioms.completeness, "saliency", "analytic/smooth")
    assert outcome.holds is False
    assert not methods.get("saliency").claims_axiom("completeness")


@pytest.mark.parametrize(
    ("check", "subject"),
    [(axioms.dummy, "analytic/dummy"), (axioms.symmetry, "analytic/symmetric"),
     (axioms.completeness, "analytic/linear"),
     (axioms.dummy, "generated"), (axioms.symmetry, "generated"), (axioms.completeness, "generated")],
    ids=lambda v: getattr(getattr(v, "info", None), "check", v),
)  # fmt: skip
def test_random_breaks_dummy_symmetry_and_completeness(check, subject):
    """Noise independent of F gives dummy features non-zero values, tied features
    different values, and a sum unrelated to F(x) − F(x′) (with probability 1)."""
    assert run(check, "random", subject).holds is False


def test_integrated_gradients_is_not_lipschitz_on_max_abs_diff():
    """002 App. J: on F = |y₁ − y₂|, x′ = 0, the pairs x = (1, 1 ± ε/2) are ε apart while
    |IG₁(x) − IG₁(x̄)| = 2, so the ratio is at least 2/ε and grows without bound."""
    outcome = run(axioms.lipschitz, "integrated_gradients", "analytic/max_abs_diff")
    assert outcome.holds is False
    named = outcome.details["named pairs [distance, ratio]"]
    epsilons = subjects.get("analytic/max_abs_diff").truth["app_j_epsilons"]
    for (distance, ratio), eps in zip(named, epsilons):
        assert distance == pytest.approx(eps, rel=1e-4)
        assert ratio >= 2 / eps * (1 - 1e-4)
    assert outcome.value >= 2 / min(epsilons)


def test_integrated_gradients_is_within_theorem_4_bound_on_smooth():
    """002 Theorem 4: with ∇F L-Lipschitz and |∂ᵢF| ≤ M on [a, b], IGᵢ is Lipschitz with
    constant at most M + |bᵢ − aᵢ|/2·L; analytic/smooth states sound M and L (proved in
    tests/test_subjects_analytic.py). Every pair the search evaluates stays inside."""
    outcome = run(axioms.lipschitz, "integrated_gradients", "analytic/smooth")
    assert outcome.holds is True
    assert outcome.details["max (|dA_i| / |dx|) / bound"] <= 1.0


# -- a method that cheats completeness -------------------------------------------------

CHEAT = '''
import torch
from attrbench.methods.registry import register_method


@register_method("rescaled_random", claims={claims})
def rescaled_random(model, x, target, baseline):
    """Noise shifted so that every row sums to F(x) - F(x'): complete by construction."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    t = torch.as_tensor(target).long()
    t = t.expand(len(x)) if t.dim() == 0 else t
    b = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
    with torch.no_grad():
        delta = model(x).gather(1, t.view(-1, 1))[:, 0] - model(b).gather(1, t.view(-1, 1))[:, 0]
    flat = noise.reshape(len(x), -1)
    flat = flat + ((delta - flat.sum(1)) / flat.shape[1]).unsqueeze(1)
    return flat.reshape(x.shape)
'''


@pytest.fixture
def cheat(isolated_method_registry):
    """rescaled_random claiming completeness only, registered for this test."""
    namespace: dict = {}
    exec(textwrap.dedent(CHEAT.format(claims='("completeness",)')), namespace)  # registers it
    yield methods.get("rescaled_random")
    methods.default_registry.entries.pop("rescaled_random", None)


@pytest.mark.parametrize("subject", ["analytic/linear", "analytic/smooth", "generated"])
def test_rescaled_random_is_complete(cheat, subject):
    """Σᵢ Aᵢ = F(x) − F(x′) by construction, so completeness cannot catch it."""
    assert run(axioms.completeness, cheat, subject).holds is True


@pytest.mark.parametrize(
    ("check", "subject"),
    [(axioms.dummy, "analytic/dummy"), (axioms.dummy, "generated"),
     (axioms.symmetry, "analytic/symmetric"), (axioms.symmetry, "generated")],
)  # fmt: skip
def test_rescaled_random_is_caught_on_dummy_and_symmetry(cheat, check, subject):
    """The noise reaches dummy features and splits tied ones (002 axioms 5 and 6)."""
    outcome = run(check, cheat, subject)
    assert outcome.holds is False
    if subject == "generated":
        example = outcome.details["counterexample"]
        assert {"network", "inputs", "baseline", "targets", "check"} <= set(example)
        assert "architecture" in example["network"]


def test_a_false_claim_fails_the_axioms_suite_with_its_counterexample(tmp_path):
    """`pytest suites/ -m axioms --method <method with a false claim>` exits non-zero and
    prints the counterexample; the same method without those claims passes."""
    (tmp_path / "abplug_cheat.py").write_text(
        textwrap.dedent(CHEAT.format(claims='("completeness", "dummy", "symmetry")')), encoding="utf-8"
    )
    (tmp_path / "abplug_honest.py").write_text(
        textwrap.dedent(CHEAT.format(claims='("completeness",)')), encoding="utf-8"
    )
    common = [sys.executable, "-m", "pytest", str(REPO / "suites"), "-m", "axioms", "--attrbench-scale", "quick",
              "--no-leaderboard", "-p", "no:cacheprovider", "-q",
              "-k", "dummy or symmetry or completeness"]  # fmt: skip
    false = subprocess.run([*common, "--method", "abplug_cheat:rescaled_random"], cwd=tmp_path,
                           capture_output=True, text=True, check=False)  # fmt: skip
    out = false.stdout + false.stderr
    assert false.returncode == 1, out
    assert "rescaled_random claims dummy, violated on analytic/dummy" in out
    assert "rescaled_random claims symmetry, violated on generated" in out
    assert "counterexample" in out and "architecture" in out
    honest = subprocess.run([*common, "--method", "abplug_honest:rescaled_random"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert honest.returncode == 0, honest.stdout + honest.stderr


# -- the generated runner ----------------------------------------------------------------


def test_generated_cases_are_reproducible_from_the_seed():
    """The same generator seed draws the same cases: the same worst value and verdict."""
    first = run(axioms.linearity, "saliency", "generated", seed=5)
    second = run(axioms.linearity, "saliency", "generated", seed=5)
    assert first.holds is second.holds is False
    assert first.value == second.value
    assert jsonable(first.details) == jsonable(second.details)


def test_claims_scope_the_drawn_cases():
    """IG claims Lipschitz unless relu/nonsmooth: the drawn cases it is judged on are
    smooth networks only, and there its quadrature is continuous in x (Theorem 4)."""
    outcome = run(axioms.lipschitz, "integrated_gradients", "generated")
    assert outcome.details["scope"] == "cases its lipschitz claim covers"
    assert outcome.holds is True
    assert outcome.details["cases"] >= get_scale("quick").hypothesis_examples



# -- the checks' own pieces, against values derived by hand -------------------------------


def _method(fn, name="hand_made", kind="gradient", differentiable=True):
    """A Method around ``fn(model, x, target, baseline)`` without registering it."""
    from attrbench.methods.registry import MethodEntry

    entry = MethodEntry(name, fn, (), True, differentiable, kind, "test", "test")
    return entry.build()


def test_lipschitz_estimate_of_a_linear_map_is_its_norm():
    """A(x) = 3x has ‖A(p) − A(q)‖ / ‖p − q‖ = 3 for every pair (by hand), so the estimate
    is 3 and no chain is flagged as a jump. analytic/smooth is float32: at the closest
    pairs, 0.2/2¹² ≈ 4.9e-5 apart, rounding p and q (|x| ≤ 1, eps 1.2e-7) moves the ratio
    by up to 1.2e-7/4.9e-5 ≈ 2.5e-3 relative."""
    method = _method(lambda model, x, target, baseline: 3 * x)
    outcome = run(axioms.lipschitz, method, "analytic/smooth")
    assert outcome.holds is True
    assert outcome.value == pytest.approx(3.0, rel=2.5e-3)


def test_lipschitz_attributes_every_point_once():
    """Batching contract of the Lipschitz search (lipschitz.py's module doc): one call for
    x and its k random partners, then per ascent step one call for the n moved points
    (A(x) is held fixed, not recomputed), then per halving one call for the c midpoints
    (the ends' attributions are carried over). So the rows attributed are (k + 1)·n +
    steps·n + HALVINGS·c, counted here by a method that records its batch sizes (the
    determinism re-run is off). The earlier version re-attributed x at every ascent step
    and both ends at every halving: (k + 1)·n + 2n·steps + 3c·(HALVINGS + 1)."""
    from attrbench.checks.lipschitz import HALVINGS

    sizes = []

    def linear(model, x, target, baseline):
        sizes.append(len(x))
        return 3 * x

    subject = subjects.get("analytic/smooth")
    scale = get_scale("quick")
    ctx = CheckContext(scale=scale, generator=torch.Generator().manual_seed(0), guard=Guard(check_determinism=False))
    n = len(ctx.samples(subject)[0])
    c = n + len([(i, j) for i, j in subject.truth.get("lipschitz_pairs", ()) if i < n and j < n])
    axioms.lipschitz(_method(linear), subject, ctx)
    k, steps = scale.lipschitz_pairs, scale.lipschitz_ascent_steps
    assert sizes == [(k + 1) * n] + [n] * steps + [c] * HALVINGS


def test_lipschitz_flags_a_step():
    """A(x) = 1[x₀ > 0] e₀ jumps by 1 across x₀ = 0: bisection keeps ‖ΔA‖ = 1 while the
    pair closes, so the map is flagged and the estimate is at least 1 / (the closest
    distance) = 2¹²/(0.1·(b − a)) = 2¹²/0.2 on [−1, 1]."""

    def step(model, x, target, baseline):
        out = torch.zeros_like(x)
        out[:, 0] = (x[:, 0] > 0).to(x.dtype)
        return out

    outcome = run(axioms.lipschitz, _method(step, differentiable=False), "analytic/smooth")
    assert outcome.holds is False
    assert outcome.value >= 2**12 / 0.2 * 0.99


def test_segment_variation_of_a_tent():
    """F(x) = 1 − |x| on the segment −1 → 1 rises by 1 and falls by 1: variation 2 (by
    hand), while F(1) − F(−1) = 0."""

    class Tent(torch.nn.Module):
        def forward(self, x):
            return 1 - x.abs()

    v = axioms.segment_variation(Tent(), torch.tensor([[-1.0]]), torch.tensor([[1.0]]), torch.tensor([0]))
    assert v.item() == pytest.approx(2.0, abs=1e-6)


def test_distributional_single_feature_pairs_differ_in_one_feature_from_every_reference():
    """002 §5 item 1 needs X′ⱼ = xⱼ for j ≠ i for every input and reference row."""
    method = methods.get("expected_gradients")
    x, b = torch.rand(5, 4), torch.rand(5, 4)
    inputs, refs = axioms.single_feature_pairs(method, x, b, torch.tensor([2, 0, 1, 3, 3]))
    differ = (inputs[:, None, :] != refs[None, :, :]).any(0).any(0)
    assert differ.tolist() == [False, False, True, False]


def test_ordered_references_lie_below_every_input():
    """NDP for distributions (002 §5 item 4) needs each reference below each input in the
    directions of increase, and above where F decreases (signs −1)."""
    x, refs = torch.rand(6, 3), torch.rand(4, 3)
    signs = torch.tensor([1.0, -1.0, 1.0])
    moved = axioms.ordered_references(refs, x, signs)
    below = moved[:, None, :] <= x[None, :, :]
    above = moved[:, None, :] >= x[None, :, :]
    assert below[..., [0, 2]].all() and above[..., 1].all()


def test_a_method_that_raises_on_drawn_cases_is_a_method_failure():
    """The guard's MethodFailure leaves the search at once and reaches the harness, which
    records an error row (tests/test_harness_plugin.py covers the row)."""
    from attrbench.guard import MethodFailure

    def broken(model, x, target, baseline):
        raise RuntimeError("boom")

    with pytest.raises(MethodFailure, match="boom"):
        run(axioms.dummy, _method(broken), "generated")


def test_a_method_whose_verdict_changes_on_the_same_case_is_a_method_failure():
    """A check's verdict is a function of the drawn case (one seed for every case), so a
    verdict that changes when hypothesis replays a case comes from the method itself. (The
    guard's own determinism check, which repeats the first call, is switched off here: this
    method changes only on every other call, which the second line of defence catches.)"""
    from attrbench.guard import MethodFailure

    calls = iter(range(10**6))

    def flaky(model, x, target, baseline):
        noise = torch.zeros_like(x)
        if next(calls) % 2:
            noise[:, 0] = 1.0  # every other call gives the first feature a value
        return noise

    with pytest.raises(MethodFailure, match="not a function of its input"):
        run(axioms.dummy, _method(flaky), "generated", guard=Guard(check_determinism=False))


def test_drawn_cases_do_not_depend_on_which_modules_are_loaded(tmp_path, monkeypatch):
    """Hypothesis mixes literals from the source of loaded local modules into what it
    draws; a process that imported more code (another suite, a plugin) would otherwise
    get other cases for the same seed (seen as non-reproducible rows under pytest-xdist).
    The same check and seed give the same value and counterexample before and after a
    module full of fresh constants is imported."""
    from attrbench.checks.lipschitz import lipschitz

    def run():
        ctx = CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(7))
        return generated(lipschitz, lipschitz.info.cases)(methods.get("deeplift_rescale"), None, ctx)

    before = run()
    (tmp_path / "abcli_constants.py").write_text(
        "".join(f"C{i} = {v!r}\n" for i, v in enumerate([0.0123, 0.731, 1.5e-3, 3, 7, 11, 0.25, -0.875, 2.5, 19]))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        __import__("abcli_constants")
        after = run()
    finally:
        sys.modules.pop("abcli_constants", None)
    assert before.value == after.value and jsonable(before.details) == jsonable(after.details)
