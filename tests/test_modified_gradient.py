"""DeepLIFT-Rescale and ε-LRP as modified-gradient backpropagation (003 §3).

Expectations: 003 Prop 3 (equivalences), §3.1 (a hand-computed counterexample), and a
hand-written DeepLIFT for one-hidden-layer networks as an independent implementation.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench import methods
from attrbench.errors import UnsupportedModelError

pytestmark = pytest.mark.usefixtures("float64")


def frozen(model: nn.Module) -> nn.Module:
    return model.eval().requires_grad_(False)


def relu_net(bias: bool, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return frozen(
        nn.Sequential(
            nn.Linear(6, 10, bias=bias), nn.ReLU(), nn.Linear(10, 8, bias=bias), nn.ReLU(), nn.Linear(8, 3, bias=bias)
        )
    )


def tanh_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return frozen(
        nn.Sequential(
            nn.Linear(6, 9, bias=False), nn.Tanh(), nn.Linear(9, 7, bias=False), nn.Tanh(), nn.Linear(7, 3, bias=False)
        )
    )


def batch(seed: int = 1, n: int = 8):
    torch.manual_seed(seed)
    return torch.randn(n, 6), torch.arange(n) % 3


def test_lrp_equals_gradient_x_input_on_relu_net_with_biases():
    """003 Prop 3-i: with ReLUs only, g^LRP = f′ everywhere, so ε-LRP = x ⊙ ∂F/∂x."""
    model = relu_net(bias=True)
    x, t = batch()
    lrp = methods.get("epsilon_lrp").attribute(model, x, t, None)
    ixg = methods.get("input_x_gradient").attribute(model, x, t, None)
    torch.testing.assert_close(lrp, ixg, rtol=1e-12, atol=1e-12)


def test_deeplift_zero_baseline_equals_lrp_on_bias_free_tanh_net():
    """003 Prop 3-ii: no biases and f(0) = 0 make every reference unit 0, so g^DL = g^LRP."""
    model = tanh_net()
    x, t = batch(2)
    dl = methods.get("deeplift_rescale").attribute(model, x, t, None)
    lrp = methods.get("epsilon_lrp").attribute(model, x, t, None)
    torch.testing.assert_close(dl, lrp, rtol=1e-10, atol=1e-12)


class ReluProduct(nn.Module):
    """h = ReLU(x₁ − 1)·ReLU(x₂) (003 §3.1)."""

    def forward(self, x):
        return (torch.relu(x[:, 0] - 1) * torch.relu(x[:, 1])).unsqueeze(1)


def test_deeplift_not_complete_with_multiplicative_unit():
    """003 §3.1 at x = (3, 2), x̄ = 0, by hand: unit 1 has z = 2, z̄ = −1, so
    g₁ = (2 − 0)/(2 − (−1)) = 2/3; unit 2 has z = 2, z̄ = 0, g₂ = 1. The product rule gives
    ∂^g h/∂x₁ = g₁·ReLU(x₂) = 4/3 and ∂^g h/∂x₂ = ReLU(x₁−1)·g₂ = 2, so
    DeepLIFT = (3·4/3, 2·2) = (4, 4), summing to 8 while h(x) − h(0) = 4."""
    attr = methods.get("deeplift_rescale").attribute(ReluProduct(), torch.tensor([[3.0, 2.0]]), 0, None)
    torch.testing.assert_close(attr, torch.tensor([[4.0, 4.0]]))
    assert float(attr.sum()) != pytest.approx(4.0)


def _hand_deeplift(w1, b1, w2, b2, f, x, xr, t):
    """DeepLIFT-Rescale for F = W₂ f(W₁x + b₁) + b₂, written out: multipliers
    m = (f(z) − f(z̄))/(z − z̄), attribution = (x − x̄) ⊙ W₁ᵀ(m ⊙ W₂[t])."""
    z, zr = x @ w1.T + b1, xr @ w1.T + b1
    m = (f(z) - f(zr)) / (z - zr)
    return (x - xr) * ((m * w2[t]) @ w1)


@pytest.mark.parametrize(
    "act, fn",
    [(nn.ReLU, torch.relu), (nn.Tanh, torch.tanh), (nn.Sigmoid, torch.sigmoid), (nn.Softplus, F.softplus),
     (nn.ELU, F.elu)],
)
def test_deeplift_matches_hand_implementation(act, fn):
    """Against the written-out formula above, for every supported activation, with biases
    and a random baseline; completeness Σ = F(x) − F(x̄) holds (Shrikumar et al. 2017 §3.2)."""
    torch.manual_seed(3)
    lin1, lin2 = nn.Linear(6, 9), nn.Linear(9, 3)
    model = frozen(nn.Sequential(lin1, act(), lin2))
    x, t = batch(4)
    xr = torch.randn(8, 6)
    ours = methods.get("deeplift_rescale").attribute(model, x, t, xr)
    hand = _hand_deeplift(lin1.weight, lin1.bias, lin2.weight, lin2.bias, fn, x, xr, t)
    torch.testing.assert_close(ours, hand, rtol=1e-9, atol=1e-12)
    delta = model(x)[torch.arange(8), t] - model(xr)[torch.arange(8), t]
    torch.testing.assert_close(ours.sum(1), delta, rtol=1e-9, atol=1e-12)


class FunctionalNet(nn.Module):
    """The same network as ``relu_net(True)`` but calling ReLU as a function and a method."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.l1, self.l2, self.l3 = seq[0], seq[2], seq[4]

    def forward(self, x):
        return self.l3(F.relu(self.l2(torch.relu(self.l1(x)))).relu())


