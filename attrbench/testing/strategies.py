"""Hypothesis strategies for testing attribution methods on tiny networks.

Each strategy draws small, fully specified objects that shrink quickly: a network is an
architecture (a few drawn integers and choices) plus a drawn ``seed`` from which a
``torch.Generator`` makes every weight, so the global RNG is never touched and a falsifying
example is reproducible from its printed ``seed``. Models are ``nn.Sequential`` of
``nn.Linear`` layers and one activation, in eval mode with frozen parameters, float64 by
default.

The ``*_cases`` strategies draw one frozen dataclass per axiom of 002 §2.2 / §4 holding
everything a check of that axiom needs (model, inputs ``x`` (N, D), ``baseline`` x'
(N, D), ``targets`` (N,) and the axiom's data: the symmetric pair, the dummy mask, ...).
``F(x) = model(x)[arange(N), targets]`` as everywhere in attrbench. Every case has
``.to_subject()`` to run attrbench's checks on it.

The strategies are defined with the axioms suite's drawn cases (:mod:`attrbench.checks.cases`)
and the networks in :mod:`attrbench.subjects.networks`; this module gathers them for tests.

Example: a method author's own test::

    import torch
    from hypothesis import given, settings
    from attrbench.testing import strategies as abst

    @settings(max_examples=50, deadline=None)
    @given(abst.dummy_cases(activations=abst.st.sampled_from(["relu", "tanh"])))
    def test_my_method_gives_dummies_zero(case):
        attr = my_method(case.model, case.inputs, case.targets, case.baseline)
        assert torch.all(attr[:, case.dummy] == 0)

    @given(abst.monotone_cases())
    def test_my_method_is_ndp(case):            # 002 Definition 6
        attr = my_method(case.model, case.inputs, case.targets, case.baseline)
        assert torch.all(attr >= -1e-9)

Arguments follow hypothesis' conventions: keyword-only, and where hypothesis takes a
strategy (``n_features``, ``depth``, ``width``, ``batch``, ...) a plain value is accepted
too and means ``st.just(value)``. ``domain=(a, b)`` bounds every drawn input and baseline.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attrbench.checks.cases.axiom_cases import (
    AffineMapCase,
    DummyCase,
    EquivalentPair,
    LinearCombinationCase,
    MonotoneCase,
    NetworkCase,
    SingleFeatureChange,
    SymmetricCase,
    describe,
)
from attrbench.checks.cases.draws import baselines, inputs, networks, seeds
from attrbench.checks.cases.strategies import (
    EQUIVALENCES,
    affine_maps,
    dummy_cases,
    equivalent_network_pairs,
    linear_combinations,
    monotone_cases,
    network_cases,
    single_feature_changes,
    symmetric_cases,
)
from attrbench.subjects.networks import ACTIVATIONS, AffineInput, Network, WeightedSum, build_network

__all__ = [
    "ACTIVATIONS",
    "EQUIVALENCES",
    "AffineMapCase",
    "AffineInput",
    "DummyCase",
    "EquivalentPair",
    "LinearCombinationCase",
    "MonotoneCase",
    "Network",
    "NetworkCase",
    "SingleFeatureChange",
    "SymmetricCase",
    "WeightedSum",
    "affine_maps",
    "baselines",
    "build_network",
    "describe",
    "dummy_cases",
    "equivalent_network_pairs",
    "inputs",
    "linear_combinations",
    "monotone_cases",
    "network_cases",
    "networks",
    "seeds",
    "single_feature_changes",
    "st",
    "symmetric_cases",
]
