"""Exact Boolean analysis (001 §2.1, §3): identities rather than copied numbers, a case
worked by hand, the decomposition through networks, the prediction attacks, the method
scores, and docs/boolean.md against the code that generates it."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from attrbench import methods
from attrbench.attacks import prediction
from attrbench.checks import boolean as bo
from attrbench.checks.context import CheckContext
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.experiments import boolean_report
from attrbench.scales import get_scale
from attrbench.subjects.boolean import FUNCTIONS, STANDARD_N, circuit


def tables():
    """Every standard circuit's table and random Boolean functions of 1 to 7 variables."""
    out = [circuit(fn, n).truth["truth_table"].numpy() for fn in FUNCTIONS for n in STANDARD_N]
    rng = np.random.default_rng(0)
    out += [rng.integers(0, 2, 2**n) for n in range(1, 8) for _ in range(3)]
    return [t for t in out if 0 < t.sum() < len(t)]  # non-constant


@pytest.mark.parametrize("table", tables(), ids=lambda t: f"n{int(np.log2(len(t)))}")
def test_identities(table):
    """Parseval Σ f̂(S)² = 1 (±1-valued F); Infᵢ computed by flips equals Σ_{S∋i} f̂(S)²;
    Σₖ W^k = 1; Σₖ I_(k) = 1 for a non-constant f; I_(1) = mean Infᵢ (a single flip)."""
    r = bo.exact_analysis(table)
    n = r["n"]
    assert np.isclose((r["fourier"] ** 2).sum(), 1.0)
    codes = np.arange(2**n)
    by_fourier = [(r["fourier"][(codes >> i) & 1 == 1] ** 2).sum() for i in range(n)]
    np.testing.assert_allclose(r["influences"], by_fourier, atol=1e-12)
    assert np.isclose(r["degree_weights"].sum(), 1.0)
    assert np.isclose(r["decomposition"].sum(), 1.0)
    assert np.isclose(r["decomposition"][0], r["influences"].mean())
    assert r["total_influence"] == pytest.approx(r["influences"].sum())


@pytest.mark.parametrize("seed", range(4))
def test_invariant_under_permuting_variables(seed):
    """Relabelling the variables permutes the influences and leaves W^k and I_(k) as they
    are (both are averages over subsets of each size)."""
    rng = np.random.default_rng(seed)
    n = 5
    table = rng.integers(0, 2, 2**n)
    perm = rng.permutation(n)
    x = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    permuted = table[(x[:, perm] << np.arange(n)).sum(1)]  # g(x) = f(y), y_j = x_perm[j]
    a, b = bo.exact_analysis(table), bo.exact_analysis(permuted)
    np.testing.assert_allclose(b["influences"][perm], a["influences"])  # g's perm[j] is f's j
    np.testing.assert_allclose(b["degree_weights"], a["degree_weights"])
    np.testing.assert_allclose(b["decomposition"], a["decomposition"])


def test_and_of_two_by_hand():
    """f = x₀ ∧ x₁, table (0, 0, 0, 1), F = (1, 1, 1, −1): f̂(∅) = f̂({0}) = f̂({1}) = 1/2,
    f̂({0,1}) = −1/2; Infᵢ = 1/2 (flipping xᵢ matters iff the other is 1); I_{i} = 1/2 and
    f is non-constant on the whole cube, so I_(1) = 1/2, I_(2) = 1 − 1/2 = 1/2."""
    r = bo.exact_analysis([0, 0, 0, 1])
    np.testing.assert_allclose(r["fourier"], [0.5, 0.5, 0.5, -0.5])
    np.testing.assert_allclose(r["influences"], [0.5, 0.5])
    np.testing.assert_allclose(r["degree_weights"], [0.25, 0.5, 0.25])
    np.testing.assert_allclose(r["decomposition"], [0.5, 0.5])


