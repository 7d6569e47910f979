"""Integrated Gradients, Expected Gradients and the non-monotone path method.

Expected values come from hand integration (F = x₁x₂), from scipy's adaptive quadrature
as a second implementation of the path integral, and from 002 App. C.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import quad_vec
from torch import nn

from attrbench import methods
from attrbench.methods.integrated_gradients import RULES, quadrature

pytestmark = pytest.mark.usefixtures("float64")


class Product(nn.Module):
    """F(x) = x₁·x₂ as a one-column model (002 App. C)."""

    def forward(self, x):
        return (x[:, 0] * x[:, 1]).unsqueeze(1)


def smooth_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.Softplus(), nn.Linear(6, 3))
    return net.eval().requires_grad_(False)


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (2.0, 3.0), (-1.5, 0.5), (0.25, -4.0)])
@pytest.mark.parametrize("rule", RULES)
def test_ig_of_product_is_half_the_product(a, b, rule):
    """IG of x₁x₂ from 0 to (a, b): ∫₀¹ (αb)·a dα = ab/2 for each feature (by hand).
    The integrand is linear in α, so every rule with weights summing to 1 and nodes
    symmetric about ½ is exact; left/right Riemann are off by ab/(2n), so n_steps is large."""
    n_steps = 2000 if rule in ("riemann_left", "riemann_right") else 20
    ig = methods.get("integrated_gradients", n_steps=n_steps, integration=rule)
    attr = ig.attribute(Product(), torch.tensor([[a, b]]), 0, None)
    tol = abs(a * b) / (2 * n_steps) + 1e-12 if rule in ("riemann_left", "riemann_right") else 1e-12
    assert torch.allclose(attr, torch.full((1, 2), a * b / 2), atol=tol, rtol=0)


def _scipy_ig(model, x, baseline, target):
    """IG by scipy's adaptive quadrature of the gradient along the line (second implementation)."""

    def grad_at(alpha):
        p = (baseline + alpha * (x - baseline)).clone().requires_grad_(True)
        model(p)[0, target].backward()
        return p.grad.numpy().ravel()

    integral, _ = quad_vec(grad_at, 0.0, 1.0, epsabs=1e-13, epsrel=1e-13)
    return (x - baseline).numpy().ravel() * integral


def test_rules_converge_to_scipy_quadrature_at_their_order():
    """Every rule converges to the scipy value; the observed order of convergence matches
    numerical-analysis theory: 1 for left/right Riemann, 2 for midpoint and trapezoid,
    and Gauss–Legendre is at machine precision by 50 nodes on an analytic integrand."""
    model = smooth_net()
    torch.manual_seed(1)
    x, base = torch.randn(1, 5), torch.randn(1, 5) * 0.3
    exact = _scipy_ig(model, x, base, 1)
    expected_order = {"riemann_left": 1, "riemann_right": 1, "riemann_middle": 2, "riemann_trapezoid": 2}
    for rule in RULES:
        errors = []
        for n in (20, 200):
            attr = methods.get("integrated_gradients", n_steps=n, integration=rule).attribute(model, x, 1, base)
            errors.append(np.abs(attr.numpy().ravel() - exact).max())
        if rule == "gausslegendre":
            assert errors[1] < 1e-12, errors
            continue
        order = np.log10(errors[0] / errors[1])
        assert abs(order - expected_order[rule]) < 0.25, (rule, errors, order)


@pytest.mark.parametrize("rule", RULES)
def test_completeness_residual_shrinks_with_steps(rule):
    """|Σᵢ IGᵢ − (F(x) − F(x′))| decreases as n_steps grows on a smooth net (IG is complete,
    Sundararajan et al. 2017 Prop 1; the residual is pure quadrature error)."""
    model = smooth_net(3)
    torch.manual_seed(4)
    x = torch.randn(6, 5)
    t = torch.arange(6) % 3
    delta = model(x)[torch.arange(6), t] - model(torch.zeros_like(x))[torch.arange(6), t]
    residuals = []
    for n in (4, 16, 64):
        attr = methods.get("integrated_gradients", n_steps=n, integration=rule).attribute(model, x, t, None)
        residuals.append(float((attr.sum(1) - delta).abs().max()))
    assert residuals[0] > residuals[1] > residuals[2] or residuals[2] < 1e-13, residuals


