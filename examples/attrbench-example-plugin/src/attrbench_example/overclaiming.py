"""A method that claims more than it has — to show the gate failing.

Gradient × input is *not* complete: Σᵢ xᵢ·∂F/∂xᵢ = F(x) − F(0) only for linear F without
bias. This module is not an entry point; benchmark it through a spec:

    attrbench run --method attrbench_example.overclaiming:overclaiming_gxi --suite axioms --scale quick

and the completeness tests fail with the counterexample.
"""

from __future__ import annotations

import attrbench
from attrbench.functional import as_targets, gradient


@attrbench.register_method(
    "example_overclaiming_gxi",
    claims=("completeness",),  # dishonest: violated on every nonlinear subject
    differentiable=False,
    kind="gradient",
    reference="attrbench example plugin: a deliberately false completeness claim",
)
def overclaiming_gxi(model, x, target, baseline):
    return x * gradient(model, x, as_targets(target, len(x), x.device), create_graph=False)
