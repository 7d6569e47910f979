"""The example's methods keep attrbench's method contract: shape, dtype and device of the
attributions, no change to the inputs or the model, determinism, batch independence and,
for the differentiable one, a correct derivative (attrbench.testing.MethodTester)."""

import pytest
from attrbench_example.methods import example_gradient_x_input, example_integrated_gradients

from attrbench.testing import MethodTester

TESTERS = [
    MethodTester(example_gradient_x_input),
    MethodTester(example_integrated_gradients, params={"n_steps": 16}),  # fewer steps: faster, same contract
]


@pytest.mark.parametrize(
    "tester, prop", [pytest.param(t, p, id=f"{t.method.name}-{p}") for t in TESTERS for p in t.properties]
)
def test_contract(tester, prop):
    tester.check(prop)
