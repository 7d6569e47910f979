"""attrbench's built-in methods against Captum, an independent second implementation.

Each expected tensor comes from Captum (``captum.attr``) run on the same float64 model,
inputs, targets and baseline; the two must agree to 1e-5 relative to the largest
attribution. Also tests :func:`attrbench.adapters.captum.wrap`.
"""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

captum_attr = pytest.importorskip(
    "captum.attr", reason='Captum is the reference implementation; pip install "attrbench[compare]"'
)

from attrbench import methods  # noqa: E402
from attrbench.adapters.captum import wrap  # noqa: E402
from attrbench.errors import MethodParameterError, PluginError, UnknownAxiomError  # noqa: E402

BATCH = 8
N_CLASSES = 3

pytestmark = pytest.mark.filterwarnings(
    # Captum's DeepLift announces the hooks it sets; Captum's own deprecations are not ours.
    "ignore::UserWarning:captum",
    "ignore::DeprecationWarning",
)


def _cnn() -> nn.Module:
    # No max-pool: Captum's DeepLift gives max-pool a special rule (the multiplier of the
    # max unit is Δmax/Δinput), outside the elementwise modified chain rule of 003 Eq. 5
    # that attrbench implements. Strided convolution and average pooling are linear, so
    # both libraries backpropagate through them with the ordinary gradient.
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, N_CLASSES),
    )


def _mlp() -> nn.Module:
    # Separate activation modules: Captum's DeepLift hooks modules and needs each used once.
    return nn.Sequential(
        nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, N_CLASSES)
    )


SUBJECTS = {"cnn": (_cnn, (2, 7, 7)), "mlp": (_mlp, (10,))}


@pytest.fixture(params=sorted(SUBJECTS))
def subject(request):
    """(model, x, target, baseline): float64, eval mode, seeded; a random nonzero baseline."""
    make, shape = SUBJECTS[request.param]
    torch.manual_seed(0)
    model = make().double().eval().requires_grad_(False)
    x = torch.randn(BATCH, *shape, dtype=torch.float64)
    baseline = 0.3 * torch.randn(BATCH, *shape, dtype=torch.float64)
    target = torch.arange(BATCH) % N_CLASSES
    return model, x, target, baseline


def _agree(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    assert theirs.abs().max() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max().item())


def _ours(name: str, subject, **params) -> torch.Tensor:
    model, x, target, baseline = subject
    return methods.get(name, **params).attribute(model, x, target, baseline)


N_STEPS = 50


def _captum_weight_sum(rule: str, n_steps: int) -> float:
    """Σₖ wₖ of Captum's quadrature rule, read off Captum's public API: the IG of
    F(x) = x from 0 to 1 is Σₖ wₖ·∂F = Σₖ wₖ (1 for a correct rule)."""
    model = nn.Linear(1, 1, bias=False).double().requires_grad_(False)
    model.weight.fill_(1.0)
    one = torch.ones(1, 1, dtype=torch.float64)
    ig = captum_attr.IntegratedGradients(model)
    return ig.attribute(one, target=0, n_steps=n_steps, method=rule).item()


@pytest.mark.parametrize("use_baseline", [True, False], ids=["baseline", "zeros"])
def test_integrated_gradients_matches_captum(subject, use_baseline):
    """IG, 50 Gauss–Legendre nodes: expected from captum.attr.IntegratedGradients
    (method="gausslegendre") with the same baseline. Both evaluate the gradient at the same
    nodes x' + α(x − x') with the same weights, so they agree up to rounding (Captum
    rounds its step sizes to float32, ~1e-7 relative)."""
    model, x, target, baseline = subject
    b = baseline if use_baseline else None
    ours = methods.get("integrated_gradients", n_steps=N_STEPS, integration="gausslegendre").attribute(
        model, x, target, b
    )
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=b, target=target, n_steps=N_STEPS, method="gausslegendre"
    )
    _agree(ours, theirs)


@pytest.mark.parametrize("use_baseline", [True, False], ids=["baseline", "zeros"])
def test_trapezoid_integrated_gradients_matches_captum_nodes(subject, use_baseline):
    """IG, 50-node trapezoid rule: expected from captum.attr.IntegratedGradients
    (method="riemann_trapezoid"), divided by the sum of Captum's weights.

    Captum 0.9 puts its trapezoid nodes at linspace(0, 1, n) (spacing 1/(n−1)) but weighs
    them 1/n (halved at the ends), so its weights sum to (n−1)/n and every attribution is
    scaled by 49/50: completeness fails by 2% even on a linear model. attrbench uses the
    trapezoid weights 1/(n−1) (Sundararajan et al. 2017 Eq. 3 is a Riemann approximation of
    ∫₀¹, whose weights must sum to 1). Dividing by Captum's weight sum leaves the comparison
    of nodes and gradients at full 1e-5 precision."""
    model, x, target, baseline = subject
    b = baseline if use_baseline else None
    ours = methods.get("integrated_gradients", n_steps=N_STEPS, integration="riemann_trapezoid").attribute(
        model, x, target, b
    )
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=b, target=target, n_steps=N_STEPS, method="riemann_trapezoid"
    )
    _agree(ours, theirs / _captum_weight_sum("riemann_trapezoid", N_STEPS))


