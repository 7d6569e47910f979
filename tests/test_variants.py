"""Method variants ``name[opt=value,...]`` (attrbench.methods.variants): names, parsing,
typed errors, named variants, records and pages.

Expected attributions come from the same method built with keyword options
(``methods.get(name, **options)``), the path every method already takes and tests elsewhere.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from attrbench import leaderboard as lb
from attrbench import methods
from attrbench.errors import DuplicateMethodError, InvalidOptionError, MethodParameterError, UnknownMethodError
from attrbench.methods import register_variant
from attrbench.methods.registry import default_registry
from attrbench.results import Record


def model_and_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).eval().requires_grad_(False)
    return model, torch.randn(4, 5), torch.tensor([0, 1, 2, 0])


def test_canonical_name_sorts_parses_and_drops_defaults():
    """Options sorted, values written back from their parsed type (float as repr), options at
    their default dropped; the variant computes what the keyword build computes."""
    variant = methods.get("integrated_gradients[n_steps=4, integration=riemann_trapezoid]")
    assert variant.name == "integrated_gradients[integration=riemann_trapezoid,n_steps=4]"
    assert (variant.base, variant.options) == ("integrated_gradients", {"integration": "riemann_trapezoid",
                                                                        "n_steps": 4})  # fmt: skip
    model, x, t = model_and_batch()
    expected = methods.get("integrated_gradients", n_steps=4, integration="riemann_trapezoid").attribute(model, x, t)
    assert torch.equal(variant.attribute(model, x, t), expected)
    assert methods.get("epsilon_lrp[epsilon=1]").name == "epsilon_lrp[epsilon=1.0]"
    assert methods.get("epsilon_lrp[epsilon=1]").params["epsilon"] == 1.0
    assert methods.get("epsilon_lrp[epsilon=0]").name == "epsilon_lrp"  # the default
    assert methods.get("epsilon_lrp[internal_batch_size=None]").name == "epsilon_lrp[internal_batch_size=None]"


def test_resolving_a_variant_does_not_register_it():
    """Asking for a variant adds no row to later runs: available() is unchanged."""
    before = methods.available()
    methods.get("smoothgrad[n_samples=3]")
    assert methods.available() == before
    assert default_registry.select(["smoothgrad[n_samples=3]"]) == ["smoothgrad[n_samples=3]"]


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("integrated_gradients[n_step=4]", MethodParameterError, "no parameter 'n_step'; it accepts: n_steps"),
        ("integrated_gradients[n_steps=four]", InvalidOptionError, "n_steps='four' is not allowed; .* integer >= 1"),
        ("integrated_gradients[n_steps=0]", InvalidOptionError, "n_steps=0 is not allowed"),
        ("influence_decomposition[attack=flip]", InvalidOptionError, "one of 'fgsm', 'bim', 'pgd', 'bitflip'"),
        ("integrated_gradients[n_steps]", InvalidOptionError, "'n_steps' is not option=value"),
        ("integrated_gradients[n_steps=2,n_steps=3]", InvalidOptionError, "sets 'n_steps' twice"),
        ("integrated_gradient[n_steps=2]", UnknownMethodError, "Did you mean 'integrated_gradients'"),
    ],
)
def test_variant_mistakes_raise_typed_errors(spec, error, message):
    with pytest.raises(error, match=message):
        methods.get(spec)


def test_glob_selects_registered_names_and_refuses_an_empty_match():
    assert default_registry.select(["integrated_*"]) == ["integrated_gradients", "integrated_hessians"]
    with pytest.raises(UnknownMethodError, match="matches no registered method"):
        default_registry.select(["nothing_like_this_*"])


def test_register_variant_named_and_duplicates(isolated_method_registry):
    """A named variant is a registered method; its base and options travel with it; the same
    name with other options is refused."""
    name = register_variant("ab_ig_riemann3", "integrated_gradients", n_steps=3, integration="riemann_trapezoid")
    try:
        method = methods.get(name)
        assert (method.name, method.base, method.options) == (
            "ab_ig_riemann3", "integrated_gradients", {"integration": "riemann_trapezoid", "n_steps": 3})
        assert name in methods.available()
        model, x, t = model_and_batch()
        expected = methods.get("integrated_gradients", n_steps=3, integration="riemann_trapezoid")
        assert torch.equal(method.attribute(model, x, t), expected.attribute(model, x, t))
        with pytest.raises(DuplicateMethodError, match="with different options"):
            register_variant("ab_ig_riemann3", "integrated_gradients", n_steps=4)
    finally:
        default_registry.entries.pop(name, None)


def test_builtin_bitflip_variant_is_registered_for_boolean_subjects_only():
    entry = default_registry.entry("influence_decomposition[attack=bitflip]")
    assert "influence_decomposition[attack=bitflip]" in methods.available()
    assert (entry.base, dict(entry.preset), entry.requires) == ("influence_decomposition", {"attack": "bitflip"},
                                                                frozenset({"boolean"}))  # fmt: skip


def _row(**kw) -> Record:
    base = dict(suite="boolean", check="decomposition_recovery", metric="decomposition_recovery",
                direction="higher", method="m", subject="boolean/and_4", value=1.0, holds=None, claimed=False,
                error="", details="{}", scale="quick", seed=0)  # fmt: skip
    return Record(**{**base, **kw})


def test_records_keep_base_and_options_and_old_rows_load(tmp_path):
    """base_method and options round-trip through results.jsonl; a row stored before they
    existed loads with "" and None; pages name each variant's base and options."""
    variant = _row(method="ab_named", base_method="influence_decomposition", options={"attack": "bitflip"})
    plain = _row(method="influence_decomposition", base_method="influence_decomposition")
    old = _row(method="saliency").to_dict()
    del old["base_method"], old["options"]
    lines = [json.dumps({"metadata": {}}), *(json.dumps(r.to_dict()) for r in (variant, plain)), json.dumps(old)]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    _, records = lb.read_results(tmp_path / "results.jsonl")
    by_method = {r.method: r for r in records}
    assert (by_method["ab_named"].base_method, by_method["ab_named"].options) == ("influence_decomposition",
                                                                                  {"attack": "bitflip"})
    assert (by_method["saliency"].base_method, by_method["saliency"].options) == ("", None)
    lb.write_leaderboard(tmp_path, records, {})
    page = (tmp_path / "boolean.md").read_text(encoding="utf-8")
    assert "`ab_named` = `influence_decomposition` with attack=bitflip" in page


