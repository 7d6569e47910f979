"""The sanity checks (Adebayo et al. 2018) give the verdicts the paper predicts, and their
parts compute what they say.

Where each expected number comes from is said in each test: the definition of the Spearman
rank correlation (identical maps give exactly 1), scipy.stats.spearmanr as an independent
implementation, torch's documented default initialisation of nn.Linear / nn.Conv2d, and
the paper's finding that plain gradients pass the model-randomisation test (§3, Fig. 4).
Checks run at the ``quick`` scale (8 samples).
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from attrbench import methods, subjects
from attrbench.checks import sanity
from attrbench.checks.context import CheckContext
from attrbench.errors import InvalidOptionError, UnsupportedModelError
from attrbench.methods.registry import Registry
from attrbench.scales import get_scale

TRAINED = ("digits/mlp_relu", "digits/cnn_relu")
CHECKS = (sanity.model_randomization, sanity.target_sensitivity)


def context(seed: int = 0) -> CheckContext:
    return CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(seed))


def edge_detector(model, x, target, baseline):
    """|x|: the input's magnitude, as the edge detector of Adebayo et al. Fig. 1 — a map
    that needs neither the model nor the class."""
    return x.abs()


def fixed_map(model, x, target, baseline):
    """The same non-constant map 0, 1, 2, ... for every input, model and class."""
    return torch.arange(x[0].numel(), dtype=x.dtype, device=x.device).reshape(x.shape[1:]).expand_as(x).clone()


@pytest.fixture(scope="module")
def model_independent():
    """The two model-independent maps as methods of a private registry (the default one
    stays as it is)."""
    registry = Registry()
    for fn in (edge_detector, fixed_map):
        registry.register(fn.__name__, fn, differentiable=False, kind="control")
    return [registry.get(fn.__name__) for fn in (edge_detector, fixed_map)]


# -- verdicts ----------------------------------------------------------------------------


@pytest.mark.parametrize("subject", TRAINED)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.info.check)
def test_model_independent_maps_fail(model_independent, check, subject):
    """|x| and a fixed map are the same for the trained and every randomised model, and for
    every class: each per-sample Spearman correlation is that of a map with itself, exactly 1
    by definition, so the mean is 1 ≥ 0.5 and the check fails."""
    for method in model_independent:
        outcome = check(method, subjects.get(subject), context())
        assert outcome.value == 1.0, method.name
        assert outcome.holds is False, method.name
        per_sample = outcome.details["per_sample"]
        last = per_sample[-1] if check is sanity.model_randomization else per_sample  # the last stage's
        assert last == [1.0] * outcome.details["samples"]
    edges = sanity.model_randomization(model_independent[0], subjects.get(subject), context())
    assert set(edges.details["input_similarity"]) == {1.0}  # |x| is |x − x̄| for the zero baseline


@pytest.mark.parametrize("subject", TRAINED)
@pytest.mark.parametrize("method", ["saliency", "gradient"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.info.check)
def test_plain_gradients_pass(check, method, subject):
    """Adebayo et al. §3 (Fig. 4): the gradient's map loses its rank order as the layers are
    randomised, and explains the class it is asked about; both checks hold on the trained
    digits networks. Stage 0 compares the trained map with itself: 1 by definition."""
    outcome = check(methods.get(method), subjects.get(subject), context())
    assert outcome.holds is True, outcome.details
    assert outcome.value < sanity.SIMILARITY_THRESHOLD
    if check is sanity.model_randomization:
        assert outcome.details["similarity"][0] == 1.0
        assert outcome.details["stage"] == list(range(len(outcome.details["layers"]) + 1))


def test_random_control_fails_model_randomization():
    """The random control draws its map from a fixed seed, whatever the model: similarity 1."""
    outcome = sanity.model_randomization(methods.get("random"), subjects.get("digits/mlp_relu"), context())
    assert outcome.value == 1.0 and outcome.holds is False


# -- the cascade -------------------------------------------------------------------------


def _states(stages):
    return [{k: v.clone() for k, v in stage.model.state_dict().items()} for stage in stages]


def test_randomized_copies_cascade_from_the_top_and_leave_the_model_alone():
    """digits/cnn_relu has conv, conv, dense, dense (attrbench.subjects.digits): the cascade
    re-initialises them last to first, one more per stage; each stage differs from the one
    before in exactly the weight and bias of its layer; the trained model is unchanged."""
    model = subjects.get("digits/cnn_relu").model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stages = sanity.randomized_copies(model, torch.Generator().manual_seed(0))
    layers = sanity.weight_layers(model)
    assert [type(model.get_submodule(n)) for n in layers] == [nn.Conv2d, nn.Conv2d, nn.Linear, nn.Linear]
    assert [s.layer for s in stages] == ["", *reversed(layers)]
    assert stages[-1].randomized == tuple(reversed(layers))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(stage.model is not model for stage in stages)
    states = _states(stages)
    assert all(torch.equal(states[0][k], before[k]) for k in before)
    for k in range(1, len(stages)):
        changed = {name for name in before if not torch.equal(states[k][name], states[k - 1][name])}
        assert changed == {f"{stages[k].layer}.weight", f"{stages[k].layer}.bias"}


def test_randomized_copies_are_reproducible_from_the_seed():
    """The draws come from the generator only: the same seed gives the same weights, another
    seed other weights, and torch's global RNG is left as it was."""
    model = subjects.get("digits/mlp_relu").model
    global_state = torch.get_rng_state()
    first = _states(sanity.randomized_copies(model, torch.Generator().manual_seed(3)))
    assert torch.equal(torch.get_rng_state(), global_state)
    second = _states(sanity.randomized_copies(model, torch.Generator().manual_seed(3)))
    other = _states(sanity.randomized_copies(model, torch.Generator().manual_seed(4)))
    for a, b, c in zip(first[1:], second[1:], other[1:]):
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert any(not torch.equal(a[k], c[k]) for k in a)