def test_attrbench_trapezoid_weights_sum_to_one():
    """attrbench's side of the same check: the IG of F(x) = x from 0 to 1 is 1 (by hand)."""
    model = nn.Linear(1, 1, bias=False).double().requires_grad_(False)
    model.weight.fill_(1.0)
    ig = methods.get("integrated_gradients", n_steps=N_STEPS, integration="riemann_trapezoid")
    one = torch.ones(1, 1, dtype=torch.float64)
    assert ig.attribute(model, one, 0, None).item() == pytest.approx(1.0, abs=1e-12)


def test_saliency_matches_captum(subject):
    """|∂F/∂x|: expected from captum.attr.Saliency with abs=True."""
    model, x, target, _ = subject
    _agree(_ours("saliency", subject), captum_attr.Saliency(model).attribute(x, target=target, abs=True))


def test_input_x_gradient_matches_captum(subject):
    """x ⊙ ∂F/∂x: expected from captum.attr.InputXGradient."""
    model, x, target, _ = subject
    _agree(_ours("input_x_gradient", subject), captum_attr.InputXGradient(model).attribute(x, target=target))


def test_deeplift_rescale_matches_captum(subject):
    """DeepLIFT-Rescale with the subject's baseline: expected from captum.attr.DeepLift
    (Rescale rule on ReLU and Tanh, multiply_by_inputs=True), a hook-based implementation
    independent of attrbench's function-mode one (003 Prop 2)."""
    model, x, target, baseline = subject
    theirs = captum_attr.DeepLift(model).attribute(x, baselines=baseline, target=target)
    _agree(_ours("deeplift_rescale", subject), theirs)


def test_occlusion_matches_captum(subject):
    """Occlusion-1: expected from captum.attr.Occlusion with a window of ones in every
    dimension, stride 1 and the subject's baseline (one window per feature).

    Captum 0.9 divides the summed window differences by the window count after a
    ``.float()`` cast, so it returns float32 for float64 models; it is cast back (the
    float32 rounding, ~6e-8 relative, is far below the 1e-5 tolerance)."""
    model, x, target, baseline = subject
    window = (1,) * (x.dim() - 1)
    theirs = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=window, strides=1, baselines=baseline, target=target
    )
    _agree(_ours("occlusion", subject), theirs.to(torch.float64))


def test_wrapped_captum_ig_equals_builtin_ig(subject):
    """wrap(IntegratedGradients, n_steps=50) is Captum's IG; expected: attrbench's own IG
    (same default rule, Gauss–Legendre), checked independently against Captum above."""
    model, x, target, baseline = subject
    method = wrap(captum_attr.IntegratedGradients, claims=("completeness",), n_steps=50)
    assert method.name == "captum_integrated_gradients"
    assert method.needs_baseline and method.claims_axiom("completeness")
    assert method.source == "captum adapter captum.attr.IntegratedGradients"
    assert method.params == {"n_steps": 50}
    ours = _ours("integrated_gradients", subject, n_steps=50, integration="gausslegendre")
    _agree(method.attribute(model, x, target, baseline), ours)


def test_wrap_metadata_from_signature():
    """needs_baseline follows Captum's attribute signature (Saliency takes no baselines,
    Occlusion does); names are captum_ + snake_case of the class name."""
    saliency = wrap(captum_attr.Saliency)
    occlusion = wrap(captum_attr.Occlusion, sliding_window_shapes=(1,))
    assert (saliency.name, saliency.needs_baseline) == ("captum_saliency", False)
    assert (occlusion.name, occlusion.needs_baseline) == ("captum_occlusion", True)
    assert wrap(captum_attr.InputXGradient).name == "captum_input_x_gradient"
    assert wrap(captum_attr.Saliency, name="mine", kind="gradient").name == "mine"


def test_wrap_rejects_unknown_claim():
    """A misspelt axiom is an error at wrap time, not a silently unchecked claim."""
    with pytest.raises(UnknownAxiomError, match="completeness"):
        wrap(captum_attr.IntegratedGradients, claims=("completness",))


def test_wrap_rejects_bad_options():
    """Options are checked against Captum's attribute signature when the Method is built."""
    with pytest.raises(MethodParameterError, match="n_steps"):
        wrap(captum_attr.IntegratedGradients, n_step=50)
    with pytest.raises(PluginError, match="sliding_window_shapes"):
        wrap(captum_attr.Occlusion)
    with pytest.raises(PluginError, match="not a class"):
        wrap(len)


