"""The Boolean interaction checks (attrbench.checks.interactions) on hand-built methods and
on the exact built-ins; expected values are derived in each test's docstring."""

from __future__ import annotations

import math

import pytest
import torch

from attrbench import methods
from attrbench.checks import interactions as ic
from attrbench.checks.context import CheckContext
from attrbench.methods.registry import Registry
from attrbench.scales import get_scale
from attrbench.subjects.boolean import circuit

pytestmark = pytest.mark.usefixtures("isolated_method_registry")


def ctx():
    return CheckContext(get_scale("quick"), torch.Generator().manual_seed(0))


def planted_method(fn):
    """An order-2 method whose interactions are ``fn(x)`` (N, F, F), attribute the diagonal."""

    class Planted:
        def attribute(self, model, x, target, baseline):
            return fn(x).diagonal(dim1=1, dim2=2).contiguous()

        def interactions(self, model, x, target, baseline):
            return fn(x)

    return Registry().register("planted", Planted, order=2, index="banzhaf_interaction").build()


def test_exact_index_from_the_table_equals_enumeration_through_the_network():
    """Two routes to the same numbers: the checks' ground truth reads v_x(S) from the truth
    table; the built-in's exact option evaluates the circuit's network on every hybrid."""
    c = circuit("threshold", 5, dtype=torch.float64)
    names = {"shapley_interaction": "shapley_interaction_index", "shapley_taylor": "shapley_taylor_index"}
    for index, name in names.items():
        table = ic.exact_index(c.truth["truth_table"].double(), 5, index)
        network = methods.get(name, exact=True).interactions(c.model, c.inputs, c.targets, c.baseline)
        torch.testing.assert_close(table, network, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fn", ["tribes_4", "majority_4", "junta_4"])
def test_exact_builtins_score_one(fn):
    """An exact method reproduces the ground truth: ρ = 1 and L1 = 0 on interaction_recovery,
    1 on order_recovery."""
    name, n = fn.split("_")
    c = circuit(name, int(n))
    for method in ("shapley_interaction_index", "banzhaf_interaction_index", "shapley_taylor_index"):
        m = methods.get(method, exact=True)
        out = ic.interaction_recovery(m, c, ctx())
        assert out.value == pytest.approx(1, abs=1e-12) and out.details["normalised_l1"] < 1e-6, method
        assert ic.order_recovery(m, c, ctx()).value == pytest.approx(1, abs=1e-6), method


def test_negated_pairs_score_minus_one_and_zeros_score_zero():
    """−I* ranks every pair in reverse: ρ = −1, and L1 = Σ|−I* − I*|/Σ|I*| = 2. A method that
    outputs zeros recovers none of f's Möbius mass: order_recovery = 1 − Σ|m|/Σ|m| = 0."""
    c = circuit("tribes", 4, dtype=torch.float64)
    truth = ic.exact_index(c.truth["truth_table"].double(), 4, "banzhaf_interaction")
    negated = planted_method(lambda x: -truth[(x.long() << torch.arange(4)).sum(1)])
    out = ic.interaction_recovery(negated, c, ctx())
    assert out.value == pytest.approx(-1) and out.details["normalised_l1"] == pytest.approx(2)
    zeros = planted_method(lambda x: torch.zeros(len(x), 4, 4, dtype=x.dtype))
    assert ic.order_recovery(zeros, c, ctx()).value == 0


def test_order_recovery_by_hand_on_and_of_two():
    """AND of 2: f = x₀x₁, so m_f({0,1}) = 1 and m_f({0}) = m_f({1}) = 0. A method whose pair is
    1/2 everywhere (and diagonal 0) errs by 1/2 on the one order-2 coefficient: 1 − ½/1 = ½."""
    c = circuit("and", 2, dtype=torch.float64)
    half = planted_method(lambda x: torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=x.dtype).expand(len(x), 2, 2))
    assert ic.order_recovery(half, c, ctx()).value == pytest.approx(0.5)