def test_constant_function_and_bad_tables():
    r = bo.exact_analysis([1] * 8)
    assert (r["influences"] == 0).all() and (r["decomposition"] == 0).all()
    with pytest.raises(InputShapeError, match="2ⁿ entries"):
        bo.exact_analysis([0, 1, 1])
    with pytest.raises(InputShapeError, match="only 0 and 1"):
        bo.exact_analysis([0, 2])
    with pytest.raises(InvalidOptionError, match="n = 13"):
        bo.exact_analysis(np.zeros(2**13, dtype=int))


def test_twelve_variables_are_practical():
    """n = 12: 4096 × 4096 subcube table, vectorised; still satisfies Σ I_(k) = 1."""
    table = np.random.default_rng(1).integers(0, 2, 2**12)
    assert np.isclose(bo.exact_analysis(table)["decomposition"].sum(), 1.0)


# -- through a network ----------------------------------------------------------------------


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bitflip_through_the_circuit_is_exact(fn):
    s = circuit(fn, 4)
    found = bo.decomposition_from_network(s.model, 4)
    np.testing.assert_array_equal(found["decomposition"], bo.exact_analysis(s.truth["truth_table"])["decomposition"])


def test_sampled_subsets_are_uniform_k_sets():
    """C(8, 4) = 70 > 5 subsets of size 4 are sampled: 5 codes of popcount 4; sizes with
    C(8, k) ≤ 5 (k = 8) are enumerated."""
    codes = bo.subset_codes(8, 5, torch.Generator().manual_seed(0))
    sizes = np.array([bin(c).count("1") for c in codes])
    assert (np.bincount(sizes, minlength=9)[1:] == [5, 5, 5, 5, 5, 5, 5, 1]).all()


def test_relaxed_attacks_bound_the_perturbation_and_respect_the_subset():
    """A linear classifier on [0, 1]⁴ with class 1 iff x₀ + x₁ + x₂ + x₃ > 2: from x = 0.5
    ⋅ 1 + 0.05 the attacks move only the masked coordinates, within ε in their norm, and
    (ε large enough) flip the class."""
    model = nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.fill_(0.25)
        model.bias.fill_(0.0)
    x = torch.full((3, 4), 0.55)  # s = 0.55 > 1/2: class 1
    mask = torch.tensor([[True, True, False, False]] * 3)
    for attack in prediction.PREDICTION_ATTACKS:
        for norm, eps in (("linf", 0.3), ("l2", 0.5)):
            adv = prediction.prediction_attack(model, x, attack=attack, norm=norm, epsilon=eps, mask=mask,
                                            domain=(0.0, 1.0), generator=torch.Generator().manual_seed(0))
            delta = adv - x
            assert (delta[:, 2:] == 0).all()
            size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
            assert (size <= eps + 1e-6).all()
            assert (prediction.predicted_classes(model, adv) == 0).all(), (attack, norm)


def test_network_decomposition_with_relaxed_attack_is_a_distribution_of_influence():
    """FGSM in L∞ with ε = 1 on OR: estimates lie in [0, 1] per subset and the levels are
    means of them; the result has n terms."""
    s = circuit("or", 4)
    r = bo.decomposition_from_network(s.model, 4, attack="fgsm", norm="linf", epsilon=1.0)
    assert r["decomposition"].shape == (4,) and ((r["subset_influence"] >= 0) & (r["subset_influence"] <= 1)).all()
    with pytest.raises(InvalidOptionError, match="needs epsilon and norm"):
        bo.decomposition_from_network(s.model, 4, attack="pgd")


# -- method scores ---------------------------------------------------------------------------


def ctx():
    return CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(0))


def test_dummy_recovery_by_hand():
    """junta_4 = parity of x₀..x₂, x₃ a dummy. Occlusion's Aᵢ is f(x) − f(x with xᵢ = 0),
    exactly 0 for the dummy and ±1 on half the inputs for the others: F1 = 1. The random
    method calls all four relevant: precision 3/4, recall 1, F1 = 2·(3/4)/(7/4) = 6/7."""
    s = circuit("junta", 4)
    assert bo.dummy_recovery(methods.get("occlusion"), s, ctx()).value == 1.0
    assert bo.dummy_recovery(methods.get("random"), s, ctx()).value == pytest.approx(6 / 7)


