"""Properties every built-in method must have, checked across the whole registry:
right shape, unchanged input, chunking that does not change results, determinism, and
(for ``differentiable`` methods) a correct derivative of the attribution map."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench import methods

pytestmark = pytest.mark.usefixtures("float64")

#: Small-sample settings so the whole registry runs in seconds.
FAST = {
    "smoothgrad": {"n_samples": 4},
    "gradient_shap": {"n_samples": 4},
    "shapley_sampling": {"n_samples": 3},
    "integrated_gradients": {"n_steps": 8},
    "expected_gradients": {"n_steps": 8, "integration": "gausslegendre"},  # IG covers "adaptive"
    "nonmonotone_path": {"n_steps": 8, "integration": "gausslegendre"},
}


def image_model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Softplus(), nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    return net.eval().requires_grad_(False)


def inputs():
    torch.manual_seed(1)
    return torch.randn(5, 1, 6, 6), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 1, 6, 6) * 0.1


BUILTINS = methods.available()


@pytest.mark.parametrize("name", BUILTINS)
def test_shape_no_mutation_and_determinism(name):
    """Output shaped like x, finite; x and baseline unchanged; two calls identical."""
    model = image_model()
    x, t, xb = inputs()
    x0, xb0 = x.clone(), xb.clone()
    method = methods.get(name, **FAST.get(name, {}))
    a1 = method.attribute(model, x, t, xb)
    a2 = method.attribute(model, x, t, xb)
    assert a1.shape == x.shape and torch.isfinite(a1).all()
    assert torch.equal(x, x0) and torch.equal(xb, xb0)
    assert torch.equal(a1, a2)


@pytest.mark.parametrize("name", [n for n in BUILTINS if "internal_batch_size" in methods.default_registry.entries[n].parameters()])
def test_chunking_does_not_change_results(name):
    """internal_batch_size only splits the work: tiny chunks give the same numbers."""
    model = image_model()
    x, t, xb = inputs()
    whole = methods.get(name, **FAST.get(name, {}), internal_batch_size=None).attribute(model, x, t, xb)
    tiny = methods.get(name, **FAST.get(name, {}), internal_batch_size=3).attribute(model, x, t, xb)
    torch.testing.assert_close(tiny, whole, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in BUILTINS if methods.default_registry.entries[n].differentiable])
def test_differentiable_methods_have_correct_input_derivatives(name):
    """For methods that declare ``differentiable``, autograd's Jacobian of x ↦ A(x) agrees
    with central finite differences (torch.autograd.gradcheck) on a smooth model."""
    model = image_model()
    x, t, xb = inputs()
    x = x[:2].clone().requires_grad_(True)
    method = methods.get(name, **FAST.get(name, {}))
    assert torch.autograd.gradcheck(lambda v: method.attribute(model, v, t[:2], xb[:2]), (x,), atol=1e-6)
