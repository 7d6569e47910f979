"""Fragility (004): the interpretation attacks' invariants, App. F on a linear model, the
metrics against hand-worked and scipy values, and the suite's check."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from attrbench import methods, subjects
from attrbench.attacks import importance, interpretation
from attrbench.checks import fragility as fr
from attrbench.checks.context import CheckContext
from attrbench.errors import InvalidOptionError
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


# -- the suite's check ---------------------------------------------------------------------


def test_check_reports_na_for_targeted_attacks_on_non_differentiable_methods():
    """Occlusion is not differentiable: its targeted rows are N/A with the reason, and its
    robustness is the random attack's top-k intersection at the largest ε."""
    ctx = CheckContext(scale=get_scale("quick"), generator=gen())
    out = fr.fragility(methods.get("occlusion"), subjects.get("digits/mlp_relu"), ctx)
    d = out.details
    na = [i for i, a in enumerate(d["attack"]) if a in interpretation.TARGETED]
    assert na and all(d["status"][i] == fr.NOT_DIFFERENTIABLE for i in na)
    assert all(math.isnan(d["topk_intersection"][i]) for i in na)
    last_random = [i for i, a in enumerate(d["attack"]) if a == "random"][-1]
    assert d["strongest attack"] == "random" and out.value == d["topk_intersection"][last_random]


def test_check_summary_is_the_strongest_attack_at_the_largest_epsilon():
    """Saliency on digits/cnn_tanh: the value is the smallest top-k intersection among the
    attacks at the largest ε, and every (attack, ε) has all three metrics."""
    scale = get_scale("quick")
    out = fr.fragility(methods.get("saliency"), subjects.get("digits/cnn_tanh"), CheckContext(scale, gen()))
    d = out.details
    assert len(d["attack"]) == len(interpretation.KINDS) * len(scale.fragility_epsilons)
    last = [i for i, f in enumerate(d["epsilon_fraction"]) if f == scale.fragility_epsilons[-1]]
    assert out.value == min(d["topk_intersection"][i] for i in last)
    assert all(math.isfinite(d[m][i]) for m in ("topk_intersection", "spearman", "center_shift") for i in last)
    assert d["samples"] == scale.fragility_samples and d["k"] == round(0.1 * 64)
