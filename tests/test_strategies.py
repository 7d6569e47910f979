"""The hypothesis strategies draw what they promise: each case's property is proved here."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import nn

from attrbench.subjects import Subject
from attrbench.testing import strategies as abst

FAST = settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def F(model, x, targets):
    with torch.no_grad():
        return model(x).gather(1, targets.view(-1, 1)).squeeze(1)


def assert_frozen(model):
    assert not model.training
    assert all(not m.training for m in model.modules())
    assert all(not p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------- networks


@FAST
@given(
    abst.networks(n_features=st.integers(1, 5), depth=st.integers(0, 3), n_outputs=st.integers(1, 4)),
    abst.inputs(st.just(5), batch=st.integers(1, 3)),
)
def test_networks_have_requested_shapes_and_are_frozen(net, x):
    assert isinstance(net.model, nn.Sequential)
    assert_frozen(net.model)
    assert net.depth == len(net.widths) and len(net.layers) == net.depth + 1
    assert [layer.in_features for layer in net.layers] == [net.n_features, *net.widths]
    assert [layer.out_features for layer in net.layers] == [*net.widths, net.n_outputs]
    assert all((layer.bias is not None) == net.bias for layer in net.layers)
    assert all(p.dtype == torch.float64 for p in net.model.parameters())
    out = net(x[:, : net.n_features])
    assert out.shape == (len(x), net.n_outputs) and torch.isfinite(out).all()
    if net.depth == 0:
        assert net.activation is None and {"linear", "smooth"} <= net.tags
    else:
        assert net.activation in abst.ACTIVATIONS
        assert ("relu" in net.tags) == (net.activation == "relu")
        assert ("smooth" in net.tags) == (net.activation != "relu")
        assert ("nonzero_at_origin" in net.tags) == (net.activation in ("sigmoid", "softplus"))
    assert ("bias" in net.tags) == net.bias


@FAST
@given(abst.networks())
def test_networks_are_reproducible_from_their_seed(net):
    again = abst.build_network(net.n_features, net.widths, net.n_outputs, net.activation, net.bias, net.seed)
    for a, b in zip(net.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    other = abst.build_network(net.n_features, net.widths, net.n_outputs, net.activation, net.bias, net.seed + 1)
    assert not all(torch.equal(a, b) for a, b in zip(net.model.parameters(), other.model.parameters()))


def test_drawing_networks_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()

    @settings(max_examples=10, derandomize=True, deadline=None)
    @given(abst.networks(), abst.equivalent_network_pairs())
    def draw(net, pair):
        pass

    draw()
    assert torch.equal(state, torch.random.get_rng_state())


@FAST
@given(abst.networks(activations="relu", depth=2, width=3, n_features=4, n_outputs=2, bias=False, dtype=torch.float32))
def test_networks_accept_plain_values_and_dtype(net):
    assert net.widths == (3, 3) and net.activation == "relu" and not net.bias
    assert net.n_features == 4 and net.n_outputs == 2
    assert all(p.dtype == torch.float32 for p in net.model.parameters())


def test_unknown_activation_is_rejected():
    @given(abst.networks(activations="gelu"))
    def draw(net):
        pass

    with pytest.raises(InvalidArgument, match="gelu"):
        draw()


@FAST
@given(
    st.data(),
    st.tuples(st.floats(-3, 0.5), st.floats(0.01, 3)).map(lambda t: (t[0], t[0] + t[1])),
    st.sampled_from([torch.float64, torch.float32]),
)
def test_inputs_and_baselines_stay_in_the_domain(data, domain, dtype):
    n = data.draw(st.integers(1, 5))
    x = data.draw(abst.inputs(n, domain=domain, batch=st.integers(1, 4), dtype=dtype))
    b = data.draw(abst.baselines(n, domain=domain, batch=len(x), dtype=dtype))
    for t in (x, b):
        assert t.dtype == dtype and t.shape == (len(x), n)
        assert torch.isfinite(t).all()
        assert (t >= domain[0]).all() and (t <= domain[1]).all()


# --------------------------------------------------------------------------- cases


def monotone_path(x0, x1, gen, steps=24):
    """Points along a random coordinate-wise monotone path from x0 to x1, (steps, N, D)."""
    fractions = torch.rand(steps, *x0.shape, generator=gen, dtype=x0.dtype)
    fractions = torch.cat([torch.zeros_like(x0)[None], fractions, torch.ones_like(x0)[None]])
    fractions = fractions.sort(dim=0).values
    return x0 + fractions * (x1 - x0)


@FAST
@given(abst.monotone_cases(), abst.seeds())
def test_monotone_cases_are_non_decreasing_along_monotone_paths(case, seed):
    gen = torch.Generator().manual_seed(seed)
    assert (case.baseline <= case.inputs).all()
    assert "monotone" in case.tags
    path = monotone_path(case.baseline, case.inputs, gen)
    values = F(case.model, path.reshape(-1, path.shape[-1]), case.targets.repeat(len(path))).reshape(len(path), -1)
    assert (values[1:] >= values[:-1] - 1e-12).all()


@FAST
@given(abst.monotone_cases(mixed_signs=True), abst.seeds())
def test_mixed_sign_monotone_cases_are_non_decreasing_along_monotone_paths(case, seed):
    gen = torch.Generator().manual_seed(seed)
    assert (case.signs * (case.inputs - case.baseline) >= 0).all()
    path = monotone_path(case.baseline, case.inputs, gen)
    values = F(case.model, path.reshape(-1, path.shape[-1]), case.targets.repeat(len(path))).reshape(len(path), -1)
    assert (values[1:] >= values[:-1] - 1e-12).all()


def swap(x, i, j):
    y = x.clone()
    y[:, [i, j]] = x[:, [j, i]]
    return y


@FAST
@given(abst.symmetric_cases(), abst.inputs(6, batch=5))
def test_symmetric_cases_are_symmetric_in_their_pair(case, z):
    i, j = case.i, case.j
    assert i < j < case.network.n_features
    assert torch.equal(case.inputs[:, i], case.inputs[:, j])
    assert torch.equal(case.baseline[:, i], case.baseline[:, j])
    z = z[:, : case.network.n_features]
    out, out_swapped = case.network(z), case.network(swap(z, i, j))
    torch.testing.assert_close(out, out_swapped, rtol=0, atol=1e-9)


def test_symmetric_cases_draw_both_constructions():
    seen = set()

    @settings(max_examples=30, derandomize=True, deadline=None)
    @given(abst.symmetric_cases())
    def collect(case):
        seen.add(case.construction)

    collect()
    assert seen == {"tied", "mirrored"}


@FAST
@given(abst.equivalent_network_pairs(), abst.inputs(6, domain=(-3.0, 3.0), batch=6))
def test_equivalent_network_pairs_compute_the_same_function(pair, z):
    z = z[:, : pair.first.n_features]
    assert pair.transforms and all(name in abst.EQUIVALENCES for name, _ in pair.transforms)
    assert_frozen(pair.second.model)
    torch.testing.assert_close(pair.first(z), pair.second(z), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(pair.first(pair.inputs), pair.second(pair.inputs), rtol=1e-6, atol=1e-6)


@FAST
@given(abst.equivalent_network_pairs(transforms=["dead", "split"]))
def test_equivalent_pairs_change_the_implementation(pair):
    assert sum(pair.second.widths) > sum(pair.first.widths)


@FAST
@given(abst.dummy_cases(), abst.seeds())
def test_dummy_inputs_do_not_change_the_output(case, seed):
    gen = torch.Generator().manual_seed(seed)
    n = case.network.n_features
    assert case.dummy.dtype == torch.bool and case.dummy.shape == (n,) and case.dummy.any()
    if n >= 2:
        assert not case.dummy.all()
    assert case.dummy_indices == tuple(i for i in range(n) if case.dummy[i])
    noise = 4 * torch.rand(case.inputs.shape, generator=gen, dtype=case.inputs.dtype) - 2
    perturbed = torch.where(case.dummy, noise, case.inputs)
    assert torch.equal(case.F(perturbed), case.F(case.inputs))
    # and the live inputs do matter somewhere (the mask is not vacuous)
    assert (case.network.layers[0].weight[:, ~case.dummy] != 0).all()


@FAST
@given(abst.linear_combinations())
def test_linear_combination_module_is_alpha_f_plus_beta_g(case):
    assert case.f.n_features == case.g.n_features and case.f.n_outputs == case.g.n_outputs
    assert_frozen(case.combined)
    x = torch.cat([case.inputs, case.baseline])
    expected = case.alpha * case.f(x) + case.beta * case.g(x)
    with torch.no_grad():
        got = case.combined(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@FAST
@given(abst.single_feature_changes())
def test_single_feature_changes_differ_in_exactly_one_feature(case):
    differs = case.inputs != case.baseline
    assert differs[:, case.feature].all()
    assert differs.sum(dim=1).eq(1).all()
    assert ((case.inputs - case.baseline).abs()[:, case.feature] >= 1e-3 - 1e-12).all()
    a, b = case.domain
    assert (case.baseline >= a).all() and (case.baseline <= b).all()
    assert case.changed.shape == (len(case.inputs),)


@FAST
@given(abst.affine_maps(), abst.inputs(6, batch=3))
def test_affine_map_composition_undoes_the_transform(case, z):
    assert case.scale != 0
    z = z[:, : case.network.n_features]
    for x in (z, case.inputs, case.baseline):
        tx = case.transformed_model.transform(x)
        others = [k for k in range(x.shape[1]) if k != case.feature]
        assert torch.equal(tx[:, others], x[:, others])
        torch.testing.assert_close(tx[:, case.feature], case.scale * x[:, case.feature] + case.shift)
        with torch.no_grad():
            torch.testing.assert_close(case.transformed_model(tx), case.network(x), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(case.transformed_inputs, case.transformed_model.transform(case.inputs))
    torch.testing.assert_close(case.transformed_baseline, case.transformed_model.transform(case.baseline))


@settings(max_examples=10, derandomize=True, deadline=None)
@given(
    st.one_of(
        abst.monotone_cases(),
        abst.symmetric_cases(),
        abst.dummy_cases(),
        abst.single_feature_changes(),
        abst.affine_maps(),
        abst.linear_combinations(),
    )
)
def test_cases_become_subjects(case):
    subject = case.to_subject()
    assert isinstance(subject, Subject)
    assert subject.truth["axiom"] == case.axiom
    assert subject.tags == case.tags
    assert torch.equal(subject.inputs, case.inputs) and torch.equal(subject.targets, case.targets)


@settings(max_examples=5, derandomize=True, deadline=None)
@given(abst.equivalent_network_pairs())
def test_equivalent_pairs_become_two_subjects(pair):
    a, b = pair.subjects()
    assert a.name.endswith("/a") and b.name.endswith("/b")
    assert a.model is pair.first.model and b.model is pair.second.model


def test_symmetric_cases_need_two_features():
    @given(abst.symmetric_cases(n_features=1))
    def draw(case):
        pass

    with pytest.raises(InvalidArgument, match="n_features >= 2"):
        draw()
