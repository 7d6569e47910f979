"""Analytic subjects: every ground-truth claim is proved here, not trusted.

Expectations come from scipy's adaptive quadrature (a second implementation of path
integrals), central finite differences, random monotone paths, and random inputs.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.integrate import quad_vec

import attrbench.subjects as subjects
from attrbench.errors import InputShapeError, UnknownSubjectError
from attrbench.subjects import Subject

ANALYTIC = [
    "analytic/linear", "analytic/linear_nobias", "analytic/product", "analytic/product_sq",
    "analytic/max_abs_diff", "analytic/relu_product", "analytic/smooth", "analytic/monotone",
    "analytic/symmetric", "analytic/dummy", "analytic/equivalent",
]  # fmt: skip


def f_of(subject: Subject, x: torch.Tensor, target: int = 0) -> torch.Tensor:
    with torch.no_grad():
        return subject.model(x)[:, target]


def path_integral(model, target, start, end) -> np.ndarray:
    """(end − start) ⊙ ∫₀¹ ∇F(start + t(end − start)) dt by scipy's adaptive quadrature."""
    start, end = torch.as_tensor(start, dtype=torch.float64), torch.as_tensor(end, dtype=torch.float64)
    model = copy.deepcopy(model).double()  # float32 noise would stall adaptive quadrature

    def grad(t):
        p = (start + t * (end - start)).unsqueeze(0).requires_grad_(True)
        model(p)[0, target].backward()
        return p.grad[0].numpy()

    integral, _ = quad_vec(grad, 0.0, 1.0, epsabs=1e-9, epsrel=1e-9, points=[0.5])
    return (end - start).numpy() * integral


def test_standard_analytic_subjects_are_registered_and_valid():
    """Every name the suites rely on exists; models are eval/frozen and return (N, C)."""
    assert set(ANALYTIC) <= set(subjects.available("analytic/*"))
    for name in ANALYTIC:
        s = subjects.get(name)
        assert s.name == name and not s.model.training
        assert not any(p.requires_grad for p in s.model.parameters())
        out = f_of(s, s.inputs)
        assert out.shape == (len(s.inputs),) and torch.isfinite(out).all()
        assert s.tags == subjects.default_registry.entries[name].tags


def test_get_caches_and_unknown_name_suggests():
    """get() builds once; a misspelt name suggests the close one."""
    assert subjects.get("analytic/linear") is subjects.get("analytic/linear")
    with pytest.raises(UnknownSubjectError, match="Did you mean 'analytic/linear'"):
        subjects.get("analytic/linaer")


def test_subject_validation_messages():
    """Wrong target shape, inputs outside the domain, and non-(N, C) outputs are refused."""
    model = torch.nn.Linear(2, 3)
    x = torch.rand(4, 2)
    with pytest.raises(InputShapeError, match="targets have shape"):
        Subject("bad", model, x, torch.zeros(3, dtype=torch.long), None, (0.0, 1.0))
    with pytest.raises(InputShapeError, match="leave the domain"):
        Subject("bad", model, x + 2, torch.zeros(4, dtype=torch.long), None, (0.0, 1.0))
    with pytest.raises(InputShapeError, match=r"\(N, C\)"):
        Subject("bad", torch.nn.Flatten(0), x, torch.zeros(4, dtype=torch.long), None, (0.0, 1.0))


def test_linear_truth_is_the_model():
    """truth holds the affine map itself: F(x) = W x + b on the inputs."""
    for name, has_bias in (("analytic/linear", True), ("analytic/linear_nobias", False)):
        s = subjects.get(name)
        w, b = s.truth["weight"], s.truth["bias"]
        expected = s.inputs @ w.T + (b if has_bias else 0)
        torch.testing.assert_close(s.model(s.inputs), expected)


@pytest.mark.parametrize("name", ["analytic/product", "analytic/product_sq", "analytic/max_abs_diff"])
def test_closed_form_integrated_gradients(name):
    """truth["integrated_gradients"] (derived by hand) equals scipy's quadrature of ∇F
    along the straight line from the zero baseline, on a few rows."""
    s = subjects.get(name)
    for row in range(6):
        expected = path_integral(s.model, 0, torch.zeros(2), s.inputs[row])
        np.testing.assert_allclose(s.truth["integrated_gradients"][row].numpy(), expected, atol=1e-5)


