"""Properties every built-in method must have, checked across the whole registry with the
contract test plugin authors run on theirs (attrbench.testing.MethodTester): right shape,
dtype and device, unchanged input, target, baseline and model, determinism (exact here),
batch independence, the same attributions whatever the global RNG for seeded methods, and
(for ``differentiable`` methods) a correct derivative of the attribution map; plus chunking
that does not change results."""

from __future__ import annotations

import pytest
import torch

from attrbench import methods
from attrbench.testing import MethodTester, default_case

#: Small-sample settings so the whole registry runs in seconds.
FAST = {
    "smoothgrad": {"n_samples": 4},
    "gradient_shap": {"n_samples": 4},
    "shapley_sampling": {"n_samples": 3},
    "integrated_gradients": {"n_steps": 8},
    "expected_gradients": {"n_steps": 8, "integration": "gausslegendre"},  # IG covers "adaptive"
    "nonmonotone_path": {"n_steps": 8, "integration": "gausslegendre"},
    "shapley_interaction_index": {"n_samples": 3},
    "banzhaf_interaction_index": {"n_samples": 3},
    "shapley_taylor_index": {"n_samples": 3},
    "integrated_hessians": {"n_steps": 2},
}

#: Methods whose draws are made for the whole batch (noise of the batch's shape), so a row's
#: attributions depend on the batch by design. Every other built-in, seeded or not, is
#: batch independent (shapley_sampling and expected_gradients share their draws by rows).
BATCH_DEPENDENT = {"smoothgrad", "gradient_shap", "random"}

BUILTINS = methods.available()


def contract(name: str) -> MethodTester:
    """The contract at full strength: repeated calls must agree exactly (``rtol=0``)."""
    return MethodTester(name, params=FAST.get(name, {}), rtol=0, batch_independent=name not in BATCH_DEPENDENT)


@pytest.mark.parametrize(
    "name, prop", [pytest.param(n, p, id=f"{n}-{p}") for n in BUILTINS for p in contract(n).properties]
)
def test_contract(name, prop):
    """Each property of the contract that applies to the method (attrbench/testing/method_tester.py)."""
    contract(name).check(prop)


def test_every_builtin_gets_the_core_properties():
    """No built-in escapes the shape, determinism and batch checks by what it declares."""
    for name in BUILTINS:
        props = contract(name).properties
        assert {"call", "dtypes", "determinism"} <= set(props), name
        assert ("batch_independence" in props) == (name not in BATCH_DEPENDENT), name
        assert ("derivative" in props) == methods.default_registry.entries[name].differentiable, name
        assert ("seed" in props) == ("seed" in methods.default_registry.entries[name].parameters()), name


CHUNKED = [n for n in BUILTINS if "internal_batch_size" in methods.default_registry.entries[n].parameters()]


@pytest.mark.parametrize("name", CHUNKED)
def test_chunking_does_not_change_results(name):
    """internal_batch_size only splits the work: tiny chunks give the same numbers."""
    case = default_case(torch.float64)
    args = (case.model, case.x, case.target, case.baseline)
    whole = methods.get(name, **FAST.get(name, {}), internal_batch_size=None).attribute(*args)
    tiny = methods.get(name, **FAST.get(name, {}), internal_batch_size=3).attribute(*args)
    torch.testing.assert_close(tiny, whole, rtol=1e-10, atol=1e-12)
