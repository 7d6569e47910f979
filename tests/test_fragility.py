"""Fragility (004): the interpretation attacks' invariants, App. F on a linear model, the
metrics against hand-worked and scipy values, the gradient-free (SPSA) attack, the attack
set every method shares, and the suite's check."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from attrbench import methods, subjects
from attrbench.attacks import gradient_free, importance, interpretation, shared
from attrbench.checks import fragility as fr
from attrbench.checks.context import CheckContext
from attrbench.errors import InvalidOptionError
from attrbench.leaderboard import intervals
from attrbench.scales import get_scale


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def attack(method, subject, kind, eps, m=8, steps=6, seed=0, **kw):
    s = subjects.get(subject) if isinstance(subject, str) else subject
    x, t = s.inputs[:m], s.targets[:m]
    lo, hi = s.domain
    return s, x, interpretation.run_interpretation_attack(
        methods.get(method), s.model, x, t, kind=kind, epsilon=[e * (hi - lo) for e in eps], steps=steps,
        baseline=s.baseline, generator=gen(seed), domain=s.domain, image_shape=s.truth.get("image_shape"), **kw,
    )  # fmt: skip


# -- invariants --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", interpretation.KINDS)
@pytest.mark.parametrize(
    "method,subject",
    [("saliency", "digits/cnn_relu"), ("integrated_gradients", "digits/mlp_tanh"),
     ("deeplift_rescale", "digits/cnn_sigmoid"), ("input_x_gradient", "analytic/linear")],
)  # fmt: skip
def test_adversarial_examples_keep_the_label_and_stay_in_the_ball_and_domain(kind, method, subject):
    """004 §3 / Algorithm 1: x_adv keeps the original predicted label, ‖x_adv − x_t‖∞ ≤ ε
    and x_adv ∈ [a, b]; with an ε grid the result is (len(ε), N, ...)."""
    eps = (0.02, 0.1)
    s, x, result = attack(method, subject, kind, eps)
    lo, hi = s.domain
    assert result.x_adv.shape == (len(eps), *x.shape)
    labels = s.model(x).argmax(1)
    for e, x_adv in zip(eps, result.x_adv):
        assert torch.equal(s.model(x_adv).argmax(1), labels)
        assert (x_adv - x).abs().max() <= e * (hi - lo) * (1 + 1e-6)
        assert x_adv.min() >= lo and x_adv.max() <= hi
    assert result.moved.any()  # the test is about points the attack did move


class Peak(nn.Module):
    """Scores (10⁻³ − Σ|xᵢ − 0.5|, 0): class 0 exactly within an L1 distance 10⁻³ of 0.5."""

    def forward(self, x):
        s0 = 1e-3 - (x - 0.5).abs().sum(1)
        return torch.stack([s0, torch.zeros_like(s0)], 1)


def test_single_radius_returns_the_batch_shape_and_x_t_when_nothing_keeps_the_label():
    """With one ε the result has the input's shape. At x = 0.5 every random sign step of ε
    = 0.1 moves each of the 4 features by 0.1, an L1 distance of 0.4 ≫ 10⁻³, so every draw
    flips the label: the attack keeps x_t and reports that it did not move."""
    x = torch.full((3, 4), 0.5)
    result = interpretation.run_interpretation_attack(
        methods.get("gradient"), Peak(), x, 0, kind="random", epsilon=0.1, steps=5, generator=gen(3)
    )
    assert result.x_adv.shape == x.shape and torch.equal(result.x_adv, x)
    assert not result.moved.any()


# -- App. F: linear models ---------------------------------------------------------------


@pytest.mark.parametrize("kind", interpretation.KINDS)
@pytest.mark.parametrize("method", ["gradient", "saliency"])
def test_linear_model_gradient_maps_cannot_be_moved(kind, method):
    """004 App. F: for S = wᵀx + b, ∇ₓS = w whatever x is, so R(x_adv) = R(x_t): top-k
    intersection 1, Spearman 1 and no centre shift, for every attack and ε."""
    s, x, result = attack(method, "analytic/linear", kind, (0.05, 0.2), m=16)
    assert torch.equal(result.r_adv, result.r_start)
    k = 2
    assert (fr.topk_intersection(result.r_start, result.r_adv, k) == 1).all()
    assert np.allclose(fr.spearman(result.r_start, result.r_adv).numpy(), 1.0)


def test_linear_model_gradient_x_input_moves_only_through_x():
    """Gradient×Input on a linear model is w ⊙ x, which moves with x: App. F's robustness is
    about the gradient, and the issue's statement that no attack moves Gradient×Input
    there does not follow from the definition. What does: (1) R(x_adv) = |w ⊙ x_adv| /
    Σ|w ⊙ x_adv| exactly (no fragility beyond the input's own change); (2) where every two
    |wᵢxᵢ| differ by more than ε(|wᵢ| + |wⱼ|) no ε-perturbation can reorder them, so
    Spearman = 1 and top-k intersection = 1; (3) where they do not, the top-k attack
    reorders them (top-k intersection < 1 on the subject's own inputs)."""
    eps = 0.01
    model = nn.Linear(6, 2).eval().requires_grad_(False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0, -1.5, 2.5], [0.0] * 6]))
        model.bias.zero_()
    w = model.weight[0]
    # (2) |wᵢxᵢ| = 0.1, 0.2, ..., 0.6 (times 1 to 1.03 per row): gaps ≥ 0.09, while an
    # ε-perturbation changes |wᵢxᵢ| + |wⱼxⱼ| by at most ε(|wᵢ| + |wⱼ|) ≤ 0.055
    x = (torch.linspace(0.1, 0.6, 6) / w.abs() * torch.sign(w))[None] * (1 + 0.01 * torch.arange(4.0))[:, None]
    t = model(x).argmax(1)
    for kind in interpretation.KINDS:
        result = interpretation.run_interpretation_attack(
            methods.get("input_x_gradient"), model, x, t, kind=kind, epsilon=eps, steps=10, k=2,
            generator=gen(1), domain=(-6.0, 6.0),
        )  # fmt: skip
        assert result.moved.all(), kind
        expected = importance.importance(w * result.x_adv)
        assert torch.allclose(result.r_adv, expected, atol=1e-6)  # (1)
        assert np.allclose(fr.spearman(result.r_start, result.r_adv).numpy(), 1.0)  # (2)
        assert (fr.topk_intersection(result.r_start, result.r_adv, 2) == 1).all()
    # (3) on analytic/linear's random inputs the top-k attack does reorder
    s, _, result = attack("input_x_gradient", "analytic/linear", "topk", (0.05,), m=16, steps=10)
    assert fr.topk_intersection(result.r_start, result.r_adv, 1).mean() < 1