def test_app_c_and_e1_rows():
    """002 App. C: x = (1, 0) is row 0 of analytic/product, and F is non-decreasing from 0
    to it. App. E.1: the five-segment path (0,0)→(1,0)→(1,1)→(0,1)→(0,0)→(1,1) for
    F = x₁x₂² adds up to the recorded (−2/3, 5/3) (each segment by scipy quadrature)."""
    product = subjects.get("analytic/product")
    assert product.inputs[product.truth["app_c_row"]].tolist() == [1.0, 0.0]
    sq = subjects.get("analytic/product_sq")
    corners = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (1, 1)]
    total = sum(
        path_integral(sq.model, 0, torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
        for a, b in zip(corners, corners[1:])
    )
    np.testing.assert_allclose(total, sq.truth["app_e1_path_attribution"].numpy(), atol=1e-6)


def test_app_j_pairs_are_epsilon_apart_with_ig_jump_two():
    """002 App. J: each recorded pair is ‖x − x̄‖ = ε apart, and IG₁ differs by 2 across it
    (scipy quadrature of the max unit's gradient)."""
    s = subjects.get("analytic/max_abs_diff")
    for (i, j), eps in zip(s.truth["lipschitz_pairs"], s.truth["app_j_epsilons"]):
        # inputs are float32: 1 ± ε/2 is rounded to within one ulp of 1 (2⁻²³ ≈ 1.2e-7) each
        assert float((s.inputs[i] - s.inputs[j]).norm()) == pytest.approx(eps, abs=2.5e-7)
        ig_i = path_integral(s.model, 0, torch.zeros(2), s.inputs[i])
        ig_j = path_integral(s.model, 0, torch.zeros(2), s.inputs[j])
        assert abs(ig_i[0] - ig_j[0]) == pytest.approx(2.0, abs=1e-6)


def test_relu_product_row_is_section_3_1_point():
    """003 §3.1: row 0 is (3, 2) and h there is ReLU(2)·ReLU(2) = 4."""
    s = subjects.get("analytic/relu_product")
    assert s.inputs[0].tolist() == [3.0, 2.0] and float(f_of(s, s.inputs[:1])) == 4.0


def _grad(model, x, c):
    x = x.clone().requires_grad_(True)
    model(x)[:, c].sum().backward()
    return x.grad


def test_smooth_constants_bound_finite_difference_estimates():
    """002 Theorem 4's M, L and M + |b−a|/2·L bound what we can measure: central finite
    differences of |∂F/∂x_i|, ratios ‖∇F(y) − ∇F(z)‖/‖y − z‖, and IG's own difference
    ratios |IG_i(x) − IG_i(x̄)|/‖x − x̄‖ on random pairs in the box."""
    s = subjects.get("analytic/smooth")
    model = copy.deepcopy(s.model).double()
    lo, hi = s.truth["box"]
    gen = torch.Generator().manual_seed(0)
    y = lo + (hi - lo) * torch.rand(2000, 4, generator=gen, dtype=torch.float64)
    h = 1e-5
    for c in range(2):
        directions = torch.eye(4, dtype=torch.float64)
        fd = torch.stack([(model(y + h * e)[:, c] - model(y - h * e)[:, c]) / (2 * h) for e in directions], 1)
        assert (fd.abs().max(0).values <= s.truth["M"][c].double() + 1e-6).all()
        z = (y + 0.05 * torch.randn(y.shape, generator=gen, dtype=torch.float64)).clamp(lo, hi)
        ratio = (_grad(model, y, c) - _grad(model, z, c)).norm(dim=1) / (y - z).norm(dim=1)
        assert float(ratio.max()) <= float(s.truth["L"][c]) + 1e-9
    from attrbench import methods

    ig = methods.get("integrated_gradients", n_steps=64)
    x, xb = y[:200], z[:200]
    diff = (ig.attribute(model, x, 0, None) - ig.attribute(model, xb, 0, None)).abs()
    ratios = diff / (x - xb).norm(dim=1, keepdim=True)
    assert (ratios.max(0).values <= s.truth["lipschitz_bound"][0].double()).all()


def test_monotone_subject_is_non_decreasing_along_random_monotone_paths():
    """002 Definition 6: along random coordinate-wise monotone paths from x′ to x (features
    moved one at a time, in random order and random partial steps), F never decreases
    (beyond float32 rounding, 1e-6)."""
    s = subjects.get("analytic/monotone")
    assert (s.baseline <= s.inputs).all()
    gen = torch.Generator().manual_seed(1)
    x, xb = s.inputs, s.baseline
    for c in range(2):
        for _ in range(5):
            point = xb.clone()
            values = [f_of(s, point, c)]
            for i in torch.randperm(x.shape[1] * 3, generator=gen) % x.shape[1]:
                point[:, i] = torch.minimum(point[:, i] + (x[:, i] - xb[:, i]) * torch.rand(1, generator=gen), x[:, i])
                values.append(f_of(s, point, c))
            point.copy_(x)
            values.append(f_of(s, point, c))
            steps = torch.stack(values).diff(dim=0)
            assert float(steps.min()) >= -1e-6


def test_symmetric_subject_is_symmetric():
    """Swapping each recorded pair leaves F unchanged on random inputs (to 1e-6), and the
    subject's inputs have equal values in each pair."""
    s = subjects.get("analytic/symmetric")
    y = torch.rand(500, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1
    for i, j in s.truth["pairs"]:
        swapped = y.clone()
        swapped[:, [i, j]] = y[:, [j, i]]
        torch.testing.assert_close(s.model(swapped), s.model(y), atol=1e-6, rtol=0)
        assert torch.equal(s.inputs[:, i], s.inputs[:, j])


def test_dummy_subject_ignores_dummy_features():
    """Random changes to the dummy features never change F; x and x′ differ there."""
    s = subjects.get("analytic/dummy")
    gen = torch.Generator().manual_seed(3)
    changed = s.inputs.clone()
    for i in s.truth["dummy"]:
        changed[:, i] = torch.rand(len(changed), generator=gen) * 2 - 1
        assert (s.inputs[:, i] != s.baseline[:, i]).all()
    assert torch.equal(s.model(changed), s.model(s.inputs))


def test_equivalent_networks_agree_and_differ_in_implementation():
    """The two networks agree on random inputs to 1e-6 but have different hidden sizes."""
    s = subjects.get("analytic/equivalent")
    other = s.truth["equivalent"]
    y = torch.rand(1000, 5, generator=torch.Generator().manual_seed(4)) * 2 - 1
    torch.testing.assert_close(other(y), s.model(y), atol=1e-6, rtol=1e-6)
    assert other[0].out_features != s.model[0].out_features
    assert not other.training and not any(p.requires_grad for p in other.parameters())