class ReusedReluNet(nn.Module):
    """One nn.ReLU module called at two sites (a classic cause of wrong DeepLIFT)."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.l1, self.l2, self.l3 = seq[0], seq[2], seq[4]
        self.act = nn.ReLU()

    def forward(self, x):
        return self.l3(self.act(self.l2(self.act(self.l1(x)))))


class InplaceNet(nn.Module):
    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.l1, self.l2, self.l3 = seq[0], seq[2], seq[4]
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.act(self.l1(x))
        h2 = self.l2(h)
        h2.relu_()
        return self.l3(h2)


@pytest.mark.parametrize("wrapper", [FunctionalNet, ReusedReluNet, InplaceNet])
@pytest.mark.parametrize("name", ["deeplift_rescale", "epsilon_lrp"])
def test_functional_reused_and_inplace_relus_are_handled(wrapper, name):
    """torch.relu / F.relu / Tensor.relu calls, a reused module and in-place ReLUs give the
    same attributions as the plain nn.Sequential with one module per site (whose DeepLIFT
    is checked against the hand formula above and against Captum elsewhere)."""
    base = relu_net(bias=True, seed=5)
    variant = frozen(wrapper(base))
    x, t = batch(6)
    xr = torch.randn(8, 6) * 0.5
    expected = methods.get(name).attribute(base, x, t, xr)
    got = methods.get(name).attribute(variant, x, t, xr)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    plain = methods.get("input_x_gradient").attribute(base, x, t, xr)
    assert not torch.allclose(expected, plain) or name == "epsilon_lrp"


class SoftmaxInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.l2(torch.softmax(self.l1(x), dim=1))


@pytest.mark.parametrize("name", ["deeplift_rescale", "epsilon_lrp"])
def test_refuses_softmax_inside_model_and_names_the_place(name):
    """Softmax mixes units, so no multiplier exists (003 Eq. 5): refused with file:line."""
    x, t = batch()
    with pytest.raises(UnsupportedModelError, match=r"softmax at .*test_modified_gradient.py:\d+"):
        methods.get(name).attribute(frozen(SoftmaxInside()), x, t, None)


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.LSTM(6, 4, batch_first=True), nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.rnn(x.unsqueeze(1))[0][:, -1])


@pytest.mark.parametrize("name", ["deeplift_rescale", "epsilon_lrp"])
def test_refuses_fused_recurrent_modules(name):
    """LSTM gates run in a fused kernel the modified chain rule cannot reach: refused."""
    x, t = batch()
    with pytest.raises(UnsupportedModelError, match="rnn .*LSTM"):
        methods.get(name).attribute(frozen(LSTMNet()), x, t, None)


def test_lrp_epsilon_rule_by_hand_two_layers_with_bias():
    """003 Eq. 2 at ε = 0.5, worked by hand (ε in both layers' denominators, output included).

    x = (1, 2); hidden z = W₁x + b₁ with W₁ = [[1, 1], [2, −0.5]], b₁ = (0.5, 0) → z = (3.5, 1),
    ReLU a = (3.5, 1); output y = (1, −2)·a + 1 = 2.5, so r_y = 2.5.
    Output layer, denominator 2.5 + 0.5 = 3: r_a = (1·3.5, −2·1)/3 · 2.5 = (35/12, −5/3);
    the ReLU passes relevance on. Hidden layer, denominators 3.5 + 0.5 = 4 and 1 + 0.5 = 1.5:
    r_x1 = (1·1)/4·35/12 + (2·1)/1.5·(−5/3) = 35/48 − 20/9 = −215/144,
    r_x2 = (1·2)/4·35/12 + (−0.5·2)/1.5·(−5/3) = 35/24 + 10/9 = 185/72.
    """
    lin1, lin2 = nn.Linear(2, 2), nn.Linear(2, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, -0.5]]))
        lin1.bias.copy_(torch.tensor([0.5, 0.0]))
        lin2.weight.copy_(torch.tensor([[1.0, -2.0]]))
        lin2.bias.copy_(torch.tensor([1.0]))
    model = frozen(nn.Sequential(lin1, nn.ReLU(), lin2))
    attr = methods.get("epsilon_lrp", epsilon=0.5).attribute(model, torch.tensor([[1.0, 2.0]]), 0, None)
    torch.testing.assert_close(attr, torch.tensor([[-215 / 144, 185 / 72]]), rtol=1e-12, atol=1e-12)


def eq2_loop(model: nn.Sequential, x, t, eps: float):
    """A second implementation of 003 Eq. 2, layer by layer: r_in = x ⊙ Jᵀ(r_out / (z + ε·sign z))
    on every Linear, Conv2d and AvgPool2d (J the layer's weights), relevance passed unchanged
    through activations and Flatten; r at the top is the target logit."""
    acts = [x]
    for layer in model:
        acts.append(layer(acts[-1]))
    r = torch.zeros_like(acts[-1]).scatter_(1, t[:, None], acts[-1].gather(1, t[:, None]))
    for layer, a_in, z in zip(reversed(model), reversed(acts[:-1]), reversed(acts[1:])):
        if isinstance(layer, nn.Flatten):
            r = r.reshape(a_in.shape)
        elif isinstance(layer, (nn.Linear, nn.Conv2d, nn.AvgPool2d)):
            a = a_in.detach().requires_grad_(True)
            s = r / (z + eps * torch.where(z >= 0, 1.0, -1.0))
            (vjp,) = torch.autograd.grad(layer(a), a, s)
            r = a_in * vjp
    return r


def digits_like_cnn(activation) -> nn.Module:
    # the digits CNN's layout (attrbench/subjects/training.py): conv-act-conv-act-avgpool-flatten-linear-act-linear
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), activation(), nn.Conv2d(3, 4, 3, padding=1), activation(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 5), activation(), nn.Linear(5, 3))


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softplus])
@pytest.mark.parametrize("eps", [0.01, 0.5])
def test_lrp_matches_eq2_loop_with_avgpool_and_output_layer(activation, eps):
    """Against eq2_loop on a CNN with biases and average pooling, for every activation."""
    torch.manual_seed(3)
    model = frozen(digits_like_cnn(activation))
    x, t = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    expected = eq2_loop(model, x, t, eps)
    torch.testing.assert_close(methods.get("epsilon_lrp", epsilon=eps).attribute(model, x, t, None), expected)


def test_lrp_prop3_holds_as_epsilon_goes_to_zero():
    """003 Prop 3-i (ReLU, biases) and 3-ii (tanh, no biases) hold in the limit: at ε = 1e-9 the
    ε-rule is within ~ε/|z| of Gradient*Input and of DeepLIFT with a zero baseline."""
    x, t = batch()
    relu = relu_net(bias=True)
    lrp = methods.get("epsilon_lrp", epsilon=1e-9).attribute(relu, x, t, None)
    ixg = methods.get("input_x_gradient").attribute(relu, x, t, None)
    torch.testing.assert_close(lrp, ixg, rtol=1e-6, atol=1e-6)
    tanh = tanh_net()
    lrp = methods.get("epsilon_lrp", epsilon=1e-9).attribute(tanh, x, t, None)
    dl = methods.get("deeplift_rescale").attribute(tanh, x, t, None)
    torch.testing.assert_close(lrp, dl, rtol=1e-6, atol=1e-6)


def test_deeplift_output_bias_and_avgpool_keep_summation_to_delta():
    """DeepLIFT's multipliers of linear layers (output layer, average pooling) are their weights
    (Shrikumar et al. 2017 §3.5.1), so no ε-like term enters: Σ attribution = F(x) − F(x̄) on a
    CNN with biases and average pooling (the summation-to-delta property, computed directly)."""
    torch.manual_seed(4)
    model = frozen(digits_like_cnn(nn.Tanh))
    x, xr, t = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    attr = methods.get("deeplift_rescale").attribute(model, x, t, xr)
    delta = model(x).gather(1, t[:, None])[:, 0] - model(xr).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(attr.flatten(1).sum(1), delta, rtol=1e-10, atol=1e-10)


def test_deeplift_second_order_matches_finite_differences():
    """The attribution map is differentiable in x (needed by fragility attacks): gradcheck
    compares autograd's Jacobian of DeepLIFT and ε-LRP with central finite differences."""
    torch.manual_seed(9)
    model = frozen(nn.Sequential(nn.Linear(4, 5), nn.Softplus(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)))
    x = torch.randn(3, 4, requires_grad=True)
    xr = torch.randn(3, 4)
    for name, options in (("deeplift_rescale", {}), ("epsilon_lrp", {}), ("epsilon_lrp", {"epsilon": 0.25})):
        method = methods.get(name, **options)
        # gradcheck calls the function at once, within this iteration; method is bound as a
        # default so that is plain to see.
        assert torch.autograd.gradcheck(lambda v, method=method: method.attribute(model, v, 1, xr), (x,))


class MaxOfTwo(nn.Module):
    def forward(self, x):
        return torch.nn.functional.max_pool1d(x.unsqueeze(1), 2).squeeze(1)


def test_deeplift_max_unit_routes_to_argmax_and_is_not_complete():
    """003 Eq. 5 passes the gradient of a pooling unit to its arg-max: F = max(x₁, x₂) at
    x = (1, 0) with x̄ = (0, 2) gives (x − x̄) ⊙ (1, 0) = (1, 0), while ΔF = 1 − 2 = −1 (by
    hand). This is why DeepLIFT's completeness claim excludes subjects tagged ``max``."""
    x, baseline = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    attr = methods.get("deeplift_rescale").attribute(MaxOfTwo(), x, 0, baseline)
    torch.testing.assert_close(attr, torch.tensor([[1.0, 0.0]]))
    assert not methods.get("deeplift_rescale").claims_axiom("completeness", {"max"})