def test_nonmonotone_path_gives_one_minus_one():
    """002 App. C: along (0,0)→(0,1)→(1,1)→(1,0), F = x₁x₂ gets attributions (1, −1)."""
    attr = methods.get("nonmonotone_path").attribute(Product(), torch.tensor([[1.0, 0.0]]), 0, torch.zeros(1, 2))
    assert torch.allclose(attr, torch.tensor([[1.0, -1.0]]), atol=1e-12)


def test_nonmonotone_path_is_complete():
    """A path method satisfies completeness (002 §3): the three segment integrals add up
    to F(x) − F(x′) up to quadrature error (Gauss–Legendre, smooth net)."""
    model = smooth_net(5)
    torch.manual_seed(6)
    x, base = torch.randn(4, 5), torch.randn(4, 5)
    attr = methods.get("nonmonotone_path", detour=0.5, integration="gausslegendre").attribute(model, x, 2, base)
    delta = model(x)[:, 2] - model(base)[:, 2]
    assert torch.allclose(attr.sum(1), delta, atol=1e-10)


def test_expected_gradients_with_one_reference_is_ig():
    """With a single reference row, E_{X′} IG(x, X′) = IG(x, x′) (002 §5 definition)."""
    model = smooth_net(7)
    torch.manual_seed(8)
    x, ref = torch.randn(3, 5), torch.randn(1, 5)
    eg = methods.get("expected_gradients", n_steps=32).attribute(model, x, 0, ref)
    ig = methods.get("integrated_gradients", n_steps=32).attribute(model, x, 0, ref.expand(3, 5))
    assert torch.allclose(eg, ig, atol=1e-12)


def test_expected_gradients_distributional_completeness():
    """002 App. K: Σᵢ EGᵢ = F(x) − E_{X′~D} F(X′), with D the reference rows (Gauss–Legendre
    is exact to rounding on this analytic integrand)."""
    model = smooth_net(9)
    torch.manual_seed(10)
    x, refs = torch.randn(4, 5), torch.randn(7, 5)
    eg = methods.get("expected_gradients", n_steps=40, integration="gausslegendre").attribute(model, x, 1, refs)
    expected = model(x)[:, 1] - model(refs)[:, 1].mean()
    assert torch.allclose(eg.sum(1), expected, atol=1e-10)


def test_expected_gradients_subsample_is_seeded():
    """Drawing n_baselines < M rows is reproducible for a seed, and different seeds draw
    different rows (so the attributions differ)."""
    model = smooth_net(11)
    x, refs = torch.randn(2, 5), torch.randn(30, 5)
    a1 = methods.get("expected_gradients", n_baselines=5, seed=1).attribute(model, x, 0, refs)
    a2 = methods.get("expected_gradients", n_baselines=5, seed=1).attribute(model, x, 0, refs)
    a3 = methods.get("expected_gradients", n_baselines=5, seed=2).attribute(model, x, 0, refs)
    assert torch.equal(a1, a2) and not torch.allclose(a1, a3)


def test_gradient_shap_converges_to_ig_in_expectation():
    """GradientSHAP with one reference and no noise estimates E_α[∇F(x′+α(x−x′))]⊙(x−x′),
    i.e. IG (Sundararajan et al. Eq. 1 as an expectation over α ~ U(0,1)). With S draws the
    Monte-Carlo error is below 5σ/√S, σ estimated from the same draws' spread."""
    model = smooth_net(12)
    torch.manual_seed(13)
    x, ref = torch.randn(1, 5), torch.randn(1, 5)
    s = 4000
    est = methods.get("gradient_shap", n_samples=s, seed=0).attribute(model, x, 0, ref)
    ig = methods.get("integrated_gradients").attribute(model, x, 0, ref)
    alphas = torch.rand(s, 1)
    pts = (ref + alphas * (x - ref)).requires_grad_(True)
    model(pts)[:, 0].sum().backward()
    sigma = (pts.grad * (x - ref)).std(0)
    assert ((est - ig).abs() <= 5 * sigma / s**0.5 + 1e-12).all()