def test_top_pair_precision_by_hand():
    """tribes_4 plants (0,1) and (2,3). A method whose strongest pairs are exactly those
    scores 1; one that makes (0,2) and (1,3) strongest scores 0; a constant one ties all six
    pairs at the cut, each in the top 2 with probability 2/6, so 2 · (2/6) / 2 = 1/3."""
    c = circuit("tribes", 4, dtype=torch.float64)

    def pairs(strong):
        m = torch.full((4, 4), 0.1, dtype=torch.float64)
        for i, j in strong:
            m[i, j] = m[j, i] = 1.0
        return lambda x: m.expand(len(x), 4, 4)

    assert ic.top_pair_precision(planted_method(pairs([(0, 1), (2, 3)])), c, ctx()).value == 1
    assert ic.top_pair_precision(planted_method(pairs([(0, 2), (1, 3)])), c, ctx()).value == 0
    assert ic.top_pair_precision(planted_method(pairs([])), c, ctx()).value == pytest.approx(1 / 3)


def test_dictator_has_no_interaction_to_recover():
    """f = x₀: every exact pair is 0, so the value is NaN with a note."""
    c = circuit("dictator", 4)
    out = ic.interaction_recovery(methods.get("shapley_interaction_index", exact=True), c, ctx())
    assert math.isnan(out.value) and "no exact interaction" in out.details["note"]


def test_submitting_example_is_scored(leave_two_out_method):
    """docs/submitting.md's leave_two_out names no index, so it is compared with the Shapley
    interaction index. On a junta of parity of three, at x = 111: v(S) = parity(S), the mixed
    difference at x is p(111) − p(011) − p(101) + p(001) = 1 − 0 − 0 + 1 = 2 while SII is
    m(012)/2 + m(ij) = 4/2 − 2 = 0 — they differ, so ρ < 1; at two-feature inputs both are m(ij),
    and at one-feature inputs both diagonals are m(i), so order_recovery is exactly 1."""
    c = circuit("junta", 4, dtype=torch.float64)
    assert ic.interaction_recovery(leave_two_out_method, c, ctx()).value < 1
    assert ic.order_recovery(leave_two_out_method, c, ctx()).value == pytest.approx(1)


@pytest.fixture
def leave_two_out_method():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "submitting.md").read_text(encoding="utf-8")
    code = text.split("## Interaction methods (order 2)", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/submitting.md", "exec"), {"__name__": "abplug_leave_two_out_checks"})
    try:
        yield methods.get("leave_two_out")
    finally:
        methods.default_registry.entries.pop("leave_two_out", None)


def test_order_two_methods_run_only_in_interaction_tests():
    """The plugin pairs order-2 methods only with tests marked attrbench_order(2), and
    first-order methods only with the others (collection, no method runs)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "suites/test_boolean_recovery.py", "suites/test_boolean_interactions.py",
                          "--subject", "boolean/tribes_4"],
                         cwd=root, capture_output=True, text=True, check=True).stdout  # fmt: skip
    ids = [line for line in out.splitlines() if "::" in line]
    order2 = {n for n in methods.available() if methods.default_registry.entry(n).order == 2}
    assert order2 == {"shapley_interaction_index", "banzhaf_interaction_index", "shapley_taylor_index",
                      "integrated_hessians"}  # fmt: skip
    interaction_ids = [i for i in ids if "test_boolean_interactions.py" in i]
    first_ids = [i for i in ids if "test_boolean_recovery.py" in i and "[" in i and "boolean/" in i]
    assert interaction_ids and first_ids
    assert all(i.split("[")[1].split("-boolean/")[0] in order2 for i in interaction_ids)
    assert not any(i.split("[")[1].split("-boolean/")[0] in order2 for i in first_ids)


def test_pair_junta_plants_one_pair():
    """boolean_pairs/and2_8: f = x₀ ∧ x₁, so m_f({0,1}) = 1 is its only Möbius coefficient and
    (0, 1) its only interacting pair: an exact index puts all pair mass there (precision 1),
    and the network computes the truth table."""
    from attrbench import subjects

    s = subjects.get("boolean_pairs/and2_8")
    assert s.truth["relevant"] == [0, 1] and ic.planted_pairs(s) == {(0, 1)}
    m = ic.moebius_of_function(s.truth["truth_table"])
    assert m.nonzero().flatten().tolist() == [3] and float(m[3]) == 1
    with torch.no_grad():
        assert torch.equal(s.model(s.inputs)[:, 0].long(), s.truth["truth_table"])
    exact = methods.get("banzhaf_interaction_index", exact=True)
    assert ic.top_pair_precision(exact, s, ctx()).value == 1