def sensitivity_method(sign=1.0):
    """Aᵢ(x) = ±[f(x) ≠ f(x ⊕ eᵢ)] from the model itself, so mean |Aᵢ| = Infᵢ exactly."""

    def attribute(model, x, target, baseline):
        with torch.no_grad():
            f = model(x)[:, 0]
            columns = torch.arange(x.shape[1])
            flips = [(model(torch.where(columns == i, 1 - x, x))[:, 0] != f) for i in range(x.shape[1])]
        return sign * torch.stack(flips, 1).to(x.dtype)

    return SimpleNamespace(name="sensitivity", attribute=attribute)


@pytest.mark.parametrize("fn,n", [("threshold", 4), ("threshold", 8), ("tribes", 8), ("junta", 8)])
def test_influence_recovery_is_one_for_the_sensitivity_itself(fn, n):
    """mean |Aᵢ| = Infᵢ gives Spearman 1; the random method's constant-in-x map scores
    below it; equal influences (tribes_4) give no ranking (NaN, left unscored)."""
    s = circuit(fn, n)
    assert bo.influence_recovery(sensitivity_method(), s, ctx()).value == pytest.approx(1.0)
    assert bo.influence_recovery(methods.get("random"), s, ctx()).value < 1.0
    assert np.isnan(bo.influence_recovery(sensitivity_method(), circuit("tribes", 4), ctx()).value)


def test_identifiability_of_an_input_independent_map_is_zero_and_ig_collapses_at_0111():
    """The random method returns the same map whatever the function: nothing is told
    apart (0). IG at (0, 1, 1, 1) gives parity, majority and OR the same attributions
    (§4.1), and the sensitivity method tells more (g, x) pairs apart than IG does."""
    s = circuit("parity", 4)
    assert bo.order_identifiability(methods.get("random"), s, ctx()).value == 0.0
    ig = methods.get("integrated_gradients")
    x = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    maps = [bo.normalised(ig.attribute(circuit(fn, 4).model, x, 0, None)) for fn in ("parity", "majority", "or")]
    assert torch.allclose(maps[0], maps[1]) and torch.allclose(maps[0], maps[2])
    assert (bo.order_identifiability(sensitivity_method(), s, ctx()).value
            > bo.order_identifiability(ig, s, ctx()).value)  # fmt: skip


# -- the documentation page ---------------------------------------------------------------


def test_docs_page_matches_the_code():
    """docs/boolean.md holds what boolean_report computes now (regenerate with `python -m
    attrbench.experiments.boolean_report docs/boolean.md`); the n = 8 rows of the network table
    are left to the command (9 s of attacks)."""
    page = (Path(__file__).parents[1] / "docs" / "boolean.md").read_text(encoding="utf-8")
    for part in (boolean_report.section_4_1(), boolean_report.standard_circuits(), boolean_report.ig_at_0111()):
        assert part in page
    for line in boolean_report.through_networks((4,)).splitlines()[2:]:
        assert line in page


# -- the influence_decomposition method ----------------------------------------------------


def test_influence_decomposition_by_hand():
    """s = w·x − 0.6 with w = (4, 0.1, 0.1, 0.1) at x = 0.2: s = 0.26, class 0 (class is
    s > 1/2). An L2 step of ε = 1 moves s by ε‖w_A‖₂: 4 for window {0} (flips), 0.1 for
    any other single feature and 0.1·√2 = 0.14 for {1,2} or {2,3} (s ≤ 0.41, no flip). With
    window 1 only {0} misclassifies: A = (1, 0, 0, 0); with window 2 only {0,1} does, and
    each of its features gets 1/k = 1/2: A = (1/2, 1/2, 0, 0)."""
    model = nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[4.0, 0.1, 0.1, 0.1]]))
        model.bias.fill_(-0.6)
    x = torch.full((1, 4), 0.2)
    one = methods.get("influence_decomposition", window=1, epsilon=1.0).attribute(model, x, 0, None)
    two = methods.get("influence_decomposition", window=2, epsilon=1.0).attribute(model, x, 0, None)
    assert one.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert two.tolist() == [[0.5, 0.5, 0.0, 0.0]]