def test_reinitialisation_is_torch_default():
    """torch's documented default for nn.Linear(in, out) and nn.Conv2d: weight and bias
    U(−√k, √k), k = 1 / fan_in (in_features, or in_channels × kernel area). With 4608 and
    32768 draws the largest |w| comes within 1 % of √k (a uniform sample of n misses the
    bound by ~√k / n)."""
    model = subjects.get("digits/cnn_relu").model
    random = sanity.randomized_copies(model, torch.Generator().manual_seed(0))[-1].model
    for name in sanity.weight_layers(model):
        layer = random.get_submodule(name)
        fan_in = layer.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)
        assert float(layer.weight.abs().max()) <= bound and float(layer.bias.abs().max()) <= bound
        if layer.weight.numel() >= 4608:
            assert float(layer.weight.abs().max()) > 0.99 * bound, name


def test_model_without_weight_layers_is_refused():
    with pytest.raises(UnsupportedModelError, match="no Linear or Conv layer"):
        sanity.randomized_copies(nn.Sequential(nn.ReLU()), torch.Generator())


# -- the numbers -------------------------------------------------------------------------


def test_rank_similarity_matches_scipy_spearmanr():
    """Per sample, scipy.stats.spearmanr of the flattened maps (average ranks for ties):
    values rounded to a few levels so that ties are frequent."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (16, 1, 8, 8), generator=gen).float()
    b = (a + torch.randint(-3, 4, a.shape, generator=gen)).abs()
    ours = sanity.rank_similarity(a, b)
    expected = [spearmanr(a[i].ravel().numpy(), b[i].ravel().numpy()).statistic for i in range(len(a))]
    assert torch.allclose(ours, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)


def test_rank_similarity_of_constant_maps_follows_its_rule():
    """Spearman is undefined for a constant map (scipy gives NaN); the documented rule: both
    constant → 1, one constant → 0."""
    const, varied = torch.zeros(1, 5), torch.arange(5.0)[None]
    assert sanity.rank_similarity(const, const + 1).tolist() == [1.0]
    assert sanity.rank_similarity(const, varied).tolist() == [0.0]
    assert sanity.rank_similarity(varied, const).tolist() == [0.0]


def test_cascade_numbers_match_an_independent_computation():
    """The curve of gradient maps on digits/mlp_relu recomputed outside the check: the
    gradient of each stage's logit by torch.autograd and scipy.stats.spearmanr of |A| per
    sample; the value is the last stage's mean."""
    subject = subjects.get("digits/mlp_relu")
    x, t = subject.inputs[:8], subject.targets[:8]
    method = methods.get("gradient")

    def attribute(model, x, target, baseline, where=""):
        return method.attribute(model, x, target, baseline)

    outcome = sanity.cascading_randomization(attribute, subject.model, x, t, None, torch.Generator().manual_seed(1))
    stages = sanity.randomized_copies(subject.model, torch.Generator().manual_seed(1))

    def grad(model):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xg).gather(1, t[:, None]).sum(), xg)
        return g.abs()

    trained = grad(stages[0].model)
    for k, stage in enumerate(stages):
        g = grad(stage.model)
        expected = [spearmanr(trained[i].numpy(), g[i].numpy()).statistic for i in range(len(x))]
        assert outcome.details["per_sample"][k] == pytest.approx(expected, abs=1e-9)
        assert outcome.details["similarity"][k] == pytest.approx(sum(expected) / len(expected), abs=1e-9)
        edges = [spearmanr(g[i].numpy(), x[i].abs().numpy()).statistic for i in range(len(x))]
        assert outcome.details["input_similarity"][k] == pytest.approx(sum(edges) / len(edges), abs=1e-9)
    assert outcome.value == outcome.details["similarity"][-1]


