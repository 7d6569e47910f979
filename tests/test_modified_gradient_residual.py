"""DeepLIFT-Rescale and ε-LRP on a small residual network with batch norm (003 §3, Eq. 2).

Expectations: summation-to-delta computed directly from F (DeepLIFT's multipliers of additions
and eval-mode batch norm are their weights, Shrikumar et al. 2017 §3.5.1); a second, node-by-node
implementation of 003 Eq. 2 (:class:`RelevanceTape`) in which every linear node — convolution,
batch norm as the affine map of its running statistics, average pooling, the output layer and
the skip-connection merge z = a + b — has ε in its denominator; 003 Prop 3-i as ε → 0 and
Euler's theorem on a bias-free ReLU residual net.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench import methods
from attrbench.errors import ModelStateError, UnsupportedModelError
from attrbench.methods import modified_gradient

pytestmark = pytest.mark.usefixtures("float64")


class Block(nn.Module):
    """A basic block, conv-BN-ReLU-conv-BN plus the shortcut, then ReLU; one ReLU module called
    at both sites (as torchvision's BasicBlock does). ``shortcut``: a 1×1 conv + BN projection
    when the stride or the width changes, else the identity."""

    def __init__(self, cin: int, cout: int, stride: int, inplace: bool):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu, self.inplace = nn.ReLU(), inplace
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.inplace:
            out += identity
        else:
            out = out + identity
        return self.relu(out)


class ResNet(nn.Module):
    """Stem conv+BN+ReLU, an identity block, a stride-2 projection block, global average
    pooling (``F.adaptive_avg_pool2d`` or ``x.mean((2, 3))``) and a linear head."""

    def __init__(self, inplace: bool = False, gap: str = "adaptive", bias: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=bias), nn.BatchNorm2d(4), nn.ReLU())
        self.block1, self.block2 = Block(4, 4, 1, inplace), Block(4, 6, 2, inplace)
        self.head, self.gap = nn.Linear(6, 3, bias=bias), gap

    def pool(self, h):
        return F.adaptive_avg_pool2d(h, 1).flatten(1) if self.gap == "adaptive" else h.mean((2, 3))

    def forward(self, x):
        return self.head(self.pool(self.block2(self.block1(self.stem(x)))))


def resnet(seed: int = 0, bias: bool = True, bn_shift: bool | None = None, **kwargs) -> ResNet:
    """Eval mode with non-trivial batch-norm statistics set by hand. ``bias``: the stem conv and
    the head have biases; ``bn_shift`` (default: ``bias``): batch norm has a running mean and β,
    else it only scales (running mean 0, β = 0), so ``bias=False`` makes the whole net bias-free."""
    torch.manual_seed(seed)
    model = ResNet(bias=bias, **kwargs)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.copy_(1 + 0.3 * torch.randn_like(bn.weight))
            if bias if bn_shift is None else bn_shift:
                bn.running_mean.copy_(0.3 * torch.randn_like(bn.running_mean))
                bn.bias.copy_(0.2 * torch.randn_like(bn.bias))
            else:
                bn.bias.zero_()
    return model.eval().requires_grad_(False)


def inputs(seed: int = 1, n: int = 5):
    torch.manual_seed(seed)
    return torch.randn(n, 2, 6, 6), torch.arange(n) % 3, 0.5 * torch.randn(n, 2, 6, 6)


VARIANTS = [dict(inplace=False, gap="adaptive"), dict(inplace=True, gap="mean")]


def _stab(z, eps: float):
    return z + eps * torch.where(z >= 0, 1.0, -1.0)


class RelevanceTape:
    """003 Eq. 2 node by node: the forward pass records each node; the backward pass visits them
    in reverse, r_i = Σ_j a_i ∂z_j/∂a_i / (z_j + ε·sign z_j) · r_j at every linear node z = fn(a, ...)
    (bias inside z), relevance passed unchanged through ReLU, and summed where a tensor fans out."""

    def __init__(self, eps: float):
        self.eps, self.nodes = eps, []

    def linear(self, fn, *args):
        z = fn(*args)
        self.nodes.append((fn, args, z))
        return z

    def relu(self, z, fn=torch.relu):
        """A node that passes relevance on unchanged (ReLU; ``fn``: any elementwise map)."""
        a = fn(z)
        self.nodes.append((None, (z,), a))
        return a

    def relevance(self, x, out, r_out):
        r = {id(out): r_out}
        for fn, args, z in reversed(self.nodes):
            r_z = r.pop(id(z))
            if fn is None:
                shares = (r_z,)
            else:
                leaves = [a.detach().requires_grad_(True) for a in args]
                vjps = torch.autograd.grad(fn(*leaves), leaves, r_z / _stab(z, self.eps))
                shares = tuple(a * v for a, v in zip(args, vjps))
            for a, share in zip(args, shares):
                r[id(a)] = r.get(id(a), 0) + share
        return r[id(x)]


def _bn_affine(bn: nn.BatchNorm2d):
    """Eval-mode batch norm as a per-channel affine map a·w + b, from its running statistics."""
    w = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bn.bias - bn.running_mean * w
    return lambda a: a * w[:, None, None] + b[:, None, None]


def _block(tape: RelevanceTape, block: Block, a):
    h = tape.relu(tape.linear(_bn_affine(block.bn1), tape.linear(block.conv1, a)))
    out = tape.linear(_bn_affine(block.bn2), tape.linear(block.conv2, h))
    identity = a
    if block.shortcut is not None:
        identity = tape.linear(_bn_affine(block.shortcut[1]), tape.linear(block.shortcut[0], a))
    return tape.relu(tape.linear(torch.add, out, identity))


def lrp_by_hand(model: ResNet, x, t, eps: float):
    """ε-LRP of ``model`` for targets t, by :class:`RelevanceTape` (relevance at the top: the
    target logit); also returns the tape's logits, to check it computed the model."""
    tape = RelevanceTape(eps)
    h = tape.relu(tape.linear(_bn_affine(model.stem[1]), tape.linear(model.stem[0], x)))
    h = _block(tape, model.block2, _block(tape, model.block1, h))
    y = tape.linear(model.head, tape.linear(lambda a: a.mean((2, 3)), h))
    r_top = torch.zeros_like(y).scatter_(1, t[:, None], y.gather(1, t[:, None]))
    return tape.relevance(x, y, r_top), y


@pytest.mark.parametrize("variant", VARIANTS, ids=["add-adaptive", "iadd-mean"])
def test_deeplift_summation_to_delta_on_residual_net_with_batchnorm(variant):
    """Σ attribution = F(x) − F(x̄) with a random non-zero baseline (F computed directly): the
    chain rule of multipliers passes additions and eval-mode batch norm (affine) unchanged."""
    model = resnet(**variant)
    x, t, xr = inputs()
    attr = methods.get("deeplift_rescale").attribute(model, x, t, xr)
    delta = model(x).gather(1, t[:, None])[:, 0] - model(xr).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(attr.flatten(1).sum(1), delta, rtol=1e-10, atol=1e-10)
    plain = methods.get("input_x_gradient").attribute(model, x - xr, t, None)
    assert not torch.allclose(attr, plain)  # the Rescale multipliers are not the gradient here


@pytest.mark.parametrize("variant", VARIANTS, ids=["add-adaptive", "iadd-mean"])
@pytest.mark.parametrize("eps", [0.01, 0.5])
def test_lrp_matches_node_by_node_eq2_on_residual_net(variant, eps):
    """Against :func:`lrp_by_hand`: ε sits in the denominator of every linear node, the
    skip-connection merge included (R_a = a/(z + ε·sign z)·R_z at z = a + b), whether the merge
    is written ``out + identity`` or ``out += identity`` and the pooling as a function or a mean."""
    model = resnet(**variant)
    x, t, _ = inputs(2)
    expected, logits = lrp_by_hand(model, x, t, eps)
    torch.testing.assert_close(logits, model(x), rtol=1e-12, atol=1e-12)
    got = methods.get("epsilon_lrp", epsilon=eps).attribute(model, x, t, None)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_lrp_as_epsilon_goes_to_zero_on_residual_net():
    """003 Prop 3-i (ReLUs only: g^LRP = f′) at ε = 1e-9 on the residual net with biases: within
    ~ε/|z| of Gradient×Input. On the bias-free variant, ReLU nets are positively homogeneous, so
    by Euler's theorem Σ x·∂F/∂x = F(x) (F(0) = 0): ε-LRP at ε = 0 sums to F(x)."""
    x, t, _ = inputs(3)
    model = resnet()
    lrp = methods.get("epsilon_lrp", epsilon=1e-9).attribute(model, x, t, None)
    ixg = methods.get("input_x_gradient").attribute(model, x, t, None)
    torch.testing.assert_close(lrp, ixg, rtol=1e-6, atol=1e-6)
    free = resnet(bias=False, inplace=True, gap="mean")
    lrp = methods.get("epsilon_lrp").attribute(free, x, t, None)
    torch.testing.assert_close(lrp.flatten(1).sum(1), free(x).gather(1, t[:, None])[:, 0], rtol=1e-10, atol=1e-10)


def test_completeness_claims_on_batchnorm_subjects():
    """DeepLIFT claims completeness on residual nets with eval-mode batch norm (tested above);
    ε-LRP does not (``unless batchnorm``): batch norm adds β − γμ/σ, a bias even where every conv
    and the head are bias-free, so ε-LRP (relative to the zero input, 003 Prop 3-ii) misses
    F(x) − F(0) here, by more than the 1e-6 that float64 round-off could explain."""
    model = resnet(bias=False, bn_shift=True)
    x, t, _ = inputs(4)
    delta = model(x).gather(1, t[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    lrp = methods.get("epsilon_lrp").attribute(model, x, t, None).flatten(1).sum(1)
    assert float((lrp - delta).abs().max()) > 1e-6
    dl = methods.get("deeplift_rescale").attribute(model, x, t, torch.zeros_like(x)).flatten(1).sum(1)
    torch.testing.assert_close(dl, delta, rtol=1e-10, atol=1e-10)
    assert methods.get("deeplift_rescale").claims_axiom("completeness", {"batchnorm", "relu", "image"})
    assert not methods.get("epsilon_lrp").claims_axiom("completeness", {"batchnorm", "relu", "image"})


class TwoBranches(nn.Module):
    """z = ReLU(l1 x) − ReLU(l2 x) + l3 x, merged as ``a - b`` then in place with ``add_``."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3, self.l4 = nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        z = torch.relu(self.l1(x)) - torch.relu(self.l2(x))
        z.add_(self.l3(x))
        return self.l4(torch.relu(z))


@pytest.mark.parametrize("eps", [0.01, 0.5])
def test_lrp_subtraction_and_inplace_merges_match_eq2(eps):
    """Against :class:`RelevanceTape` on :class:`TwoBranches`: a − b is a linear node with
    weights (1, −1), the in-place ``add_`` another."""
    torch.manual_seed(6)
    model = TwoBranches().eval().requires_grad_(False)
    x, t = torch.randn(5, 6), torch.arange(5) % 3
    tape = RelevanceTape(eps)
    a, b = (tape.relu(tape.linear(layer, x)) for layer in (model.l1, model.l2))
    z = tape.linear(torch.add, tape.linear(torch.sub, a, b), tape.linear(model.l3, x))
    y = tape.linear(model.l4, tape.relu(z))
    torch.testing.assert_close(y, model(x), rtol=1e-12, atol=1e-12)
    expected = tape.relevance(x, y, torch.zeros_like(y).scatter_(1, t[:, None], y.gather(1, t[:, None])))
    got = methods.get("epsilon_lrp", epsilon=eps).attribute(model, x, t, None)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_second_order_through_merges_matches_finite_differences():
    """The attribution map stays differentiable in x through merges (the plain pass counts them as
    the modified pass does), the in-place ``add_`` onto a merge's output included: gradcheck
    compares autograd's Jacobian with central finite differences on :class:`TwoBranches`."""
    torch.manual_seed(7)
    model = TwoBranches().eval().requires_grad_(False)
    x, xr = torch.randn(2, 6, requires_grad=True), torch.randn(2, 6)
    for name, options in (("deeplift_rescale", {}), ("epsilon_lrp", {"epsilon": 0.25})):
        method = methods.get(name, **options)
        assert torch.autograd.gradcheck(lambda v, method=method: method.attribute(model, v, 1, xr), (x,))


class ScaledInPlace(nn.Module):
    """A linear layer's output changed in place (``mul_``) before its ReLU reads it."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        z = self.l1(x)
        z.mul_(2.0)
        return self.l2(torch.relu(z))


def test_lrp_sees_inplace_change_of_a_layer_output():
    """ε-LRP's ReLU after a linear layer reads the layer's unscaled output — unless it was changed
    in place since (here ×2, which keeps the plain chain rule and passes relevance on): against
    :class:`RelevanceTape`, so the ReLU must read 2·z, not z."""
    torch.manual_seed(8)
    model = ScaledInPlace().eval().requires_grad_(False)
    x, t = torch.randn(5, 6), torch.arange(5) % 3
    tape = RelevanceTape(0.5)
    h = tape.relu(tape.relu(tape.linear(model.l1, x), fn=lambda z: 2 * z))
    y = tape.linear(model.l2, h)
    torch.testing.assert_close(y, model(x), rtol=1e-12, atol=1e-12)
    expected = tape.relevance(x, y, torch.zeros_like(y).scatter_(1, t[:, None], y.gather(1, t[:, None])))
    got = methods.get("epsilon_lrp", epsilon=0.5).attribute(model, x, t, None)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def _batch_stats_resnet() -> ResNet:
    """The residual net in eval mode whose stem batch norm keeps no running statistics, so it
    normalises with the batch's own even in eval mode (F.batch_norm is called with training=True)."""
    model = resnet()
    model.stem[1] = nn.BatchNorm2d(4, track_running_stats=False)
    return model.eval().requires_grad_(False)


@pytest.mark.parametrize("name", ["deeplift_rescale", "epsilon_lrp"])
def test_refuses_batchnorm_with_batch_statistics(name):
    """Batch norm on batch statistics mixes the samples of a batch, so no per-sample multiplier
    exists: refused with UnsupportedModelError naming the call site and the fix — whether the
    model is in eval mode with a batch norm that keeps no running statistics, or in train mode
    and handed to the method function directly (``Method.attribute`` already refuses a train-mode
    model with ModelStateError) — before any running statistic is updated."""
    x, t, xr = inputs()
    pattern = r"batch statistics \(training=True\) at .*test_modified_gradient_residual.py:\d+.*eval mode"
    with pytest.raises(UnsupportedModelError, match=pattern):
        methods.get(name).attribute(_batch_stats_resnet(), x, t, xr)
    model = resnet().train()
    before = model.stem[1].running_mean.clone()
    with pytest.raises(UnsupportedModelError, match=pattern):
        getattr(modified_gradient, name)(model, x, t, xr)
    torch.testing.assert_close(model.stem[1].running_mean, before, rtol=0, atol=0)
    with pytest.raises(ModelStateError, match=r"model.eval\(\)"):
        methods.get(name).attribute(model, x, t, xr)
