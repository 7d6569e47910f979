"""DeepLIFT-Rescale and ε-LRP as modified-gradient backpropagation (003 §3, Props 1–2).

003 Eq. 5 writes both methods as the chain rule with the derivative f′ of every
elementwise nonlinearity replaced by

    g^DL(z)  = (f(z) − f(z̄)) / (z − z̄)     (Prop 2; z̄ = the same unit on the baseline)
    g^LRP(z) = f(z) / z                      (Prop 1; ε > 0: see :func:`epsilon_lrp`)

with the z → z̄ and z → 0 limits taken as f′ (f′ at the midpoint (z + z̄)/2, which
matches the secant to second order). DeepLIFT = (x − x̄) ⊙ ∂^g F/∂x, ε-LRP = x ⊙ ∂^g F/∂x.

How: a ``TorchFunctionMode`` intercepts every call of an elementwise nonlinearity while
the model runs — modules (``nn.ReLU``), functions (``F.relu``, ``torch.relu``) and tensor
methods (``h.relu()``) alike — and swaps its backward for g. Calls are matched to the
baseline pass by call order, not by module, so a module reused at several call sites gets
each site's own z̄. Operations the modified chain rule does not cover (softmax, layer
norm, recurrent or scripted modules whose internals Python cannot see) raise
:class:`UnsupportedModelError` naming the call site, rather than silently falling back
to the plain gradient.

Residual networks and batch norm. Eval-mode batch norm is the affine map of its running
statistics and a skip-connection merge z = a ± b is linear, so DeepLIFT's chain rule of
multipliers (Shrikumar et al. 2017 §3.5.1; 003 Eq. 5) passes both unchanged and
summation-to-delta holds on residual nets. ε-LRP treats each as a linear layer of 003 Eq. 2:
batch norm with its own ε (not folded into the preceding convolution) and a merge of two
same-shape tensors, neither a parameter, as a layer with weights ±1 and no bias, so
R_a = a/(z + ε·sign z)·R_z — ``a + b``, ``torch.add``, ``+=``, ``add_`` and ``−`` alike
(each binary merge its own layer). Global average pooling as ``x.mean(...)`` is a linear layer
as ``F.adaptive_avg_pool2d`` is. Batch norm on batch statistics (train mode, or no running
statistics) mixes the samples of a batch: refused. Linear maps written as tensor arithmetic
(``x @ W``, ``(x * w).sum(1)``, a bias added by hand after a bias-free ``F.linear``) keep the
plain chain rule, without ε.

Max units (max-pooling, ``torch.maximum``, max reductions) pass the gradient to the
arg-max, as 003 Eq. 5 does for pooling. Summation-to-delta then fails whenever the
arg-max differs between input and baseline (F = max(x₁, x₂), x = (1, 0), x̄ = (0, 2)
gives (1, 0) for ΔF = −1), so completeness is claimed ``unless max``.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from attrbench.errors import UnsupportedModelError
from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, chunks, expand_baseline, target_output
from attrbench.methods.registry import BATCH_SIZE_OPTION, Claim, Option, register_method

_T = torch.Tensor

#: In-place variants and the pure function computed in their place.
_INPLACE = {
    torch.relu_: torch.relu,
    _T.relu_: torch.relu,
    F.relu_: torch.relu,
    F.leaky_relu_: F.leaky_relu,
    F.elu_: F.elu,
    F.hardtanh_: F.hardtanh,
    torch.tanh_: torch.tanh,
    _T.tanh_: torch.tanh,
    torch.sigmoid_: torch.sigmoid,
    _T.sigmoid_: torch.sigmoid,
    _T.clamp_: torch.clamp,
    torch.clamp_: torch.clamp,
    _T.exp_: torch.exp,
    _T.abs_: torch.abs,
}

#: Elementwise nonlinearities whose derivative is replaced by g (003 Eq. 5).
ELEMENTWISE = set(_INPLACE) | {
    F.relu, torch.relu, _T.relu,
    F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish, F.softplus,
    F.hardtanh, F.relu6, F.hardsigmoid, F.hardswish, F.logsigmoid, F.softsign,
    F.tanhshrink, F.threshold, F.sigmoid, F.tanh,
    torch.tanh, _T.tanh, torch.sigmoid, _T.sigmoid,
    torch.exp, _T.exp, torch.log, _T.log, torch.abs, _T.abs, torch.sqrt, _T.sqrt,
    torch.sin, _T.sin, torch.cos, _T.cos, torch.erf, _T.erf,
    torch.clamp, _T.clamp, torch.clip, _T.clip, torch.clamp_min, _T.clamp_min,
    torch.clamp_max, _T.clamp_max, torch.square, _T.square,
    torch.pow, _T.pow, _T.__pow__,
}  # fmt: skip

#: Linear layers z = Σᵢ wᵢ xᵢ + b whose relevance rule carries ε (003 Eq. 2): ε-LRP with
#: ε > 0 stabilises the denominator of each, the output layer included.
LINEAR_LAYERS = {
    F.linear, F.conv1d, F.conv2d, F.conv3d,
    F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d,
    F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.batch_norm,
    torch.mean, _T.mean,  # x.mean((2, 3)): global average pooling written as a reduction
}  # fmt: skip

#: z = a ± b of two activation tensors (a skip-connection merge): a linear layer with weights
#: ±1 and no bias, so ε-LRP puts ε in its denominator too (003 Eq. 2); out-of-place form of each.
MERGES = {
    torch.add: torch.add, _T.add: torch.add, _T.__add__: torch.add, _T.__radd__: torch.add,
    torch.sub: torch.sub, _T.sub: torch.sub, _T.__sub__: torch.sub,
}  # fmt: skip
INPLACE_MERGES = {_T.add_: torch.add, _T.__iadd__: torch.add, _T.sub_: torch.sub, _T.__isub__: torch.sub}

#: Operations outside the modified chain rule's scope: refused, with the reason.
_NOT_ELEMENTWISE = "it mixes several units, so no per-unit multiplier g exists (003 Eq. 5)"
REFUSED = {
    F.softmax: _NOT_ELEMENTWISE, torch.softmax: _NOT_ELEMENTWISE, _T.softmax: _NOT_ELEMENTWISE,
    F.log_softmax: _NOT_ELEMENTWISE, torch.log_softmax: _NOT_ELEMENTWISE,
    _T.log_softmax: _NOT_ELEMENTWISE, F.softmin: _NOT_ELEMENTWISE,
    F.layer_norm: _NOT_ELEMENTWISE, F.group_norm: _NOT_ELEMENTWISE, F.instance_norm: _NOT_ELEMENTWISE,
    F.normalize: _NOT_ELEMENTWISE, F.glu: _NOT_ELEMENTWISE,
}  # fmt: skip

#: Modules whose internals run outside Python, where no call can be intercepted.
OPAQUE_MODULES = (nn.RNNBase, nn.MultiheadAttention, nn.Transformer, torch.jit.ScriptModule)

_SIGNATURES: dict[Callable, inspect.Signature | None] = {}


def _signature(func: Callable) -> inspect.Signature | None:
    if func not in _SIGNATURES:
        try:
            _SIGNATURES[func] = inspect.signature(func)
        except (TypeError, ValueError):
            _SIGNATURES[func] = None
    return _SIGNATURES[func]


def _pure_call(func: Callable, args: tuple, kwargs: dict) -> tuple[Tensor, Callable[[Tensor], Tensor], bool] | None:
    """(z, f, in_place) with f the pure elementwise map z ↦ func(z, *rest); None when the
    call is not elementwise in its first argument (e.g. a tensor-valued exponent)."""
    in_place = func in _INPLACE
    pure = _INPLACE.get(func, func)
    sig = _signature(pure)
    if sig is not None and "inplace" in sig.parameters:
        bound = sig.bind(*args, **kwargs)
        in_place = in_place or bool(bound.arguments.get("inplace", False))
        bound.arguments["inplace"] = False
        args, kwargs = bound.args, bound.kwargs
    z, rest = args[0], args[1:]
    if not isinstance(z, Tensor) or any(isinstance(a, Tensor) for a in (*rest, *kwargs.values())):
        return None
    return z, (lambda t: pure(t, *rest, **kwargs)), in_place


def _is_merge(args: tuple, kwargs: dict) -> bool:
    """a ± b of two same-shape tensors, neither a parameter (a bias added by hand is not a merge)."""
    if len(args) != 2 or not set(kwargs) <= {"alpha"}:
        return False
    a, b = args
    return (
        isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape
        and not isinstance(a, nn.Parameter) and not isinstance(b, nn.Parameter)
    )  # fmt: skip


def _batch_norm_training(args: tuple, kwargs: dict) -> bool:
    """True when an ``F.batch_norm`` call normalises with the batch's own statistics."""
    return bool(_signature(F.batch_norm).bind(*args, **kwargs).arguments.get("training", False))


def _call_site() -> str:
    """file:line of the innermost frame outside torch and attrbench (the model's code)."""
    here = os.path.dirname(os.path.dirname(__file__))
    torch_dir = os.path.dirname(torch.__file__)
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith((here, torch_dir)):
            return f"{frame.filename}:{frame.lineno} ({frame.line})"
    return "an unknown place"


def _name(func: Callable) -> str:
    module = getattr(func, "__module__", None) or "torch.Tensor"
    return f"{module}.{getattr(func, '__name__', func)}"


def derivative(f: Callable[[Tensor], Tensor], at: Tensor) -> Tensor:
    """f′ elementwise at ``at``; keeps a graph when ``at`` has one (for second order)."""
    with torch.enable_grad():
        p = at if at.requires_grad else at.detach().requires_grad_(True)
        (d,) = torch.autograd.grad(f(p).sum(), p, create_graph=at.requires_grad)
    return d


def _tolerance(z: Tensor, *others: Tensor) -> Tensor:
    """Where |z − z̄| (or |z|) is below this, the secant is replaced by f′."""
    scale = 1 + z.detach().abs()
    for o in others:
        scale = scale + o.abs()
    return torch.finfo(z.dtype).eps ** 0.5 * scale


class _Multiplier(torch.autograd.Function):
    """Zero in the forward pass; multiplies the incoming gradient by g in the backward."""

    @staticmethod
    def forward(ctx, z, g):
        ctx.save_for_backward(g)
        return torch.zeros_like(z)

    @staticmethod
    def backward(ctx, grad):
        (g,) = ctx.saved_tensors
        return grad * g, None


class _Scale(torch.autograd.Function):
    """The identity in the forward pass; multiplies the incoming gradient by s in the backward."""

    @staticmethod
    def forward(ctx, z, s):
        ctx.save_for_backward(s)
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s, None


def _sign(z: Tensor) -> Tensor:
    """sign z with sign 0 = +1 (the stabiliser never cancels the denominator)."""
    return torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


class _ModifiedGradientMode(TorchFunctionMode):
    """Runs a model with the backward of each elementwise nonlinearity replaced.

    ``rule(f, z, out, k, func, stabilised)`` returns g for the k-th nonlinearity call;
    ``stabilised`` says that z is the output of a linear layer whose ε already sits in g.
    With ``epsilon`` > 0, the output z of every linear layer (LINEAR_LAYERS, MERGES) not consumed by a
    nonlinearity gets the multiplier z/(z + ε·sign z) (003 Eq. 2; see :func:`epsilon_lrp`).
    With ``record=True`` the mode only records (z, f(z)) of every nonlinearity call and the
    output of every linear layer — the baseline pass of DeepLIFT, the plain pass of second order.
    """

    def __init__(self, method: str, rule=None, record: bool = False, plain=None, epsilon: float = 0.0):
        super().__init__()
        self.method, self.rule, self.record, self.epsilon = method, rule, record, epsilon
        self.plain = plain  # _ModifiedGradientMode that recorded an unmodified pass, with graph to x
        self.calls: list[tuple[Tensor, Tensor]] = []
        self.linear_outputs: list[Tensor] = []
        # id(scaled z) -> (scaled z, raw z, scaled z's version: an in-place change voids the entry)
        self.stabilised: dict[int, tuple[Tensor, Tensor, int]] = {}
        self.count = self.linear_count = 0

    def _linear(self, z: Tensor) -> Tensor:
        """A linear layer's output z: recorded, or scaled by z/(z + ε·sign z) in the backward."""
        if self.record:
            if self.epsilon > 0:  # only ε-LRP's plain pass needs them
                self.linear_outputs.append(z if torch.is_grad_enabled() else z.detach())
            return z
        k, self.linear_count = self.linear_count, self.linear_count + 1
        if self.epsilon <= 0 or not z.requires_grad:
            return z
        z_g = self.plain.linear_outputs[k] if self.plain is not None else z
        scaled = _Scale.apply(z, z_g / (z_g + self.epsilon * _sign(z_g)))
        self.stabilised[id(scaled)] = (scaled, z, scaled._version)
        return scaled

    def _merge(self, func, args: tuple, kwargs: dict) -> Tensor:
        """a ± b as a linear layer (:meth:`_linear`); in place, the stabilised sum is copied
        into a, and a nonlinearity reading a then reads the unscaled sum, as after any layer."""
        if func in MERGES:
            return self._linear(MERGES[func](*args, **kwargs))
        z = self._linear(INPLACE_MERGES[func](*args, **kwargs))
        a = args[0].copy_(z)
        if id(z) in self.stabilised:
            self.stabilised[id(a)] = (a, self.stabilised[id(z)][1], a._version)
        return a

    def _stabilised_raw(self, z: Tensor) -> Tensor | None:
        """The unscaled output of the linear layer whose scaled output is z, if z is one."""
        scaled, raw, version = self.stabilised.get(id(z), (None, None, None))
        return raw if scaled is z and version == z._version else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in REFUSED and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            raise UnsupportedModelError(
                f"{self.method} cannot attribute through {_name(func)} at {_call_site()}: "
                f"{REFUSED[func]}. Attribute the model's logits (move {_name(func)} out of the "
                "model) or use a gradient or path method."
            )
        if func is F.batch_norm and _batch_norm_training(args, kwargs):
            raise UnsupportedModelError(
                f"{self.method} cannot attribute through batch norm on batch statistics (training=True) "
                f"at {_call_site()}: each sample's output depends on the other samples of the batch, so "
                "no per-sample multiplier exists (and the call would update the running statistics). Put "
                "the model in eval mode (model.eval()), with running statistics (track_running_stats=True), "
                "so that batch norm is the fixed affine map of its running statistics."
            )
        if func in LINEAR_LAYERS:
            return self._linear(func(*args, **kwargs))
        if (func in MERGES or func in INPLACE_MERGES) and self.epsilon > 0 and _is_merge(args, kwargs):
            return self._merge(func, args, kwargs)
        call = _pure_call(func, args, kwargs) if func in ELEMENTWISE else None
        if call is None:
            return func(*args, **kwargs)
        z, f, in_place = call
        raw = self._stabilised_raw(z)
        stabilised = raw is not None
        # after a linear layer, f reads the unscaled z: its ε goes into g instead (Eq. 2)
        source = raw if stabilised else z.clone() if in_place else z
        out = f(source)
        if self.record:
            self.calls.append((source, out) if torch.is_grad_enabled() else (source.detach(), out.detach()))
        else:
            k, self.count = self.count, self.count + 1
            if source.requires_grad:
                # g from the unmodified pass when one exists, so that derivatives of the
                # attribution map see the true f' in the forward graph (second order).
                z_g, out_g = self.plain.calls[k] if self.plain is not None else (source, out)
                g = self.rule(f, z_g, out_g, k, func, stabilised)
                out = out.detach() + _Multiplier.apply(source, g)
        return z.copy_(out) if in_place else out


def refuse_opaque(model: nn.Module, method: str) -> None:
    """Refuse models with modules whose nonlinearities Python cannot intercept."""
    if not isinstance(model, nn.Module):
        return  # a plain function: every call it makes goes through the function mode
    for name, module in model.named_modules():
        if isinstance(module, OPAQUE_MODULES):
            raise UnsupportedModelError(
                f"{method} cannot attribute through module {name or '<root>'} "
                f"({type(module).__name__}): its nonlinearities run inside a fused kernel "
                "where the modified chain rule cannot replace their derivatives."
            )


def _modified_gradient(
    model, x: Tensor, targets: Tensor, method: str, make_rule, reference: Tensor | None, epsilon: float = 0.0
):
    """∂^g F/∂x for one chunk; ``make_rule(calls)`` builds the rule from the baseline pass."""
    calls: list[tuple[Tensor, Tensor]] = []
    if reference is not None:
        recorder = _ModifiedGradientMode(method, record=True)
        with torch.no_grad(), recorder:
            model(reference)
        calls = recorder.calls
    create_graph = x.requires_grad
    with torch.enable_grad():
        xi = x if create_graph else x.detach().requires_grad_(True)
        plain = None
        if create_graph:  # an unmodified pass whose (z, f(z)) carry true derivatives to x
            recorder = _ModifiedGradientMode(method, record=True, epsilon=epsilon)
            with recorder:
                model(xi)
            plain = recorder
        mode = _ModifiedGradientMode(method, rule=make_rule(calls), plain=plain, epsilon=epsilon)
        with mode:
            out = target_output(model, xi, targets)
        if reference is not None and mode.count != len(calls):
            raise UnsupportedModelError(
                f"{method}: the model called {mode.count} nonlinearities on the input but "
                f"{len(calls)} on the baseline; DeepLIFT needs the same computation on both."
            )
        (g,) = torch.autograd.grad(out.sum(), xi, create_graph=create_graph)
    return g


def _deeplift_rule(calls: list[tuple[Tensor, Tensor]]):
    def rule(f, z, out, k, func, _stabilised):
        if k >= len(calls) or calls[k][0].shape != z.shape:
            got = "no such call" if k >= len(calls) else f"shape {tuple(calls[k][0].shape)}"
            raise UnsupportedModelError(
                f"deeplift_rescale: nonlinearity call #{k} ({_name(func)} at {_call_site()}) "
                f"saw shape {tuple(z.shape)} on the input but {got} on the baseline; "
                "DeepLIFT needs the same computation graph for input and baseline."
            )
        z_ref, f_ref = calls[k]
        diff = z - z_ref
        far = diff.detach().abs() > _tolerance(z, z_ref)
        secant = (out - f_ref) / torch.where(far, diff, torch.ones_like(diff))
        if bool(far.all()):
            return secant
        return torch.where(far, secant, derivative(f, (z + z_ref) / 2))

    return rule


def _lrp_rule(epsilon: float):
    """g = f(z)/(z + ε·sign z) where z is a linear layer's output (Eq. 2's denominator);
    f(z)/z elsewhere, so that an activation passes its relevance on unchanged."""

    def make(_calls):
        def rule(f, z, out, k, func, stabilised):
            if epsilon > 0 and stabilised:
                return out / (z + epsilon * _sign(z))
            far = z.detach().abs() > _tolerance(z)
            ratio = out / torch.where(far, z, torch.ones_like(z))
            if bool(far.all()):
                return ratio
            return torch.where(far, ratio, derivative(f, z))

        return rule

    return make


