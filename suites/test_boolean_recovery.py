"""Boolean recovery suite (001 §2.1, §3, §4.1): exact ReLU circuits of Boolean functions,
whose influences and influence decomposition are known by enumeration. The maths is in
``attrbench.checks.boolean`` and, for the digits experiments, ``attrbench.experiments.influence``."""

import numpy as np
import pytest

from attrbench import subjects
from attrbench.checks import boolean

pytestmark = pytest.mark.boolean


@pytest.mark.attrbench_subjects(*boolean.SUITE.subjects["dummy_recovery"])
def test_dummy_recovery(bench):
    bench.run(boolean.dummy_recovery)


@pytest.mark.attrbench_subjects(*boolean.SUITE.subjects["influence_recovery"])
def test_influence_recovery(bench):
    bench.run(boolean.influence_recovery)


@pytest.mark.attrbench_subjects(*boolean.SUITE.subjects["order_identifiability"])
def test_order_identifiability(bench):
    bench.run(boolean.order_identifiability)


@pytest.mark.attrbench_subjects(*boolean.SUITE.subjects["decomposition_recovery"])
def test_decomposition_recovery(bench):
    if bench.method.subset_influence is None:
        pytest.skip(f"{bench.method_name} attributes to single features only (no subset_influence)")
    bench.run(boolean.decomposition_recovery)


@pytest.fixture
def network_only(request, attrbench_subjects):
    """The tests below measure circuits and networks, not methods: they are skipped when
    --method names methods, and a subject they use must match --subject."""
    if request.config.getoption("method"):
        pytest.skip("measures networks, not methods: skipped when --method is given")

    def require(name: str) -> None:
        if name not in attrbench_subjects:
            pytest.skip(f"{name} is not selected by --subject")

    return require


@pytest.mark.parametrize("name", subjects.default_registry.available(("boolean/*",)))
def test_bitflip_decomposition_through_the_network_is_exact(name, network_only):
    """§4.1's adversary flips bits inside each subset; run through the circuit's network it
    must give the exact decomposition of the truth table (the circuits compute f exactly)."""
    network_only(name)
    circuit = subjects.get(name)
    exact = boolean.exact_analysis(circuit.truth["truth_table"])
    found = boolean.decomposition_from_network(circuit.model, circuit.truth["n"])
    np.testing.assert_array_equal(found["decomposition"], exact["decomposition"])


def test_window_attacks_on_digits(attrbench_scale, attrbench_generator, network_only):
    """001 §4.4 / supplement §3 on the digits CNN: the fraction of k×k windows whose attack
    changes the class, per attack, norm, ε and k (the full grid at standard and paper, one
    small case at quick). Larger windows and radii must not do worse on average."""
    from attrbench.experiments import influence as ie

    network_only("digits/cnn_relu")
    cnn = subjects.get("digits/cnn_relu")
    x = cnn.inputs[: attrbench_scale.influence_samples]
    if attrbench_scale.influence_full_grid:
        rates = ie.window_attack_rates(cnn.model, x, domain=cnn.domain, generator=attrbench_generator)
    else:
        rates = ie.window_attack_rates(cnn.model, x, window_sizes=(8, 2), attacks=("fgsm",), norms=("l2",),
                                       epsilons={"l2": (0.5, 2.0)}, domain=cnn.domain)  # fmt: skip
    assert rates["misclassified"].between(0, 1).all()
    for trend, (smallest, largest) in ie.rate_ends(rates).items():
        assert largest >= smallest, trend


def test_neuron_importance_on_digits_mlp(attrbench_scale, attrbench_generator, network_only):
    """001 §4.2 on the digits 3×256 ReLU MLP: Table 1 (ablations and Adv-Exc / Adv-Inc per
    layer), Figure 2 (accuracy against the subset fraction of the important, unimportant
    and all neurons) and Table 2 (the per-layer decomposition). Identities: the clean row
    equals the whole network's accuracy on the same samples (the layer split changes
    nothing), and attacking a subset holding the whole important (unimportant) set gives
    Table 1's Adv-Inc (Adv-Exc) accuracy at the same ε."""
    from attrbench.experiments import influence as ie

    network_only("digits/mlp3x256_relu")
    mlp = subjects.get("digits/mlp3x256_relu")
    m = attrbench_scale.influence_samples or len(mlp.inputs)
    x, y = mlp.inputs[:m], mlp.targets[:m]
    full = attrbench_scale.influence_full_grid
    table1, table2, curves = ie.neuron_importance(
        mlp.model, x, y, epsilons=(0.1, 0.5, 1.0) if full else (0.5,),
        subset_sizes=(20, 60, 100, 140, 180) if full else (20,), subsets=attrbench_scale.influence_subsets,
        generator=attrbench_generator,
    )  # fmt: skip
    assert (table1.loc["clean"] == ie.accuracy(mlp.model, x, y)).all()
    assert list(table1.columns) == ["Layer 1", "Layer 2", "Layer 3"] and len(table2) == 3
    assert ((table1 >= 0) & (table1 <= 100)).all().all()
    eps = 1.0 if full else 0.5
    whole = ie.whole_set_accuracy(curves)
    for layer in table1.columns:
        for name in ("Adv-Inc", "Adv-Exc"):
            assert whole[layer, name] == pytest.approx(table1.loc[f"{name} (ε = {eps:g})", layer])
