"""The interaction contract and the exact and sampled interaction indices
(attrbench.methods.interactions, attrbench.methods.interaction_indices).

Expected values come from (a) the issue's hand examples, (b) a brute-force enumeration of
each index's own definition as a sum of discrete derivatives over coalitions (no Möbius
transform), written below in plain Python, and (c) shapiq's ExactComputer (optional)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from attrbench import methods
from attrbench.errors import InvalidOptionError, MethodParameterError, PluginError
from attrbench.guard import Guard, MethodFailure
from attrbench.methods import interactions as inter
from attrbench.methods.registry import Registry
from attrbench.subjects.boolean import all_inputs, circuit

pytestmark = pytest.mark.usefixtures("isolated_method_registry")

NAMES = {"shapley_interaction": "shapley_interaction_index", "banzhaf_interaction": "banzhaf_interaction_index",
         "shapley_taylor": "shapley_taylor_index"}  # fmt: skip


class Lookup(nn.Module):
    """A Boolean function of n inputs as a model: row k of ``table`` at the point whose bit i
    is xᵢ (every hybrid of Boolean x and x′ is Boolean)."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float64))

    def forward(self, z):
        code = (z.round().long() << torch.arange(z.shape[1])).sum(1)
        return self.table[code].unsqueeze(1)


def game(table, x_code: int):
    """v(S) = f(x_S, 0_{−S}) from the truth table itself (S a frozenset of features)."""
    return lambda s: float(table[x_code & sum(1 << i for i in s)])


def brute_force(v, n: int, index: str) -> list[list[float]]:
    """The index's definition as a sum over coalitions T of discrete derivatives:
    SII: Σ_{T⊆N∖ij} |T|!(n−|T|−2)!/(n−1)! Δ_ij v(T), Shapley value on the diagonal;
    BII: 2^{−(n−2)} Σ Δ_ij v(T), Banzhaf value 2^{−(n−1)} Σ Δ_i v(T);
    STI (Sundararajan et al. 2020, order 2): (2/n) Σ Δ_ij v(T)/C(n−1, |T|), diagonal v(i) − v(∅)."""
    out = [[0.0] * n for _ in range(n)]
    for i in range(n):
        rest = [k for k in range(n) if k != i]
        total = 0.0
        for size in range(n):
            for t in itertools.combinations(rest, size):
                d = v(frozenset(t) | {i}) - v(frozenset(t))
                if index == "shapley_interaction":
                    total += math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n) * d
                elif index == "banzhaf_interaction":
                    total += d / 2 ** (n - 1)
        out[i][i] = v(frozenset({i})) - v(frozenset()) if index == "shapley_taylor" else total
        for j in range(i + 1, n):
            others = [k for k in range(n) if k not in (i, j)]
            total = 0.0
            for size in range(n - 1):
                for t in itertools.combinations(others, size):
                    t = frozenset(t)
                    d = v(t | {i, j}) - v(t | {i}) - v(t | {j}) + v(t)
                    if index == "shapley_interaction":
                        total += math.factorial(size) * math.factorial(n - size - 2) / math.factorial(n - 1) * d
                    elif index == "banzhaf_interaction":
                        total += d / 2 ** (n - 2)
                    else:
                        total += 2 / n * d / math.comb(n - 1, size)
            out[i][j] = out[j][i] = total
    return out


def exact(index, model, x):
    return methods.get(NAMES[index], exact=True).interactions(model, x, 0, torch.zeros(x.shape[1], dtype=x.dtype))


# -- the hand examples ---------------------------------------------------------


