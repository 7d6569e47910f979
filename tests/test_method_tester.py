"""The reusable method tester (attrbench/testing/method_tester.py) fails broken methods and
passes good ones.

The broken methods are the zoo's (tests/zoo/attrbench_zoo.py, imported with a no-op
``register_method`` so nothing is registered) and a few the zoo lacks: batch-dependent,
always one dtype, seeded but drawing from the global RNG, a derivative that is not there.
Each must fail with a MethodContractError naming the method, the property and the fault.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import attrbench
from attrbench.errors import PluginError
from attrbench.testing import MethodContractError, MethodTester, check_method_contract

ZOO = Path(__file__).resolve().parent / "zoo"
sys.path.insert(0, str(ZOO))
from zoo_expectations import CAUSES  # noqa: E402

#: Zoo methods the tester runs (the sleeper and the memory hog need limits the tester's
#: defaults do not set; the guard's own tests cover them).
ZOO_RUN = sorted(set(CAUSES) - {"zoo_sleeps", "zoo_memory_hog"})


class Fn:
    """A method object around a plain function."""

    def __init__(self, fn, name: str, differentiable: bool = False):
        self.fn, self.name, self.differentiable = fn, name, differentiable

    def attribute(self, model, x, target, baseline):
        return self.fn(model, x, target, baseline)


@pytest.fixture(scope="module")
def zoo(request):
    """The zoo's functions by name, imported without registering them."""
    patch = pytest.MonkeyPatch()
    patch.setattr(attrbench, "register_method", lambda name, **meta: lambda fn: fn)
    try:
        module = importlib.import_module("attrbench_zoo")
    finally:
        patch.undo()
        sys.modules.pop("attrbench_zoo", None)
    return {name: getattr(module, name) for name in CAUSES}


def fails(method, prop: str, phrase: str, **options) -> str:
    """Run the whole contract on ``method``; it must fail ``prop`` with ``phrase``."""
    with pytest.raises(MethodContractError) as info:
        check_method_contract(method, **options)
    text = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert f"method {method.name!r}" in text
    assert f"contract property {prop!r}" in text, text
    assert phrase in text, text
    return text


@pytest.mark.parametrize("name", ZOO_RUN)
def test_each_zoo_method_fails_with_its_cause(zoo, name):
    """Every zoo fault the guard names in the suites, the tester names too: in the first
    call for all but the nondeterministic one, which fails the determinism property."""
    prop = "determinism" if name == "zoo_nondeterministic" else "call"
    fails(Fn(zoo[name], name), prop, CAUSES[name])


def gradient_x_input(model, x, target, baseline):
    """x ⊙ ∂F/∂x, differentiable in x (create_graph when x needs a gradient)."""
    v = x if x.requires_grad else x.detach().requires_grad_(True)
    out = model(v).gather(1, torch.as_tensor(target).long().expand(len(x)).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(out, v, create_graph=x.requires_grad)
    return x * grad


def test_batch_dependent_method_fails():
    """Attributions normalised by the batch's largest input depend on the other rows."""
    broken = Fn(lambda m, x, t, b: gradient_x_input(m, x, t, b) / x.abs().max(), "batch_norm")
    fails(broken, "batch_independence", "row 0 attributed alone differs from row 0 of the batch of 5")


def test_method_of_one_dtype_fails():
    """Always float32 fails the float64 default case; always float64 fails on float32 inputs."""
    fails(Fn(lambda m, x, t, b: torch.zeros(x.shape, dtype=torch.float32), "f32"), "call",
          "returned dtype torch.float32 for input of dtype torch.float64")  # fmt: skip
    fails(Fn(lambda m, x, t, b: torch.zeros(x.shape, dtype=torch.float64), "f64"), "dtypes",
          "returned dtype torch.float64 for input of dtype torch.float32")  # fmt: skip


def test_seeded_method_drawing_from_the_global_rng_fails_the_seed_property():
    """Deterministic under one global seed (the guard seeds it), but not given its own seed."""
    noisy = Fn(lambda m, x, t, b: torch.rand(x.shape, dtype=x.dtype), "noisy")
    fails(noisy, "seed", "it draws from a global RNG", seeded=True, batch_independent=False)
    check_method_contract(noisy, batch_independent=False)  # unseeded: allowed, as in the suites


def test_differentiable_method_without_a_graph_fails_the_derivative_property():
    """Declaring differentiable=True but detaching the gradient is caught by gradcheck."""
    detached = Fn(lambda m, x, t, b: gradient_x_input(m, x.detach(), t, b), "detached", differentiable=True)
    fails(detached, "derivative", "declares differentiable=True")
    check_method_contract(Fn(gradient_x_input, "gxi", differentiable=True))


def test_exact_determinism_is_stricter_than_the_default():
    """``rtol=0`` demands identical tensors; the default allows the guard's 1e-6 of the largest."""
    calls = iter(range(100))
    wobble = Fn(lambda m, x, t, b: torch.ones_like(x) * (1 + 1e-9 * next(calls)), "wobble")
    MethodTester(wobble, batch_independent=False).check("determinism")
    with pytest.raises(MethodContractError, match="is not deterministic"):
        MethodTester(wobble, rtol=0, batch_independent=False).check("determinism")


def test_own_case_and_state_left_alone():
    """On the caller's model and inputs (targets from its predictions): a good method passes
    every property, and the model, its inputs and the global RNGs are as they were."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).eval().requires_grad_(False)
    x = torch.randn(6, 4)
    params, x0 = [p.clone() for p in model.parameters()], x.clone()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    tester = MethodTester(Fn(gradient_x_input, "gxi", differentiable=True), model=model, x=x)
    assert tester.properties == ("call", "dtypes", "determinism", "batch_independence", "derivative")
    tester.check_all()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params, strict=True))
    assert torch.equal(x, x0) and x.dtype == torch.float32 and not model.training
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()


def test_a_vandal_is_caught_and_the_callers_model_restored():
    """A method that changes the model fails, and the caller's model is put back."""
    model = nn.Sequential(nn.Linear(3, 2)).eval().requires_grad_(False)
    weight = model[0].weight.clone()

    def vandal(m, x, t, b):
        with torch.no_grad():
            m[0].weight.mul_(-1)
        return torch.zeros_like(x)

    fails(Fn(vandal, "vandal"), "call", "changed the model", model=model, x=torch.randn(4, 3))
    assert torch.equal(model[0].weight, weight)


def test_mistakes_are_typed_errors():
    good = Fn(gradient_x_input, "gxi")
    with pytest.raises(PluginError, match="pass both model and x"):
        MethodTester(good, model=nn.Linear(2, 2))
    with pytest.raises(PluginError, match="unknown contract property 'shape'"):
        MethodTester(good).check("shape")
    with pytest.raises(PluginError, match="is not a method"):
        MethodTester(lambda m, x, t, b: x)
    with pytest.raises(PluginError, match="configure it when you build it"):
        MethodTester(good, params={"n_steps": 4})


def test_registered_name_is_configured_with_params():
    """A name is built from the registry with ``params``; a ``seed`` parameter makes the
    method seeded, so the seed property applies and batch independence is off by default."""
    tester = MethodTester("smoothgrad", params={"n_samples": 2})
    assert tester.method.params == {"n_samples": 2}
    assert tester.properties == ("call", "dtypes", "determinism", "seed", "derivative")
    assert MethodTester("shapley_sampling", batch_independent=True).properties[-1] == "batch_independence"