def test_subset_influence_matches_decomposition_from_network():
    """Two routes to I_A with the same attack (FG in L2, ε = 2, no domain clipping: the
    method does not know the domain) on parity_4: the method's subset_influence over all
    masks and decomposition_from_network over all subsets agree subset by subset."""
    s = circuit("parity", 4)
    method = methods.get("influence_decomposition")
    codes = np.arange(1, 16)
    masks = torch.from_numpy((codes[:, None] >> np.arange(4)) & 1).bool()
    ours = method.subset_influence(s.model, s.inputs, masks).numpy()
    net = bo.decomposition_from_network(s.model, 4, attack="fgsm", norm="l2", epsilon=2.0, domain=None)
    by_code = dict(zip(net["codes"].tolist(), net["subset_influence"]))
    np.testing.assert_allclose(ours, [by_code[c] for c in codes])


def test_decomposition_recovery_is_one_for_exact_subset_influence():
    """A method whose subset_influence is the exact I_A (bit flips) recovers I_(k): value 1;
    a method without subset attributions is refused with a message."""

    def exact(model, x, masks):
        table = prediction.predicted_classes(model, x).numpy()
        codes = (masks.numpy() << np.arange(masks.shape[1])).sum(1)
        return torch.from_numpy(bo.subcube_nonconstant(table, masks.shape[1])[codes].mean(1))

    s = circuit("majority", 4)
    fake = SimpleNamespace(name="exact", subset_influence=exact)
    assert bo.decomposition_recovery(fake, s, ctx()).value == pytest.approx(1.0)
    with pytest.raises(InvalidOptionError, match="no subset attributions"):
        bo.decomposition_recovery(methods.get("saliency"), s, ctx())


def test_bitflip_influence_decomposition_recovers_every_suite_circuit():
    """001 §4.1's adversary tries every flip inside A, so I_A through an exact circuit is the
    truth table's I_A: decomposition_recovery is exactly 1 on all 16 circuits of the suite
    (expected value from exact_analysis of each truth table, not from the network)."""
    from attrbench import subjects

    method = methods.get("influence_decomposition", attack="bitflip")
    names = [n for n in subjects.available() if n.startswith("boolean/")]
    assert len(names) == 16
    for name in names:
        assert bo.decomposition_recovery(method, subjects.get(name), ctx()).value == 1.0, name


def test_bitflip_window_attributions_by_hand():
    """AND of 4 at x = (1, 1, 1, 0): only flips that include x₃ change the class. Window 1:
    only {3} → A = (0, 0, 0, 1); window 2 (stride 1): of {0,1}, {1,2}, {2,3} only {2,3}, each
    of its features gets 1/2 → (0, 0, ½, ½); at x = (1, 1, 1, 1) every single flip changes
    the class: four windows, each pixel ¼."""
    s = circuit("and", 4)
    x = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    one = methods.get("influence_decomposition", attack="bitflip", window=1).attribute(s.model, x, 0, None)
    two = methods.get("influence_decomposition", attack="bitflip", window=2).attribute(s.model, x, 0, None)
    assert one.tolist() == [[0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]]
    assert two[0].tolist() == [0.0, 0.0, 0.5, 0.5]


def test_bitflip_refuses_non_boolean_or_too_wide_inputs():
    s = circuit("or", 4)
    method = methods.get("influence_decomposition", attack="bitflip")
    with pytest.raises(InputShapeError, match="must be 0 or 1.*attack='fgsm'"):
        method.attribute(s.model, torch.full((1, 4), 0.5), 0, None)
    with pytest.raises(InvalidOptionError, match="n = 13 features is above 12"):
        method.attribute(nn.Linear(13, 1), torch.ones(1, 13), 0, None)