def test_and_of_three_by_hand():
    """AND of 3 at x = 111, x′ = 000: v(S) = 1 only for S = {1,2,3}, so m(123) = 1 and every
    other m(T) = 0; the pairwise values are 1/(3−1) = 1/2, 1/2^{3−2} = 1/2, 1/C(3,2) = 1/3."""
    model = circuit("and", 3, dtype=torch.float64).model
    x = torch.ones(1, 3, dtype=torch.float64)
    m = inter.moebius(inter.coalition_values(model, x, 0, None))
    assert m.tolist() == [[0, 0, 0, 0, 0, 0, 0, 1]]
    for index, pair in {"shapley_interaction": 1 / 2, "banzhaf_interaction": 1 / 2, "shapley_taylor": 1 / 3}.items():
        found = exact(index, model, x)[0]
        off = found[~torch.eye(3, dtype=torch.bool)]
        torch.testing.assert_close(off, torch.full_like(off, pair), rtol=0, atol=1e-15)


def test_xor_of_two_by_hand():
    """XOR at x = 11: v(∅) = 0, v(1) = v(2) = 1, v(12) = 0, so m(12) = 0 − 1 − 1 + 0 = −2."""
    model = circuit("parity", 2, dtype=torch.float64).model
    m = inter.moebius(inter.coalition_values(model, torch.ones(1, 2, dtype=torch.float64), 0, None))
    assert m.tolist() == [[0, 1, 1, -2]]


# -- exact indices against the brute-force definitions ---------------------------------