def test_runner_up_is_the_largest_other_logit():
    """For each sample, the class with the largest logit once the target's is removed."""
    subject = subjects.get("digits/mlp_relu")
    x, t = subject.inputs[:32], subject.targets[:32]
    logits = subject.model(x).detach()
    top2 = logits.topk(2, dim=1).indices
    expected = torch.where(top2[:, 0] == t, top2[:, 1], top2[:, 0])
    assert torch.equal(sanity.runner_up(subject.model, x, t), expected)


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_threshold_outside_unit_interval_is_a_typed_error(threshold):
    subject = subjects.get("digits/mlp_relu")
    x, t = subject.inputs[:2], subject.targets[:2]
    method = methods.get("gradient")

    def attribute(model, x, target, baseline, where=""):
        return method.attribute(model, x, target, baseline)

    with pytest.raises(InvalidOptionError, match=r"outside \[0, 1\].*SIMILARITY_THRESHOLD"):
        sanity.cascading_randomization(attribute, subject.model, x, t, None, torch.Generator(), threshold=threshold)
    with pytest.raises(InvalidOptionError, match=r"outside \[0, 1\]"):
        sanity.other_class_similarity(attribute, subject.model, x, t, None, threshold=threshold)


def test_ranked_similarity_of_stacked_stages_equals_one_pair_at_a_time():
    """The cascade ranks each map once and compares N trained rows with S·N stage rows
    (stage-major): every entry equals scipy's spearmanr of that one pair (0 and 1 for the
    constant rows, as rank_similarity defines them); counts that do not divide are refused."""
    g = torch.Generator().manual_seed(21)
    trained = torch.randn(4, 3, 5, generator=g).relu()  # ties at 0
    stages = torch.randn(3, 4, 3, 5, generator=g).relu()
    trained[1], stages[2, 1], stages[0, 3] = 0.0, 0.0, 2.0  # constant rows
    got = sanity.ranked_similarity(sanity.Ranked(trained), sanity.Ranked(stages.reshape(12, 3, 5)))
    for s in range(3):
        for i in range(4):
            a, b = trained[i].flatten(), stages[s, i].flatten()
            flat_a, flat_b = bool((a == a[0]).all()), bool((b == b[0]).all())
            expected = 1.0 if flat_a and flat_b else 0.0 if flat_a or flat_b else spearmanr(a, b).statistic
            assert float(got[4 * s + i]) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(sanity.InputShapeError, match="divide"):
        sanity.ranked_similarity(sanity.Ranked(trained), sanity.Ranked(stages.reshape(12, 3, 5)[:6]))