# -- targeted vs random; ReLU surrogate --------------------------------------------------


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients"])
@pytest.mark.parametrize("subject", ["digits/cnn_tanh", "digits/mlp_softplus"])
def test_targeted_attacks_move_explanations_at_least_as_much_as_random_noise(method, subject):
    """004 Fig. 2: averaged over samples, the top-k attack lowers the top-k intersection
    at least as much as random sign noise of the same ε, and the mass-center attack moves
    the centre of mass at least as far."""
    eps, k = (0.05,), 6
    results = {kind: attack(method, subject, kind, eps, m=16, steps=10)[2] for kind in interpretation.KINDS}
    topk = {kind: fr.topk_intersection(r.r_start, r.r_adv, k).mean() for kind, r in results.items()}
    s = subjects.get(subject)
    pos = importance.feature_positions(s.inputs[:1], s.truth.get("image_shape"))
    shift = {kind: fr.center_shift(r.r_start, r.r_adv, pos).mean() for kind, r in results.items()}
    assert topk["topk"] <= topk["random"], topk
    assert shift["mass_center"] >= shift["random"], shift


def test_relu_network_attack_goes_through_the_softplus_surrogate_and_makes_progress():
    """On a ReLU network saliency's map is piecewise constant in x, so ∇ₓD through the real
    network is exactly 0 (004 App. A, footnote c). The attack swaps the 3 ReLU modules of
    digits/cnn_relu for softplus, and the real network's top-k mass of R falls."""
    s = subjects.get("digits/cnn_relu")
    x, t = s.inputs[:8], s.targets[:8]
    point = x.clone().requires_grad_(True)
    r = importance.importance(methods.get("saliency").attribute(s.model, point, t, None))
    top = fr.topk_mask(r.detach(), 6)
    (grad,) = torch.autograd.grad((r * top).sum(), point)
    assert torch.count_nonzero(grad) == 0
    surrogate, replaced = interpretation.smooth_surrogate(s.model)
    assert replaced == 3 and not any(isinstance(m, nn.ReLU) for m in surrogate.modules())
    assert any(isinstance(m, nn.ReLU) for m in s.model.modules())  # the real one is untouched
    _, _, result = attack("saliency", s, "topk", (0.05,), m=8, steps=10)
    assert result.surrogate == 3
    assert (result.dissimilarity > result.start_dissimilarity).float().mean() >= 0.75
    assert fr.topk_intersection(result.r_start, result.r_adv, 6).mean() < 1