def _games():
    """(name, model, table, n): two circuits and two random Boolean functions (seeded)."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for fn, n in (("tribes", 5), ("majority", 4)):
        c = circuit(fn, n, dtype=torch.float64)
        out.append((f"{fn}_{n}", c.model, c.truth["truth_table"].tolist(), n))
    for n in (4, 5):
        table = torch.randint(0, 2, (2**n,), generator=gen).tolist()
        out.append((f"random_{n}", Lookup(table), table, n))
    return out


GAMES = _games()


@pytest.mark.parametrize("index", inter.INTERACTION_INDICES)
@pytest.mark.parametrize("name, model, table, n", GAMES, ids=[g[0] for g in GAMES])
def test_exact_equals_brute_force(index, name, model, table, n):
    """Every input of the function: the enumerated index equals its definition evaluated
    coalition by coalition from the truth table (brute_force above)."""
    x = all_inputs(n, torch.float64)
    found = exact(index, model, x)
    expected = torch.tensor([brute_force(game(table, k), n, index) for k in range(2**n)], dtype=torch.float64)
    torch.testing.assert_close(found, expected, rtol=0, atol=1e-12)


SHAPIQ_INDEX = {"shapley_interaction": "SII", "banzhaf_interaction": "BII", "shapley_taylor": "STII"}


@pytest.mark.parametrize("index", inter.INTERACTION_INDICES)
def test_exact_equals_shapiq(index):
    """shapiq's ExactComputer on the same games (its order-1 entries: Shapley values for SII,
    Banzhaf values for BII, m({i}) for STII — the diagonals documented here)."""
    shapiq = pytest.importorskip("shapiq", reason="shapiq (optional extra) is not installed")
    for _, model, table, n in GAMES:
        x_code = 2**n - 1 - 2  # every feature but x₁ present: a game with one dummy
        x = all_inputs(n, torch.float64)[x_code : x_code + 1]
        found = exact(index, model, x)[0]

        def value(coalitions, x_code=x_code, table=table, n=n):
            codes = (coalitions.astype(int) << torch.arange(n).numpy()).sum(1)
            return torch.tensor(table, dtype=torch.float64)[torch.from_numpy(codes & x_code)].numpy()

        values = shapiq.ExactComputer(value, n_players=n)(index=SHAPIQ_INDEX[index], order=2)
        expected = torch.zeros(n, n, dtype=torch.float64)
        for i, j in itertools.combinations_with_replacement(range(n), 2):
            expected[i, j] = expected[j, i] = values[(i, j) if i != j else (i,)]
        torch.testing.assert_close(found, expected, rtol=0, atol=1e-12)


def test_exact_refuses_more_than_sixteen_features():
    x = torch.zeros(1, 17)
    with pytest.raises(InvalidOptionError, match="F = 17 features is above 16"):
        methods.get("shapley_interaction_index", exact=True).interactions(nn.Linear(17, 1), x, 0, None)


def test_exact_chunking_does_not_change_results():
    c = circuit("threshold", 5, dtype=torch.float64)
    whole = methods.get("banzhaf_interaction_index", exact=True, internal_batch_size=None)
    tiny = methods.get("banzhaf_interaction_index", exact=True, internal_batch_size=7)
    args = (c.model, c.inputs, c.targets, c.baseline)
    assert torch.equal(whole.interactions(*args), tiny.interactions(*args))


# -- the sampled estimators converge ----------------------------------------------------


@pytest.mark.parametrize("index", inter.INTERACTION_INDICES)
def test_sampled_estimator_converges_to_exact(index):
    """Each entry is a mean of K i.i.d. terms w(T)·Δv(T): for v ∈ [0, 1] a first or second
    difference lies in [−2, 2], so a term is bounded by B = 2 max w (max w: the estimator's
    own importance weights over every size). By Hoeffding's inequality the mean lies within
    B·sqrt(2 ln(2/δ)/K) of its expectation, the exact index, except with probability
    δ = 1e-6 per entry. Four inputs of tribes_6 with most bits set."""
    from attrbench.methods.interaction_indices import _proposal, _target

    c = circuit("tribes", 6, dtype=torch.float64)
    args = (c.model, c.inputs[-4:], c.targets[-4:], c.baseline)
    truth = methods.get(NAMES[index], exact=True).interactions(*args)
    sizes = torch.arange(0, 6, dtype=torch.float64)  # |T| ≤ 6 − k for T ⊆ [6] minus k features
    w = max(float((_target(index, 6, sizes[: 7 - k], k) / _proposal(index, 6, sizes[: 7 - k], k)).max())
            for k in (1, 2))  # fmt: skip
    errors = {}
    for k in (64, 16384):
        found = methods.get(NAMES[index], n_samples=k).interactions(*args)
        errors[k] = float((found - truth).abs().max())
        assert errors[k] <= 2 * w * math.sqrt(2 * math.log(2 / 1e-6) / k), (k, errors[k])
    assert errors[16384] < errors[64]


def test_sampled_diagonal_is_attribute():
    """attribute() returns the same order-1 terms as the diagonal of interactions()."""
    c = circuit("majority", 5, dtype=torch.float64)
    for name in NAMES.values():
        m = methods.get(name, n_samples=16)
        pairs = m.interactions(c.model, c.inputs, c.targets, c.baseline)
        torch.testing.assert_close(m.attribute(c.model, c.inputs, c.targets, c.baseline),
                                   pairs.diagonal(dim1=1, dim2=2), rtol=0, atol=1e-12)  # fmt: skip


# -- the contract: registration and the guard ---------------------------------------------


class PlantedPairs:
    """A plugin interaction method: I_ij = xᵢ xⱼ − x̄ᵢ x̄ⱼ off the diagonal, xᵢ − x̄ᵢ on it."""

    def attribute(self, model, x, target, baseline):
        return x - baseline

    def interactions(self, model, x, target, baseline):
        d = x - baseline
        pairs = x[:, :, None] * x[:, None, :] - (baseline[:, None] * baseline[None, :])
        return torch.where(torch.eye(x.shape[1], dtype=torch.bool), torch.diag_embed(d), pairs)


def test_plugin_interaction_method_registers_and_passes_the_guard():
    registry = Registry()
    entry = registry.register("planted_pairs", PlantedPairs, order=2, index="shapley_interaction")
    assert (entry.order, entry.index) == (2, "shapley_interaction")
    method = registry.get("planted_pairs")
    x, b = torch.rand(3, 4), torch.zeros(4)
    out = Guard().attribute(method, nn.Linear(4, 1), x, 0, b, pairs=True)
    assert out.shape == (3, 4, 4) and torch.equal(out, out.transpose(1, 2))


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda p: p[:, :2], "interactions of shape"),
        (lambda p: p + torch.triu(torch.ones_like(p), 1), "not symmetric"),
        (lambda p: p * float("nan"), "non-finite"),
    ],
)
def test_guard_refuses_bad_interactions(bad, message):
    class Broken(PlantedPairs):
        def interactions(self, model, x, target, baseline):
            return bad(super().interactions(model, x, target, baseline))

    method = Registry().register("broken", Broken, order=2).build()
    with pytest.raises(MethodFailure, match=message):
        Guard().attribute(method, nn.Linear(4, 1), torch.rand(3, 4), 0, torch.zeros(4), pairs=True)


def test_registration_errors():
    registry = Registry()

    def plain(model, x, target, baseline):
        return x

    with pytest.raises(PluginError, match="order=2 needs interactions"):
        registry.register("no_pairs", plain, order=2)
    with pytest.raises(PluginError, match="index='shapley'"):
        registry.register("bad_index", PlantedPairs, order=2, index="shapley")
    with pytest.raises(PluginError, match="index='shapley_taylor'"):
        registry.register("first_order_index", plain, index="shapley_taylor")
    with pytest.raises(PluginError, match="order=3"):
        registry.register("third", PlantedPairs, order=3)
    with pytest.raises(MethodParameterError, match="first-order method"):
        registry.register("plain", plain).build().interactions(nn.Linear(2, 1), torch.rand(1, 2), 0, None)


def test_builtins_carry_their_index():
    for index, name in NAMES.items():
        entry = methods.default_registry.entry(name)
        assert (entry.order, entry.index) == (2, index)
    assert methods.default_registry.entry("integrated_gradients").order == 1


@pytest.mark.parametrize("exact_", [False, True])
@pytest.mark.parametrize("name", sorted(NAMES.values()))
def test_interactions_compute_on_the_inputs_device(name, exact_, monkeypatch):
    """As tests/test_device_paths.py does for attribute(): on meta, a CPU tensor mixed into
    the computation raises, so interactions() makes every tensor on x's device."""
    from attrbench import functional, subjects

    monkeypatch.setattr(functional, "check_target_range", lambda target, n_classes: None)  # needs values
    s = subjects.get("analytic/smooth").to("meta")
    x = s.inputs[:4]
    out = methods.get(name, exact=exact_, n_samples=3).interactions(s.model, x, s.targets[:4], s.baseline)
    f = x[0].numel()
    assert out.device.type == "meta" and out.shape == (4, f, f) and out.dtype == x.dtype