def test_verify_rebuilds_a_named_variant_from_its_rows(isolated_method_registry):
    """A row of a named variant that is not registered here is rebuilt from base_method and options."""
    from attrbench.verify import _rebuilt

    rows = [_row(method="ab_rebuilt_ig", base_method="integrated_gradients", options={"n_steps": 5})]
    try:
        assert _rebuilt("ab_rebuilt_ig", rows, default_registry)
        assert methods.get("ab_rebuilt_ig").params == {"n_steps": 5}
        assert _rebuilt("integrated_gradients[n_steps=6]", [], default_registry)
        assert not _rebuilt("ab_unknown", [], default_registry)
    finally:
        default_registry.entries.pop("ab_rebuilt_ig", None)


# -- the baseline axis (attrbench.subjects.baselines) ----------------------------------------


def test_blurred_baseline_by_hand():
    """σ = 1, kernel to 3σ: weights ∝ exp(−k²/2), k = −3..3, Σ = 1 + 2(e^−½ + e^−2 + e^−4.5) =
    2.50594988; a lone 1 in the middle of a 7×7 zero image becomes (1/2.50594988)² = 0.159242 at
    the centre and (e^−½/2.50594988)² = 0.058582 at a diagonal neighbour; a constant image stays constant."""
    from attrbench.subjects.baselines import blur

    x = torch.zeros(1, 1, 7, 7, dtype=torch.float64)
    x[0, 0, 3, 3] = 1.0
    out = blur(x)
    total = 1 + 2 * (math.exp(-0.5) + math.exp(-2) + math.exp(-4.5))
    assert out[0, 0, 3, 3].item() == pytest.approx(1 / total**2, rel=1e-12)
    assert out[0, 0, 2, 4].item() == pytest.approx((math.exp(-0.5) / total) ** 2, rel=1e-12)
    assert torch.allclose(blur(torch.full((2, 3, 5, 5), 0.3, dtype=torch.float64)), torch.tensor(0.3).double())


def test_baseline_kinds_where_the_subject_allows():
    """zero everywhere; uniform inside the domain and reproducible by seed; mean is the training
    inputs' mean (recomputed here from the digits split); blurred only for images."""
    from attrbench import subjects
    from attrbench.subjects import digits
    from attrbench.subjects.baselines import baseline_of, with_baseline

    linear = subjects.get("analytic/linear")
    assert torch.equal(baseline_of(linear, "zero"), torch.zeros(1, *linear.inputs.shape[1:]))
    u = baseline_of(linear, "uniform", seed=3)
    lo, hi = linear.domain
    assert u.shape == linear.inputs.shape and bool(((u >= lo) & (u <= hi)).all())
    assert torch.equal(u, baseline_of(linear, "uniform", seed=3))
    with pytest.raises(InvalidOptionError, match="blurs images"):
        baseline_of(linear, "blurred")
    with pytest.raises(InvalidOptionError, match="not trained by attrbench"):
        baseline_of(linear, "mean")
    mlp = subjects.get("digits/mlp_tanh")
    expected = digits.data(digits.RECIPES["digits/mlp_tanh"]).x_train.mean(0, keepdim=True)
    assert torch.allclose(with_baseline(mlp, "mean").baseline, expected)


def test_baseline_variant_names_and_refusals():
    m = methods.get("integrated_gradients[n_steps=8,baseline=blurred]")
    assert m.name == "integrated_gradients[baseline=blurred,n_steps=8]"
    assert (m.baseline_kind, m.options, m.params) == ("blurred", {"baseline": "blurred", "n_steps": 8}, {"n_steps": 8})
    with pytest.raises(InvalidOptionError, match="does not use a baseline"):
        methods.get("saliency[baseline=zero]")
    with pytest.raises(InvalidOptionError, match="baseline must be one of 'zero', 'blurred', 'uniform', 'mean'"):
        methods.get("integrated_gradients[baseline=grey]")