def test_mass_center_attack_starts_although_the_norm_has_no_gradient_at_x_t():
    """D = ‖C(x) − C(x_t)‖ has no gradient at x = x_t on a smooth network; the random
    start direction lets the attack move the centre anyway."""
    s, _, result = attack("saliency", "digits/mlp_tanh", "mass_center", (0.05,), m=8, steps=6)
    assert result.surrogate == 0 and result.moved.all()
    assert (result.dissimilarity > 0).all()


# -- metrics ------------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties():
    """Row-wise Spearman equals scipy.stats.spearmanr (average ranks for ties)."""
    a = torch.tensor([[0.1, 0.4, 0.4, 0.1, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    b = torch.tensor([[0.2, 0.3, 0.1, 0.2, 0.2], [5.0, 4.0, 3.0, 2.0, 1.0]])
    ours = fr.spearman(a, b).numpy()
    for row in range(2):
        assert ours[row] == pytest.approx(spearmanr(a[row], b[row]).statistic, abs=1e-12)
    assert ours[1] == pytest.approx(-1.0)
    assert math.isnan(fr.spearman(torch.ones(1, 4), torch.rand(1, 4)).item())  # constant ranks


def test_topk_intersection_and_center_of_mass_by_hand():
    """k = 2: top-2 of r1 = {0, 1}, of r2 = {1, 3} -> 1/2. Centre of mass on a 2×2 grid of
    R = (0.5, 0, 0, 0.5) is 0.5·(0, 0) + 0.5·(1, 1) = (0.5, 0.5); moving all mass to pixel
    (0, 1) shifts it by ‖(0, 1) − (0.5, 0.5)‖ = √0.5."""
    r1 = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
    r2 = torch.tensor([[0.1, 0.4, 0.1, 0.4]])
    assert fr.topk_intersection(r1, r2, 2).item() == 0.5
    pos = importance.feature_positions(torch.zeros(1, 1, 2, 2))
    assert pos.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    c = importance.center_of_mass(torch.tensor([[0.5, 0.0, 0.0, 0.5]]), pos)
    assert c.tolist() == [[0.5, 0.5]]
    shift = fr.center_shift(torch.tensor([[0.5, 0.0, 0.0, 0.5]]), torch.tensor([[0.0, 1.0, 0.0, 0.0]]), pos)
    assert shift.item() == pytest.approx(math.sqrt(0.5))
    assert importance.feature_positions(torch.zeros(1, 64), (8, 8))[9].tolist() == [1, 1]
    assert importance.feature_positions(torch.zeros(1, 5)).reshape(-1).tolist() == [0, 1, 2, 3, 4]


def test_importance_is_normalised_and_sums_channels():
    """004 §2.1: R = |A| / Σ|A|, a pixel's |A| summed over its channels."""
    a = torch.tensor([[[[1.0, -1.0]], [[-2.0, 0.0]]]])  # (1, 2 channels, 1, 2)
    assert importance.importance(a).tolist() == [[0.75, 0.25]]
    assert importance.importance(torch.zeros(2, 3)).abs().sum() == 0


def test_bad_arguments_say_what_to_change():
    model = nn.Linear(4, 2).eval()
    x = torch.rand(2, 4)
    method = methods.get("gradient")
    with pytest.raises(InvalidOptionError, match="unknown attack kind"):
        interpretation.interpretation_attack(method, model, x, 0, kind="pgd", epsilon=0.1, steps=2)
    with pytest.raises(InvalidOptionError, match="k=9"):
        interpretation.interpretation_attack(method, model, x, 0, kind="topk", epsilon=0.1, steps=2, k=9)
    with pytest.raises(InvalidOptionError, match="at least one step"):
        interpretation.interpretation_attack(method, model, x, 0, kind="topk", epsilon=0.1, steps=0)
    with pytest.raises(InvalidOptionError, match="epsilon must be >= 0"):
        interpretation.interpretation_attack(method, model, x, 0, kind="topk", epsilon=-0.1, steps=1)


# -- the gradient-free attack (SPSA) -------------------------------------------------------


def spsa(method, subject, kind, eps, m=8, steps=4, directions=2, c=0.25, seed=0):
    s = subjects.get(subject)
    x, t = s.inputs[:m], s.targets[:m]
    lo, hi = s.domain
    return s, x, gradient_free.run_spsa_attack(
        methods.get(method), s.model, x, t, kind=kind, epsilon=[e * (hi - lo) for e in eps], steps=steps,
        directions=directions, c=c, baseline=s.baseline, generator=gen(seed), domain=s.domain,
        image_shape=s.truth.get("image_shape"),
    )  # fmt: skip


@pytest.mark.parametrize("kind", interpretation.TARGETED)
def test_spsa_attack_keeps_the_label_stays_in_the_ball_and_reports_the_real_explanation(kind):
    """The gradient-free Algorithm 1 keeps Algorithm 1's constraints (label kept, ‖x_adv −
    x_t‖∞ ≤ ε, x_adv in the domain), its D never falls below D(x_t) (the best-iterate
    rule starts from x_t), and r_adv is occlusion's R at x_adv, recomputed here."""
    eps = (0.02, 0.1)
    s, x, result = spsa("occlusion", "digits/mlp_tanh", kind, eps)
    lo, hi = s.domain
    labels = s.model(x).argmax(1)
    for e, x_adv in zip(eps, result.x_adv):
        assert torch.equal(s.model(x_adv).argmax(1), labels)
        assert (x_adv - x).abs().max() <= e * (hi - lo) * (1 + 1e-6)
        assert x_adv.min() >= lo and x_adv.max() <= hi
    assert (result.dissimilarity >= result.start_dissimilarity - 1e-7).all()
    assert result.moved.any()
    x_rows = result.x_adv.reshape(-1, *x.shape[1:])
    expected = importance.importance(methods.get("occlusion").attribute(s.model, x_rows, s.targets[:8].repeat(2),
                                                                        s.baseline))  # fmt: skip
    assert torch.allclose(result.r_adv, expected, atol=1e-6)


class Quadratic(nn.Module):
    """S(x) = tanh(x)ᵀ M tanh(x) + wᵀx for class 0 (class 1: 0), a smooth score whose
    gradient map moves with x."""

    def __init__(self, features: int, generator: torch.Generator):
        super().__init__()
        self.m = nn.Parameter(torch.randn(features, features, generator=generator, dtype=torch.float64))
        self.w = nn.Parameter(torch.randn(features, generator=generator, dtype=torch.float64))

    def forward(self, x):
        h = torch.tanh(x)
        s = ((h @ self.m) * h).sum(1) + x @ self.w
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_spsa_estimate_of_grad_d_approaches_autograd_as_directions_grow():
    """For D = −Σ_{i∈B} R(x)ᵢ (top-k D) of the gradient map on a smooth float64 model,
    the SPSA estimate ĝ = (1/d) Σ_δ (D(x+cδ) − D(x−cδ))/(2c)·δ against autograd's ∇D.
    Derivation of the bound (Rademacher δ, c → 0): ĝ − g = (1/d) Σ_δ (δδᵀ − I)g, whose
    i-th entry δᵢ Σ_{l≠i} δₗgₗ has variance (‖g‖² − gᵢ²)/d, so E‖ĝ − g‖² = (F − 1)‖g‖²/d
    and ‖ĝ‖ ≈ ‖g‖·√(1 + (F − 1)/d); gᵀ(ĝ − g)/‖g‖² has variance
    2(‖g‖⁴ − Σgᵢ⁴)/(d‖g‖⁴) ≤ 2/d. Hence cos(ĝ, g) ≈ 1/√(1 + (F − 1)/d) to within a few
    √(2/d): asserted within 4√(2/d) at each d, and → 1 (≥ 0.97) at d = 4096 with F = 16."""
    torch.manual_seed(0)
    features, k = 16, 3
    model = Quadratic(features, gen(5)).eval().requires_grad_(False)
    x = torch.rand((1, features), generator=gen(6), dtype=torch.float64) - 0.5
    method = methods.get("gradient")
    r_t = importance.importance(method.attribute(model, x, 0))
    top = importance.topk_mask(r_t, k)

    def d_of(points):
        return -(importance.importance(method.attribute(model, points, 0)) * top).sum(1)

    point = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(d_of(point).sum(), point)
    cosines = {}
    for d in (16, 256, 4096):
        g_hat = gradient_free.spsa_gradient(d_of, x, c=1e-5, directions=d, generator=gen(d))
        cosines[d] = float(torch.nn.functional.cosine_similarity(g_hat, g).item())
        expected = 1 / math.sqrt(1 + (features - 1) / d)
        assert abs(cosines[d] - expected) <= 4 * math.sqrt(2 / d), (d, cosines[d], expected)
    assert cosines[4096] >= 0.97 and cosines[4096] > cosines[16], cosines
    assert gradient_free.expected_cosine(features, 4096) == pytest.approx(1 / math.sqrt(1 + 15 / 4096))


def test_spsa_on_a_linear_function_is_exact_per_direction():
    """For f(x) = aᵀx, (f(x + cδ) − f(x − cδ))/(2c) = aᵀδ exactly, so with one direction
    ĝ = (aᵀδ)δ: ĝ·δ = aᵀδ · F (δ·δ = F), checked by hand."""
    a = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
    x = torch.zeros((1, 4), dtype=torch.float64)
    g = gradient_free.spsa_gradient(lambda p: (p * a).sum(1), x, c=0.1, directions=1, generator=gen(2))
    delta = gradient_free.rademacher(1, x, gen(2))[0]
    assert torch.allclose(g, (a * delta).sum() * delta)


def test_spsa_options_are_checked():
    """A query budget ≤ 0 (fewer than one direction) or a probe size c outside (0, 1] (a
    fraction of ε) is an InvalidOptionError that says what to use; so is a random kind."""
    for directions in (0, -1, 1.5, True):
        with pytest.raises(InvalidOptionError, match="query budget"):
            spsa("occlusion", "analytic/linear", "topk", (0.05,), directions=directions)
    for c in (0.0, -0.1, 1.5, math.nan, math.inf):
        with pytest.raises(InvalidOptionError, match="probe size"):
            spsa("occlusion", "analytic/linear", "topk", (0.05,), c=c)
    with pytest.raises(InvalidOptionError, match="ascends D of topk or mass_center"):
        spsa("occlusion", "analytic/linear", "random", (0.05,))
    with pytest.raises(InvalidOptionError, match="probe size"):
        gradient_free.spsa_gradient(lambda p: p.sum(1), torch.zeros(1, 2), c=0.0, directions=4)
    assert gradient_free.query_budget(5, 1) == 15 and gradient_free.query_budget(100, 8) == 1700


# -- the attack set every method faces -----------------------------------------------------


class Recording(CheckContext):
    """A check context that keeps every point the method under test is evaluated at."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.points = {}

    def attribute(self, method, model, x, target, baseline, where=""):
        self.points[where] = x.detach().clone()
        return super().attribute(method, model, x, target, baseline, where)


def test_every_method_meets_the_same_random_and_transfer_perturbations():
    """Occlusion and saliency, run in tests with different per-test generators and with the
    cache emptied in between (so only determinism can make them agree), are evaluated at
    bit-identical random and transfer points; another run seed draws other random points."""
    scale, subject = get_scale("quick"), subjects.get("digits/mlp_tanh")
    seen = {}
    for method, test_seed in (("occlusion", 11), ("saliency", 12)):
        shared.clear_cache()
        ctx = Recording(scale, gen(test_seed), seed=3)
        fr.fragility(methods.get(method), subject, ctx)
        seen[method] = ctx.points
    common = [name for name, family in fr.attack_set() if not name.endswith("@self")]
    assert len(common) == 1 + len(shared.PANEL) * len(interpretation.TARGETED)
    for name in common:
        a, b = seen["occlusion"][f"{name} attack"], seen["saliency"][f"{name} attack"]
        assert torch.equal(a, b), name
        assert not torch.equal(a, seen["occlusion"]["original"]), name  # they are perturbations
    shared.clear_cache()
    other = Recording(scale, gen(11), seed=4)
    fr.fragility(methods.get("random"), subject, other)
    assert not torch.equal(other.points["random attack"], seen["occlusion"]["random attack"])


def test_panel_attacks_are_computed_once_per_subject_in_a_process(monkeypatch):
    """Three methods' tests on one subject run the panel's 2 surrogates (gradient,
    Gradient×Input) × 2 kinds = 4 attacks and one random draw; a second subject adds as
    many. The panel method `gradient` (default options) takes its self attack from the
    panel: no extra call."""
    calls = {"transfer": 0, "random": 0}
    transfer, random_sign = shared.run_interpretation_attack, shared.random_sign

    def count_transfer(*args, **kwargs):
        calls["transfer"] += 1
        return transfer(*args, **kwargs)

    def count_random(*args, **kwargs):
        calls["random"] += 1
        return random_sign(*args, **kwargs)

    monkeypatch.setattr(shared, "run_interpretation_attack", count_transfer)
    monkeypatch.setattr(shared, "random_sign", count_random)
    shared.clear_cache()
    scale = get_scale("quick")
    for i, method in enumerate(("gradient", "occlusion", "random")):
        out = fr.fragility(methods.get(method), subjects.get("analytic/linear"), CheckContext(scale, gen(i)))
        assert calls == {"transfer": 4, "random": 1}, (method, calls)
    assert out.details["attacks"]["topk@self"].startswith("gradient-free")
    fr.fragility(methods.get("occlusion"), subjects.get("digits/mlp_tanh"), CheckContext(scale, gen(9)))
    assert calls == {"transfer": 8, "random": 2}


def test_occlusion_now_faces_targeted_attacks_and_its_worst_case_is_at_most_random():
    """Occlusion is not differentiable: it meets the four transfer attacks and the SPSA self
    attacks, every one with finite metrics, and its robustness (the worst case) is at most
    its top-k intersection under random noise at the largest ε (the minimum over a set
    that contains it)."""
    scale = get_scale("quick")
    out = fr.fragility(methods.get("occlusion"), subjects.get("digits/cnn_relu"), CheckContext(scale, gen()))
    d = out.details
    last = {d["attack"][i]: d["topk_intersection"][i] for i, f in enumerate(d["epsilon_fraction"])
            if f == scale.fragility_epsilons[-1]}  # fmt: skip
    assert set(last) == {name for name, _ in fr.attack_set()}
    assert out.value <= last["random"]
    assert out.value == min(last.values())
    assert d["attacks"]["mass_center@self"].startswith("gradient-free Algorithm 1 (budget 6)")
    for i, attack in enumerate(d["attack"]):
        assert all(math.isfinite(d[m][i]) for m in ("topk_intersection", "spearman", "center_shift")), attack


@pytest.mark.parametrize("subject", ["analytic/linear", "digits/mlp_tanh"])
def test_no_cell_is_missing_for_any_builtin(subject):
    """Every first-order built-in that applies to the subject has all seven attacks at every ε, with
    finite top-k intersection, Spearman, centre shift and moved fraction (no N/A, no NaN)."""
    scale, s = get_scale("quick"), subjects.get(subject)
    names = [name for name, _ in fr.attack_set()]
    for i, method in enumerate(methods.available()):
        entry = methods.default_registry.entry(method)
        if entry.order != 1 or not entry.applies_to(s.tags):  # order 2: only the interaction checks run them
            continue
        d = fr.fragility(methods.get(method), s, CheckContext(scale, gen(i))).details
        assert d["attack"] == [n for n in names for _ in scale.fragility_epsilons], method
        for column in ("topk_intersection", "spearman", "center_shift", "moved"):
            assert all(math.isfinite(v) for v in d[column]), (method, column)


def test_check_value_is_the_min_of_means_of_its_samples():
    """Outcome.samples is samples × attacks (top-k intersection per sample at the largest
    ε), aggregated by min_of_means; the aggregate reproduces the value, each column's mean
    is that attack's row at the largest ε, and the value is the smallest of them."""
    scale = get_scale("quick")
    out = fr.fragility(methods.get("saliency"), subjects.get("digits/cnn_tanh"), CheckContext(scale, gen()))
    d = out.details
    a = np.asarray(out.samples)
    assert a.shape == (scale.fragility_samples, len(fr.attack_set())) and out.aggregate == "min_of_means"
    assert intervals.aggregate(out.samples, out.aggregate) == pytest.approx(out.value, abs=1e-12)
    last = [i for i, f in enumerate(d["epsilon_fraction"]) if f == scale.fragility_epsilons[-1]]
    assert a.mean(0) == pytest.approx([d["topk_intersection"][i] for i in last], abs=1e-12)
    assert out.value == pytest.approx(min(d["topk_intersection"][i] for i in last), abs=1e-12)
    assert d["strongest attack"] == d["attack"][min(last, key=lambda i: d["topk_intersection"][i])]
    assert d["samples"] == scale.fragility_samples and d["k"] == round(0.1 * 64)


def test_check_rejects_a_bad_spsa_budget_in_the_scale():
    """A scale with no SPSA direction or a probe size of 0 is refused before any attack."""
    subject = subjects.get("analytic/linear")
    for bad in ({"fragility_spsa_directions": 0}, {"fragility_spsa_c": 0.0}):
        scale = dataclasses.replace(get_scale("quick"), **bad)
        with pytest.raises(InvalidOptionError):
            fr.fragility(methods.get("occlusion"), subject, CheckContext(scale, gen()))