def _submitting_example() -> str:
    """The worked plugin of docs/submitting.md, "Interaction methods (order 2)"."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "submitting.md").read_text(encoding="utf-8")
    section = text.split("## Interaction methods (order 2)", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def leave_two_out():
    """docs/submitting.md's plugin, registered by running the page's code as written."""
    namespace = {"__name__": "abplug_leave_two_out"}
    exec(compile(_submitting_example(), "docs/submitting.md", "exec"), namespace)
    try:
        yield methods.get("leave_two_out")
    finally:
        methods.default_registry.entries.pop("leave_two_out", None)


def test_submitting_example_registers_and_passes_the_guard(leave_two_out):
    """The mixed difference at x, by hand on AND of 3 at 111 (x′ = 000): F(111) = 1 and
    F is 0 once any input is removed, so every pair gets 1 − 0 − 0 + 0 = 1 and every
    diagonal (occlusion) 1 − 0 = 1."""
    assert (leave_two_out.order, leave_two_out.index) == (2, None)
    model = circuit("and", 3, dtype=torch.float64).model
    x = torch.ones(1, 3, dtype=torch.float64)
    out = Guard().attribute(leave_two_out, model, x, 0, torch.zeros(3, dtype=torch.float64), pairs=True)
    assert out.tolist() == [[[1.0] * 3] * 3]


# -- Integrated Hessians -------------------------------------------------------------------


class Quadratic(nn.Module):
    """F(z) = zᵀAz + bᵀz, A symmetric."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, z):
        return ((z @ self.a) * z).sum(1, keepdim=True) + (z @ self.b)[:, None]


