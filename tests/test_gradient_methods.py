"""Saliency, gradient, Gradient×Input, SmoothGrad, and the random control."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench import methods

pytestmark = pytest.mark.usefixtures("float64")


def quadratic():
    """F(x) = Σ cᵢxᵢ² + x₀x₁, gradient 2cᵢxᵢ (+x₁, +x₀) by hand."""

    class Q(nn.Module):
        c = torch.tensor([1.0, -2.0, 0.5])

        def forward(self, x):
            return ((self.c * x**2).sum(1) + x[:, 0] * x[:, 1]).unsqueeze(1)

    return Q()


def test_gradient_family_by_hand():
    """∂F/∂x = (2x₀ + x₁, −4x₁ + x₀, x₂) for the quadratic above (by hand)."""
    x = torch.tensor([[1.0, 2.0, -3.0], [0.5, -1.0, 2.0]])
    grad = torch.stack([2 * x[:, 0] + x[:, 1], -4 * x[:, 1] + x[:, 0], x[:, 2]], 1)
    model = quadratic()
    torch.testing.assert_close(methods.get("gradient").attribute(model, x, 0, None), grad)
    torch.testing.assert_close(methods.get("saliency").attribute(model, x, 0, None), grad.abs())
    torch.testing.assert_close(methods.get("input_x_gradient").attribute(model, x, 0, None), x * grad)


def test_smoothgrad_of_quadratic_is_gradient_in_expectation():
    """For a quadratic F the gradient is affine, so E[∇F(x + ε)] = ∇F(x) exactly; the
    sample mean over S draws is within 5σ/√S, σ = |∂∇F/∂x|·noise std (by hand: the
    Hessian rows (2, 1, 0), (1, −4, 0), (0, 0, 1))."""
    x = torch.tensor([[1.0, 2.0, -3.0]])
    s, level = 4000, 0.1
    noise_std = level * float(x.max() - x.min())
    est = methods.get("smoothgrad", n_samples=s, noise_level=level).attribute(quadratic(), x, 0, None)
    grad = methods.get("gradient").attribute(quadratic(), x, 0, None)
    hess_row_norms = torch.tensor([5.0**0.5, 17.0**0.5, 1.0])
    assert ((est - grad).abs() <= 5 * hess_row_norms * noise_std / s**0.5).all()
    zero = methods.get("smoothgrad", n_samples=3, noise_level=0.0).attribute(quadratic(), x, 0, None)
    torch.testing.assert_close(zero, grad)


def test_random_control_is_seeded():
    """Same seed, same noise; another seed, other noise; independent of the model."""
    x = torch.randn(4, 5)
    a = methods.get("random", seed=3).attribute(None, x, 0, None)
    b = methods.get("random", seed=3).attribute(nn.Linear(5, 2), x, 1, None)
    c = methods.get("random", seed=4).attribute(None, x, 0, None)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape
