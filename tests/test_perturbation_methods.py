"""Occlusion-1, windowed occlusion and Shapley sampling.

Expectations: 003 Prop 4's proof (Occlusion-1 on a linear model is aᵢxᵢ), exact Shapley
values by enumerating all subsets, and window averages enumerated with explicit loops.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from attrbench import methods

pytestmark = pytest.mark.usefixtures("float64")


def linear_model(d: int, c: int = 3, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, c).eval().requires_grad_(False)


def test_occlusion_on_linear_model_is_weight_times_input():
    """003 App. A.3: R_i = S_c(x) − S_c(x_[xᵢ=0]) = aᵢxᵢ for a linear model (bias cancels)."""
    model = linear_model(7)
    x, t = torch.randn(5, 7), torch.tensor([0, 1, 2, 0, 1])
    attr = methods.get("occlusion").attribute(model, x, t, None)
    torch.testing.assert_close(attr, model.weight[t] * x)


def test_occlusion_uses_baseline_and_chunks():
    """With a baseline x̄, Rᵢ = aᵢ(xᵢ − x̄ᵢ) on a linear model; tiny chunks change nothing."""
    model = linear_model(6, seed=1)
    x, xb = torch.randn(4, 6), torch.randn(4, 6)
    attr = methods.get("occlusion", internal_batch_size=5).attribute(model, x, 2, xb)
    torch.testing.assert_close(attr, model.weight[2] * (x - xb))


class Interaction(nn.Module):
    """A nonlinear 4-feature game with interactions of order 2 and 3."""

    def forward(self, x):
        f = torch.tanh(x[:, 0] * x[:, 1]) + x[:, 1] * x[:, 2] * x[:, 3] + torch.sin(x[:, 3]) + 0.5 * x[:, 0]
        return torch.stack([f, -f], 1)


def _exact_shapley(model, x, xb):
    """φᵢ = Σ_{S⊆N∖i} |S|!(n−|S|−1)!/n! · (v(S∪i) − v(S)), v(S) = F(x_S, x̄_rest), by enumeration."""
    n = x.shape[1]

    def v(subset):
        h = xb.clone()
        h[:, list(subset)] = x[:, list(subset)]
        return model(h)[:, 0]

    phi = torch.zeros_like(x)
    for i in range(n):
        rest = [j for j in range(n) if j != i]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(rest, size):
                phi[:, i] += w * (v(s + (i,)) - v(s))
    return phi


def _permutation_spread(model, x, xb):
    """Standard deviation over all n! orders of each feature's marginal contribution."""
    n = x.shape[1]
    contributions = []
    for order in itertools.permutations(range(n)):
        h, prev, c = xb.clone(), model(xb)[:, 0], torch.zeros_like(x)
        for i in order:
            h[:, i] = x[:, i]
            cur = model(h)[:, 0]
            c[:, i] = cur - prev
            prev = cur
        contributions.append(c)
    return torch.stack(contributions).std(0, unbiased=False)


def test_shapley_sampling_converges_to_exact_values():
    """With S sampled orders the estimator's error is below 5σ/√S, σ the spread of a
    feature's marginal contribution over all 24 orders (both by enumeration); each sampled
    order telescopes, so Σᵢφᵢ = F(x) − F(x̄) exactly."""
    model = Interaction()
    torch.manual_seed(2)
    x, xb = torch.randn(3, 4), torch.randn(3, 4) * 0.2
    exact = _exact_shapley(model, x, xb)
    sigma = _permutation_spread(model, x, xb)
    errors = []
    for s in (20, 2000):
        est = methods.get("shapley_sampling", n_samples=s, seed=0).attribute(model, x, 0, xb)
        assert ((est - exact).abs() <= 5 * sigma / s**0.5 + 1e-12).all(), s
        torch.testing.assert_close(est.sum(1), model(x)[:, 0] - model(xb)[:, 0])
        errors.append(float((est - exact).abs().max()))
    assert errors[1] < errors[0]


def test_occlusion_window_matches_enumerated_window_average():
    """Pixel value = mean over covering k×k windows of F(x) − F(x with the window (all
    channels) at the baseline), enumerated window by window with Python loops."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 6 * 5, 4)).eval()
    model.requires_grad_(False)
    x = torch.rand(2, 2, 6, 5)
    window, stride = 3, 2
    method = methods.get("occlusion_window", window=window, stride=stride, internal_batch_size=7)
    attr = method.attribute(model, x, 1, None)
    total = torch.zeros(2, 6, 5)
    count = torch.zeros(6, 5)
    fx = model(x)[:, 1]
    for r in range(0, 6 - window + 1, stride):
        for c in range(0, 5 - window + 1, stride):
            occluded = x.clone()
            occluded[:, :, r : r + window, c : c + window] = 0
            total[:, r : r + window, c : c + window] += (fx - model(occluded)[:, 1])[:, None, None]
            count[r : r + window, c : c + window] += 1
    expected = (total / count.clamp(min=1)).unsqueeze(1).expand(2, 2, 6, 5)
    torch.testing.assert_close(attr, expected)


def test_occlusion_window_refuses_non_images():
    """A flat input gets a message that says to use occlusion instead."""
    from attrbench.errors import InputShapeError

    with pytest.raises(InputShapeError, match="Use occlusion for other inputs"):
        methods.get("occlusion_window").attribute(linear_model(4), torch.randn(2, 4), 0, None)