def test_integrated_hessians_on_a_quadratic_by_hand():
    """∂ᵢ∂ⱼF = 2Aᵢⱼ and ∂ᵢF(αβx) = 2αβ(Ax)ᵢ + bᵢ (baseline 0). The midpoint means of α and of β
    are exactly 1/2, so ∫∫αβ = 1/4 with any n_steps: Γᵢⱼ = xᵢxⱼ·2Aᵢⱼ/4 = xᵢxⱼAᵢⱼ/2 (i ≠ j) and
    Γᵢᵢ = xᵢ((Ax)ᵢ/2 + bᵢ) + xᵢ²Aᵢᵢ/2; they sum to xᵀAx + bᵀx = F(x) − F(0)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    a, b = (a + a.T) / 2, torch.randn(4, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    found = methods.get("integrated_hessians", n_steps=3).interactions(Quadratic(a, b), x, 0, None)
    pairs = x[:, :, None] * x[:, None, :] * a / 2
    diagonal = x * ((x @ a) / 2 + b) + x**2 * a.diagonal() / 2
    expected = torch.where(torch.eye(4, dtype=torch.bool), torch.diag_embed(diagonal), pairs)
    torch.testing.assert_close(found, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(found.sum((1, 2)), Quadratic(a, b)(x)[:, 0], rtol=0, atol=1e-12)


def test_integrated_hessians_differentiates_the_softplus_copy():
    """On a ReLU network IH equals IH of the same weights with nn.Softplus(beta) in place of
    each nn.ReLU (built by hand here), and the model itself is left unchanged."""
    c = circuit("tribes", 4, dtype=torch.float64)
    smooth = nn.Sequential(*[nn.Softplus(beta=5.0) if isinstance(m, nn.ReLU) else m for m in c.model])
    method = methods.get("integrated_hessians", n_steps=4, beta=5.0)
    found = Guard().attribute(method, c.model, c.inputs, c.targets, c.baseline, pairs=True)
    torch.testing.assert_close(found, method.interactions(smooth, c.inputs, c.targets, c.baseline), rtol=0, atol=0)
    assert any(isinstance(m, nn.ReLU) for m in c.model)


def test_method_tester_checks_interaction_methods(leave_two_out):
    """attrbench.testing's contract runs the ``interactions`` property on order-2 methods: the
    docs' plugin keeps it; one whose attribute() is not its diagonal breaks it."""
    from attrbench.methods.registry import Registry
    from attrbench.testing import MethodContractError, MethodTester

    MethodTester(leave_two_out).check("interactions")

    class OffDiagonal(PlantedPairs):
        def attribute(self, model, x, target, baseline):
            return x - baseline + 1

    method = Registry().register("off_diagonal", OffDiagonal, order=2).build()
    tester = MethodTester(method, model=nn.Linear(4, 1), x=torch.rand(3, 4), target=0, baseline=torch.zeros(4))
    assert "interactions" in tester.properties
    with pytest.raises(MethodContractError, match="diagonal of interactions"):
        tester.check("interactions")


def test_sampling_weights():
    """The size-uniform draw R (P = 1/((F+1)·C(F,|R|))) with i, j removed gives T with
    Σ_a C(2,a)/((F+1)·C(F,|T|+a)) = 1/((F−1)·C(F−2,|T|)) — the Shapley interaction weight —
    so its importance weights are 1 (and likewise for the Shapley value); Banzhaf's uniform
    draw needs none; Shapley–Taylor's are (2/F)/C(F−1,t) divided by the same q: 2(F−1−t)/F."""
    from attrbench.methods.interaction_indices import _proposal, _target

    for f in (3, 8, 12):
        for k, top in ((2, f - 2), (1, f - 1)):
            t = torch.arange(0, top + 1, dtype=torch.float64)
            for index in ("shapley_interaction", "banzhaf_interaction"):
                torch.testing.assert_close(_target(index, f, t, k) / _proposal(index, f, t, k), torch.ones_like(t))
        t = torch.arange(0, f - 1, dtype=torch.float64)
        ratio = _target("shapley_taylor", f, t, 2) / _proposal("shapley_taylor", f, t, 2)
        torch.testing.assert_close(ratio, 2 * (f - 1 - t) / f)