def test_quadrature_weights_sum_to_one():
    """Every rule integrates the constant 1 exactly."""
    for rule in RULES:
        for n in (2, 7, 50):
            nodes, weights = quadrature(rule, n)
            assert abs(weights.sum() - 1) < 1e-14 and nodes.min() >= 0 and nodes.max() <= 1


class NarrowBump(torch.nn.Module):
    """F(x) = ReLU(x − 0.5) − ReLU(x − 0.505): flat except a ramp of width 0.005."""

    def forward(self, x):
        return (torch.relu(x - 0.5) - torch.relu(x - 0.505)).sum(1, keepdim=True)


def test_adaptive_rule_sees_a_region_a_fixed_rule_misses():
    """On [0, 1] the ramp of NarrowBump lies between two of the 50 Gauss–Legendre nodes
    (node spacing ≈ 0.03 near 0.5), so the fixed rule returns 0 although F(1) − F(0) =
    0.005 (by hand); the adaptive rule's interval residual F(b) − F(a) ≠ trapezoid sees it
    and returns 0.005 to its tolerance."""
    x, base = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    fixed = methods.get("integrated_gradients", integration="gausslegendre").attribute(NarrowBump(), x, 0, base)
    adaptive = methods.get("integrated_gradients", integration="adaptive").attribute(NarrowBump(), x, 0, base)
    assert fixed.item() == 0.0
    assert abs(adaptive.item() - 0.005) <= 1e-9


def test_adaptive_rule_is_exact_on_piecewise_linear_nets_and_linear_in_the_model():
    """On a ReLU net IG is exact when every linear piece is integrated exactly; the
    expected value is a 20000-node midpoint rule in float64 (error ≤ kinks·jump/20000,
    ~1e-5), and A(2F − 3G) = 2A(F) − 3A(G) must hold to the adaptive tolerance."""
    torch.manual_seed(3)
    f = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                            torch.nn.Linear(16, 2)).double()  # fmt: skip
    g = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
    x, base = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    ig = methods.get("integrated_gradients")
    reference = methods.get("integrated_gradients", n_steps=20000, integration="riemann_middle")
    assert torch.allclose(ig.attribute(f, x, 1, base), reference.attribute(f, x, 1, base), atol=1e-4)

    class Combined(torch.nn.Module):
        def forward(self, z):
            return 2 * f(z) - 3 * g(z)

    lhs = ig.attribute(Combined(), x, 1, base)
    rhs = 2 * ig.attribute(f, x, 1, base) - 3 * ig.attribute(g, x, 1, base)
    assert torch.allclose(lhs, rhs, atol=1e-5)
    total = ig.attribute(f, x, 1, base).sum(1)
    with torch.no_grad():
        delta = f(x)[:, 1] - f(base)[:, 1]
    assert torch.allclose(total, delta, atol=1e-5)


def test_adaptive_rule_agrees_with_gauss_legendre_on_smooth_nets():
    """On a tanh net Gauss–Legendre with 50 nodes is accurate to ~1e-12 (analytic
    integrand), so the adaptive trapezoids must agree with it to their tolerance."""
    model = smooth_net(5)
    torch.manual_seed(8)
    x, base = torch.randn(4, 5), torch.randn(4, 5)
    gl = methods.get("integrated_gradients", integration="gausslegendre").attribute(model, x, 1, base)
    adaptive = methods.get("integrated_gradients").attribute(model, x, 1, base)
    assert torch.allclose(gl, adaptive, atol=1e-5)
