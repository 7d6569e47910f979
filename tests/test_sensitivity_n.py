"""Sensitivity-n (003 §4, §4.1, App. C.2): the properties the issue names, a loop-and-numpy
reference, and the suite's check on real subjects."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from attrbench import methods, subjects
from attrbench.checks import sensitivity_n as sn
from attrbench.checks.context import CheckContext
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.scales import get_scale


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def attribute(method, subject, m=16):
    x, t = subject.inputs[:m], subject.targets[:m]
    return x, t, methods.get(method).attribute(subject.model, x, t, subject.baseline)


# -- properties of 003 §4 --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits/cnn_relu", "digits/mlp_tanh", "tabular/breast_cancer_mlp"])
def test_occlusion_1_satisfies_sensitivity_1(name):
    """003 §4: "Occlusion-1 satisfies Sensitivity-1 by construction": Rᵢ is the drop of
    removing feature i alone, so at n = 1 both sides are the same numbers (the one-channel
    digits images have one element per pixel). Expected PCC 1, up to float32 rounding."""
    s = subjects.get(name)
    x, t, a = attribute("occlusion", s)
    curve = sn.sensitivity_n(s.model, x, t, a, [1, 4], n_subsets=50, generator=gen())
    first = curve.iloc[0]
    assert first["n"] == 1 and first["samples"] == len(x) and first["zero_variance"] == 0
    assert first["pcc"] == pytest.approx(1.0, abs=1e-5)
    assert curve.iloc[1]["pcc"] < 1 - 1e-4  # n = 4: the drops interact; not exact any more


#: The methods of 003 Table 1 (and the other path integrals and Shapley values), which all
#: give wᵢ(xᵢ − x̄ᵢ) on an affine model (Prop. 4); gradient, saliency and SmoothGrad are
#: local (003 §3.2) and excluded.
GLOBAL_METHODS = [
    "input_x_gradient", "epsilon_lrp", "deeplift_rescale", "integrated_gradients", "occlusion",
    "nonmonotone_path", "expected_gradients", "gradient_shap", "shapley_sampling",
]  # fmt: skip


@pytest.mark.parametrize("method", GLOBAL_METHODS)
def test_linear_model_gives_pcc_1_for_every_n(method):
    """003 Prop. 4: on a linear model Σ_{i∈S} Rᵢ = Σ_{i∈S} wᵢxᵢ = S_c(x) − S_c(x_[x_S=0]) for
    every S, so the correlation is exactly 1 for every n (up to float32 rounding)."""
    s = subjects.get("analytic/linear")
    x, t, a = attribute(method, s, 32)
    ns = list(range(1, 8))
    curve = sn.sensitivity_n(s.model, x, t, a, ns, n_subsets=40, generator=gen(1))
    assert curve["n"].tolist() == ns
    assert (curve["zero_variance"] == 0).all()
    assert np.allclose(curve["pcc"], 1.0, atol=1e-5), curve


#: Relative accuracy of ΣRᵢ = S_c(x) − S_c(x̄) in float32. DeepLIFT's sum telescopes layer
#: by layer, exact up to rounding (measured ≤ 1e-6). Adaptive IG accepts each interval of
#: the path when its residual is within max(ADAPTIVE_TOL, 64 float32 epsilons) = 7.6e-6 of
#: |S_c| (attrbench.methods.integrated_gradients.adaptive_line_integral), so over its 25
#: starting intervals plus refinements the sum may miss by a few 1e-4 (measured 1.8e-4 on
#: cnn_relu); 1e-3 allows ~130 intervals. Gradient×Input misses by more than 1e-2 (below).
SENSITIVITY_N_RTOL = {"deeplift_rescale": 1e-5, "integrated_gradients": 1e-3}


@pytest.mark.parametrize("method", sorted(SENSITIVITY_N_RTOL))
@pytest.mark.parametrize("name", ["digits/mlp_relu", "digits/cnn_relu", "tabular/breast_cancer_mlp"])
def test_ig_and_deeplift_satisfy_sensitivity_N_on_relu_networks(method, name):
    """003 §4: IG and DeepLIFT satisfy Sensitivity-N (S = every feature, i.e. completeness)
    on networks without multiplicative units; these are ReLU networks with average
    pooling. Expected: ΣRᵢ = S_c(x) − S_c(x̄) per sample, to SENSITIVITY_N_RTOL of the
    larger |S_c| of the two inputs."""
    s = subjects.get(name)
    x, t, a = attribute(method, s)
    n_features = sn.feature_attributions(a, x).shape[1]
    sums, drops, scale = sn.subset_sums_and_drops(s.model, x, t, a, [n_features], n_subsets=2, generator=gen())
    assert ((sums - drops).abs() <= SENSITIVITY_N_RTOL[method] * scale[..., None]).all()
    # the one subset of size N is the same every draw: no variance, so the PCC is reported
    # as undefined for every sample rather than averaged in
    curve = sn.sensitivity_n(s.model, x, t, a, [n_features], n_subsets=3, generator=gen())
    assert curve.iloc[0]["zero_variance"] == len(x) and curve.iloc[0]["samples"] == 0
    assert math.isnan(curve.iloc[0]["pcc"])


def test_sensitivity_N_fails_for_input_x_gradient_on_a_tanh_network():
    """The Sensitivity-N test above can fail: Gradient×Input is not complete on a smooth
    nonlinear network (003 §3.2, a local linearisation), so the residual exceeds 1e-4."""
    s = subjects.get("digits/mlp_tanh")
    x, t, a = attribute("input_x_gradient", s)
    sums, drops, scale = sn.subset_sums_and_drops(s.model, x, t, a, [64], n_subsets=2, generator=gen())
    assert (sums - drops).abs().max() > 1e-2 * scale.max()


# -- against a reference written with loops and numpy -----------------------------------


class SmallNet(nn.Module):
    def __init__(self, d=10, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(d, 12), nn.Tanh(), nn.Linear(12, 3))

    def forward(self, x):
        return self.net(x)


def reference_sensitivity_n(model, x, t, a, ns, subsets_for, baseline=0.0):
    """003 §4.1 literally: for each n, each sample, each subset: zero the subset, run the
    model on that one input, and correlate with numpy across the subsets of the sample."""
    out = []
    for n in ns:
        pccs = []
        for i in range(len(x)):
            sums, drops = [], []
            for subset in subsets_for(n, i):
                xi = x[i].clone()
                xi.view(-1)[list(subset)] = baseline
                with torch.no_grad():
                    f0 = float(model(x[i : i + 1])[0, t[i]])
                    f1 = float(model(xi[None])[0, t[i]])
                sums.append(float(a[i].reshape(-1)[list(subset)].sum()))
                drops.append(f0 - f1)
            pccs.append(np.corrcoef(sums, drops)[0, 1])
        out.append(np.array(pccs))
    return out


def test_agrees_exactly_with_the_reference_on_the_same_subsets():
    """Given the same subsets (taken from ``random_subsets`` with the same seed), the
    batched sums, drops, correlations and mean equal the per-subset loop to 1e-5."""
    model = SmallNet().eval()
    x = torch.rand(6, 10, generator=gen(3)) * 2 - 1
    t = torch.tensor([0, 1, 2, 0, 1, 2])
    a = torch.randn(6, 10, generator=gen(4))
    ns, k = [1, 3, 8], 25
    draw = gen(5)
    masks = {n: sn.random_subsets(6, k, 10, n, draw) for n in ns}

    def subsets_for(n, i):
        return [m.nonzero().flatten().tolist() for m in masks[n][i]]

    ref = reference_sensitivity_n(model, x, t, a, ns, subsets_for)
    curve = sn.sensitivity_n(model, x, t, a, ns, n_subsets=k, generator=gen(5), batch_size=7)
    assert np.allclose(curve["pcc"], [p.mean() for p in ref], atol=1e-5)
    assert np.allclose(curve["pcc_std"], [p.std() for p in ref], atol=1e-5)


def test_agrees_with_an_independent_reference_within_sampling_error():
    """The reference draws its own subsets (numpy's ``choice`` without replacement). Each
    per-sample PCC from K subsets has variance ≈ (1 − ρ²)²/K (Fisher), so the two means
    over B samples differ by less than 4·sqrt(2·Σ(1 − ρᵢ²)²/K)/B with probability > 0.9999."""
    model = SmallNet(seed=1).eval()
    b, k = 12, 300
    x = torch.rand(b, 10, generator=gen(6)) * 2 - 1
    t = torch.zeros(b, dtype=torch.long)
    a = x * 0.5 + 0.3 * torch.randn(b, 10, generator=gen(7))  # a partly informative method
    rng = np.random.default_rng(0)
    ns = [2, 5]

    def subsets_for(n, i):
        return [rng.choice(10, size=n, replace=False) for _ in range(k)]

    ref = reference_sensitivity_n(model, x, t, a, ns, subsets_for)
    curve = sn.sensitivity_n(model, x, t, a, ns, n_subsets=k, generator=gen(8))
    for row, p in zip(curve.itertuples(), ref):
        bound = 4 * math.sqrt(2 * ((1 - p**2) ** 2).sum() / k) / b
        assert abs(row.pcc - p.mean()) < bound, (row.n, row.pcc, p.mean(), bound)
        assert 0.05 < bound < 0.5  # the test can tell a wrong estimator from sampling noise


def test_subsets_are_uniform_and_of_size_n():
    """Each row has exactly n features, and over many rows each feature is chosen with
    frequency n/F (binomial: 5 standard errors)."""
    masks = sn.random_subsets(50, 400, 12, 5, gen(9))
    assert (masks.sum(-1) == 5).all()
    freq = masks.reshape(-1, 12).float().mean(0)
    se = math.sqrt((5 / 12) * (7 / 12) / (50 * 400))
    assert ((freq - 5 / 12).abs() < 5 * se).all()


# -- images: a feature is a pixel (003 App. C.2) ------------------------------------------


def test_pixels_of_colour_images_are_removed_with_all_their_channels():
    """Linear model on 3×4×4 images. With pixel features (the default for 4-D inputs) a
    subset removes all three channels of its pixels and a pixel's attribution is the sum
    over its channels; Gradient×Input is exact per element, so PCC = 1 in both modes.
    Attributions moved wholly onto channel 0 stay exact per pixel (PCC 1 with pixels) but
    not per element (PCC < 0.95 with group_channels=False): the modes differ as they should."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 4)).eval()
    x = torch.rand(8, 3, 4, 4, generator=gen(10)) * 2 - 1
    t = torch.arange(8) % 4
    a = methods.get("input_x_gradient").attribute(model, x, t, None)
    assert sn.feature_attributions(a, x).shape == (8, 16)
    pixels = sn.sensitivity_n(model, x, t, a, [1, 4, 12], n_subsets=30, generator=gen(11))
    elements = sn.sensitivity_n(model, x, t, a, [1, 10, 38], n_subsets=30, generator=gen(11), group_channels=False)
    assert np.allclose(pixels["pcc"], 1.0, atol=1e-5) and np.allclose(elements["pcc"], 1.0, atol=1e-5)
    # attributions that put each pixel's whole contribution on channel 0 are right per
    # pixel (PCC 1 when pixels are removed) but wrong per element (PCC < 1)
    moved = torch.zeros_like(a)
    moved[:, 0] = a.sum(1)
    grouped = sn.sensitivity_n(model, x, t, moved, [4], n_subsets=30, generator=gen(12))
    assert np.allclose(grouped["pcc"], 1.0, atol=1e-5)
    per_element = sn.sensitivity_n(model, x, t, moved, [10], n_subsets=30, generator=gen(12), group_channels=False)
    assert per_element["pcc"].iloc[0] < 0.95


def test_baseline_value_is_used_for_removed_features():
    """With baseline 0.5 on a linear model, the drop of S is Σ_{i∈S} wᵢ(xᵢ − 0.5): the
    attributions w⊙(x − 0.5) give PCC 1, while w⊙x (the zero-baseline answer) does not."""
    torch.manual_seed(1)
    model = nn.Linear(10, 2).eval()
    x = torch.rand(8, 10, generator=gen(13))
    t = torch.zeros(8, dtype=torch.long)
    w = model.weight[0].detach()
    right = sn.sensitivity_n(model, x, t, w * (x - 0.5), [3], n_subsets=40, baseline=0.5, generator=gen(14))
    wrong = sn.sensitivity_n(model, x, t, w * x, [3], n_subsets=40, baseline=0.5, generator=gen(14))
    assert right["pcc"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert wrong["pcc"].iloc[0] < 0.999


# -- mechanics -------------------------------------------------------------------------------


def test_result_does_not_depend_on_the_batch_size():
    s = subjects.get("digits/cnn_tanh")
    x, t, a = attribute("input_x_gradient", s, 8)
    big = sn.sensitivity_n(s.model, x, t, a, [1, 5, 20], n_subsets=20, generator=gen(2))
    small = sn.sensitivity_n(s.model, x, t, a, [1, 5, 20], n_subsets=20, generator=gen(2), batch_size=13)
    assert np.allclose(big["pcc"], small["pcc"], atol=1e-6)
    assert list(big.columns) == ["n", "pcc", "pcc_std", "samples", "zero_variance"]


def test_n_grid_is_log_spaced_from_1_to_80_percent():
    """003 §4.1: n from one to about 80 % of the features."""
    assert sn.n_grid(64, 12) == [1, 2, 3, 4, 6, 9, 12, 17, 25, 36, 51]  # rint(geomspace(1, 51, 12))
    assert sn.n_grid(8, 12) == [1, 2, 3, 4, 5, 6]
    assert sn.n_grid(1, 5) == [1]


def test_bad_arguments_say_what_to_change():
    model = nn.Linear(4, 2).eval()
    x, t = torch.rand(3, 4), torch.zeros(3, dtype=torch.long)
    with pytest.raises(InputShapeError, match="attributions have shape"):
        sn.sensitivity_n(model, x, t, torch.rand(3, 5), [1])
    with pytest.raises(InvalidOptionError, match="subset size n=5"):
        sn.sensitivity_n(model, x, t, torch.rand(3, 4), [5])
    with pytest.raises(InvalidOptionError, match="at least 2"):
        sn.sensitivity_n(model, x, t, torch.rand(3, 4), [1], n_subsets=1)
    with pytest.raises(InputShapeError, match="baseline"):
        sn.sensitivity_n(model, x, t, torch.rand(3, 4), [1], baseline=torch.zeros(5))


def test_suite_check_on_linear_subject_records_the_curve():
    """The suite's check: IG on analytic/linear (Prop. 4) gives mean PCC 1 and the details
    hold the whole curve on the quick grid."""
    s = subjects.get("analytic/linear")
    ctx = CheckContext(scale=get_scale("quick"), generator=gen())
    outcome = sn.sensitivity_n_curve(methods.get("integrated_gradients"), s, ctx)
    assert outcome.value == pytest.approx(1.0, abs=1e-5) and outcome.holds is None
    d = outcome.details
    assert d["n"] == sn.n_grid(8, get_scale("quick").sensitivity_n_grid) and d["features"] == 8
    assert len(d["pcc"]) == len(d["n"]) == len(d["zero_variance"])
    assert d["inputs"] == 8 and d["samples"] == [8] * len(d["n"])