def test_wrap_without_captum_says_how_to_install(monkeypatch):
    """Without captum, wrap raises PluginError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(PluginError, match=r'pip install "attrbench\[compare\]"'):
        wrap(captum_attr.IntegratedGradients)


class _FlattenInForward(nn.Module):
    """The same network with Flatten done in forward: Captum's LRP needs a rule for every leaf
    module and its IdentityRule cannot change shapes."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        cut = next(k for k, layer in enumerate(seq) if isinstance(layer, nn.Flatten))
        self.features, self.head = seq[:cut], seq[cut + 1:]

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


@pytest.mark.parametrize("subject", ["digits/mlp_tanh", "digits/cnn_relu"])
@pytest.mark.parametrize("eps", [0.01, 0.25])
def test_epsilon_lrp_matches_captum_lrp_on_digits(subject, eps):
    """003 Eq. 2 with ε on every Linear, Conv2d and AvgPool2d (output layer included) is what
    Captum's LRP computes with EpsilonRule(ε) on those layers and activations passing relevance."""
    import copy

    from captum.attr._utils.lrp_rules import EpsilonRule

    from attrbench import subjects

    s = subjects.get(subject)
    model = copy.deepcopy(s.model).double()
    if any(isinstance(layer, nn.Flatten) for layer in model):
        model = _FlattenInForward(model)
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.AvgPool2d)):
            layer.rule = EpsilonRule(epsilon=eps)
    x, t = s.inputs[:BATCH].double(), s.targets[:BATCH]
    expected = captum_attr.LRP(model).attribute(x, target=t)
    ours = methods.get("epsilon_lrp", epsilon=eps).attribute(model, x, t, None)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_captum_catalogue_registers_on_request_and_runs_captum_as_shipped():
    """``captum/*`` registers the catalogue into the registry asked (nothing before); each entry
    runs the Captum class with Captum's defaults: captum/IntegratedGradients equals
    IntegratedGradients(model).attribute(...) and captum/NoiseTunnel_Saliency equals
    NoiseTunnel(Saliency(model)).attribute(...) under the same seed (expected values from Captum)."""
    from attrbench.adapters.captum_methods import CATALOGUE
    from attrbench.methods.registry import Registry

    registry = Registry(plugins="none")
    assert not [n for n in registry.available() if n.startswith("captum/")]
    names = registry.select(["captum/*"])
    assert names == sorted(f"captum/{c}" for c in [*CATALOGUE, "NoiseTunnel_Saliency"])
    assert [str(c) for c in registry.entry("captum/IntegratedGradients").claims] == [
        "completeness", "sensitivity_a", "dummy", "linearity", "symmetry", "implementation_invariance"]
    assert registry.entry("captum/GuidedBackprop").claims == ()
    model, x, t, b = _float64_case()
    ours = registry.get("captum/IntegratedGradients").attribute(model, x, t, b)
    torch.testing.assert_close(ours, captum_attr.IntegratedGradients(model).attribute(x, target=t, baselines=b))
    torch.manual_seed(5)
    ours = registry.get("captum/NoiseTunnel_Saliency").attribute(model, x, t, None)
    torch.manual_seed(5)
    expected = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(x, target=t)
    torch.testing.assert_close(ours, expected)


def _float64_case():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval().requires_grad_(False)
    return model, torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0]), torch.zeros(4, 6).double()


def test_submitting_doc_captum_module_runs_as_specs(tmp_path, monkeypatch, isolated_method_registry):
    """docs/submitting.md's my_captum.py, as written there: each configured Method is a
    ``--method my_captum:obj`` spec, registered under its name with its options."""
    from pathlib import Path

    from attrbench.methods.registry import Registry

    doc = (Path(__file__).parents[1] / "docs" / "submitting.md").read_text(encoding="utf-8")
    source = doc.split("say `my_captum.py`:\n\n```python\n")[1].split("```")[0]
    module = "abspec_my_captum"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(plugins="none")
    specs = [f"{module}:{obj}" for obj in ("gbp", "deconv", "ablation", "svs", "kshap", "lime", "smoothgrad")]
    assert registry.select(specs) == [
        "captum_guided_backprop", "captum_deconvolution", "captum_feature_ablation", "captum_shapley_value_sampling",
        "captum_kernel_shap", "captum_lime", "captum_noise_tunnel_saliency"]  # fmt: skip
    assert registry.get("captum_noise_tunnel_saliency").options == {"nt_samples": 10, "nt_type": "smoothgrad",
                                                                    "stdevs": 0.1}  # fmt: skip
    model, x, t, b = _float64_case()
    assert registry.get("captum_kernel_shap").attribute(model, x, t, b).shape == x.shape