@register_method(
    "deeplift_rescale",
    claims=(
        Claim("completeness", frozenset({"multiplicative", "max"})),
        Claim("sensitivity_a", frozenset({"multiplicative", "max"})),
        "linearity",
    ),
    needs_baseline=True,
    kind="modified_gradient",
    reference="Shrikumar et al. 2017 (Rescale rule); 003 Prop 2 and Table 1",
    options={"internal_batch_size": BATCH_SIZE_OPTION},
)
def deeplift_rescale(model, x, target, baseline, *, internal_batch_size: int | None = DEFAULT_BATCH_SIZE):
    """DeepLIFT-Rescale: (x − x̄) ⊙ ∂^g F/∂x with g = (f(z) − f(z̄))/(z − z̄) (003 Prop 2).

    Claims: summation-to-delta (completeness) holds when every path is a product of
    weights and multipliers, i.e. without multiplicative units (003 §3.1 gives
    h = ReLU(x₁−1)·ReLU(x₂) as the counterexample), hence ``unless multiplicative``,
    and without max units whose arg-max moves (see the module docstring), hence ``max``;
    sensitivity(a) follows from completeness (only the differing feature has x − x̄ ≠ 0);
    the modified chain rule is linear in the output, so linearity holds. DeepLIFT is not
    implementation invariant (Sundararajan et al. 2017 §3), so that is not claimed.
    """
    refuse_opaque(model, "deeplift_rescale")
    b = expand_baseline(baseline, x)
    t = as_targets(target, len(x), x.device)
    grads = [
        _modified_gradient(model, x[s], t[s], "deeplift_rescale", _deeplift_rule, b[s])
        for s in chunks(len(x), internal_batch_size)
    ]
    return (x - b) * torch.cat(grads)


@register_method(
    "epsilon_lrp",
    claims=(
        Claim(
            "completeness",
            frozenset({"bias", "batchnorm", "nonzero_at_origin", "nonzero_baseline", "multiplicative", "max"}),
        ),
        "linearity",
    ),
    needs_baseline=False,
    kind="modified_gradient",
    reference="Bach et al. 2015 (ε-rule); 003 Prop 1, Prop 3 and Table 1",
    options={"epsilon": Option(float, low=0), "internal_batch_size": BATCH_SIZE_OPTION},
)
def epsilon_lrp(
    model, x, target, baseline, *, epsilon: float = 0.0, internal_batch_size: int | None = DEFAULT_BATCH_SIZE
):
    """ε-LRP with the ε-rule of 003 Eq. 2 (Bach et al. 2015 Eq. 58) on every linear layer:

        r_i = Σ_j z_ji / (z_j + ε·sign z_j) · r_j,   z_ji = w_ji x_i,  z_j = Σ_i z_ji + b_j,

    starting from r_c = F(x) (the target logit) and with activations passing relevance on
    unchanged. ε sits in the denominator of every linear layer in LINEAR_LAYERS (linear,
    convolution, average pooling and means, batch norm) and of every merge a ± b (MERGES) —
    the output layer included — and nowhere else (sign 0 = +1). As a modified gradient
    (Prop 1) this is x ⊙ ∂^g F/∂x with g = f(z)/(z + ε·sign z) at a nonlinearity fed by a
    linear layer, f(z)/z at any other nonlinearity, and z/(z + ε·sign z) on a linear layer's
    output that no nonlinearity consumes (the output layer, average pooling, linear → linear).
    ε = 0 is the ε → 0 limit, with f′ where z → 0. Other operations (max pooling: arg-max,
    sums, reshapes) keep their plain chain rule, as in 003 Eq. 5.

    Claims: by Prop 3-ii ε-LRP equals DeepLIFT with a zero baseline on networks without
    biases whose nonlinearities satisfy f(0) = 0, so it inherits completeness there
    (relative to the zero baseline), hence ``unless`` bias, batchnorm (its shift β − γμ/σ is a
    bias even beside bias-free convolutions), nonzero_at_origin, nonzero_baseline,
    multiplicative and max; skip connections keep it (a merge adds no bias). Linear in the
    output, so linearity holds. The baseline argument is not used.
    """
    refuse_opaque(model, "epsilon_lrp")
    t = as_targets(target, len(x), x.device)
    grads = [
        _modified_gradient(model, x[s], t[s], "epsilon_lrp", _lrp_rule(epsilon), None, epsilon)
        for s in chunks(len(x), internal_batch_size)
    ]
    return x * torch.cat(grads)
