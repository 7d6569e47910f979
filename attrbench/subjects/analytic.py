"""Analytic subjects: small models whose attributions or properties are known exactly.

Each factory is seeded, so a subject is the same on every machine and run. The suites and
their documentation refer to these names; ``truth`` records what a check may compare to.
Paper numbers are the file prefixes in ``shared/papers`` (002 Lundstrom et al., 003 Ancona
et al.).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.subjects.registry import Subject, freeze, register_subject

#: Samples per analytic subject.
N_SAMPLES = 32


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(shape, lo: float, hi: float, gen: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


class Product(nn.Module):
    """F = x₁x₂ as a one-output model."""

    def forward(self, x: Tensor) -> Tensor:
        return (x[:, 0] * x[:, 1]).unsqueeze(1)


class ProductSquared(nn.Module):
    """F = x₁x₂² as a one-output model."""

    def forward(self, x: Tensor) -> Tensor:
        return (x[:, 0] * x[:, 1] ** 2).unsqueeze(1)


class MaxAbsDiff(nn.Module):
    """F = max(y₂ − y₁, y₁ − y₂) as a max unit."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.maximum(x[:, 1] - x[:, 0], x[:, 0] - x[:, 1]).unsqueeze(1)


# -- linear models (003 Prop 4) ---------------------------------------------------------


def _linear(name: str, bias: bool, seed: int) -> Subject:
    gen = _generator(seed)
    d, c = 8, 3
    model = nn.Linear(d, c, bias=bias)
    with torch.no_grad():
        model.weight.copy_(torch.randn(c, d, generator=gen))
        if bias:
            model.bias.copy_(torch.randn(c, generator=gen))
    x = _uniform((N_SAMPLES, d), -1, 1, gen)
    targets = torch.randint(c, (N_SAMPLES,), generator=gen)
    truth = {"weight": model.weight.detach().clone(), "bias": model.bias.detach().clone() if bias else None}
    return Subject(
        name, model, x, targets, torch.zeros(d), (-1.0, 1.0),
        frozenset({"linear", "smooth"} | ({"bias"} if bias else set())), truth,
        "affine model: every Table 1 method gives a_i (x_i - x'_i) (003 Prop 4)",
    )  # fmt: skip


@register_subject("analytic/linear", tags={"linear", "smooth", "bias"})
def linear() -> Subject:
    """Random affine model with bias; all Table 1 methods equal a_i·x_i here (003 Prop 4)."""
    return _linear("analytic/linear", True, 1)


@register_subject("analytic/linear_nobias", tags={"linear", "smooth"})
def linear_nobias() -> Subject:
    """Random linear model without bias (003 Prop 4; Prop 3-ii's bias-free condition)."""
    return _linear("analytic/linear_nobias", False, 2)


# -- closed forms from 002 ---------------------------------------------------------------


@register_subject(
    "analytic/product",
    tags={"multiplicative", "smooth", "monotone"},
    description="F = x1 x2 on [0,1]^2 (002 App. C: NDP counterexample for non-monotone paths)",
)
def product() -> Subject:
    """F = x₁x₂ on [0,1]² with x′ = 0; row 0 is 002 App. C's x = (1, 0), where a
    non-monotone path gives (1, −1) though F is non-decreasing from x′ to x."""
    gen = _generator(3)
    x = torch.cat([torch.tensor([[1.0, 0.0]]), _uniform((N_SAMPLES - 1, 2), 0, 1, gen)])
    model = Product()
    ig = (x[:, 0] * x[:, 1] / 2).unsqueeze(1).expand(-1, 2).clone()  # ∫ αx₂·x₁ dα = x₁x₂/2
    truth = {"integrated_gradients": ig, "app_c_row": 0, "app_c_nonmonotone_path": torch.tensor([1.0, -1.0])}
    return Subject(
        "analytic/product", model, x, torch.zeros(N_SAMPLES, dtype=torch.long), torch.zeros(2),
        (0.0, 1.0), frozenset({"multiplicative", "smooth", "monotone"}), truth,
    )  # fmt: skip


@register_subject(
    "analytic/product_sq",
    tags={"multiplicative", "smooth", "monotone"},
    description="F = x1 x2^2 on [0,1]^2 (002 App. E.1: ASI counterexample path)",
)
def product_sq() -> Subject:
    """F = x₁x₂² on [0,1]² (002 App. E.1). Row 0 is x = (1, 1): IG = (1/3, 2/3) (by hand:
    ∫ t² dt and ∫ 2t² dt), while App. E.1's five-segment non-monotone path gives
    (0,0) + (0,1) + (−1,0) + (0,0) + (1/3, 2/3) = (−2/3, 5/3)."""
    gen = _generator(4)
    x = torch.cat([torch.tensor([[1.0, 1.0]]), _uniform((N_SAMPLES - 1, 2), 0, 1, gen)])
    model = ProductSquared()
    p = x[:, 0] * x[:, 1] ** 2  # IG along t·x: (x₁x₂²/3, 2x₁x₂²/3)
    truth = {
        "integrated_gradients": torch.stack([p / 3, 2 * p / 3], 1),
        "app_e1_row": 0,
        "app_e1_path_attribution": torch.tensor([-2.0 / 3.0, 5.0 / 3.0]),
    }
    return Subject(
        "analytic/product_sq", model, x, torch.zeros(N_SAMPLES, dtype=torch.long), torch.zeros(2),
        (0.0, 1.0), frozenset({"multiplicative", "smooth", "monotone"}), truth,
    )  # fmt: skip


#: ε values of the App. J pairs in ``analytic/max_abs_diff``.
APP_J_EPSILONS = (0.5, 0.1, 0.01, 0.001)


@register_subject(
    "analytic/max_abs_diff",
    tags={"nonsmooth", "max"},
    description="F = |y1 - y2| as a max unit: IG is not Lipschitz (002 App. J)",
)
def max_abs_diff() -> Subject:
    """F = max(y₂−y₁, y₁−y₂) on [0, 2]² with x′ = 0 (002 App. J). Rows 2k and 2k+1 are
    x = (1, 1+ε/2) and x̄ = (1, 1−ε/2): ‖x − x̄‖ = ε yet |IG₁(x) − IG₁(x̄)| = 2, so IG is not
    Lipschitz; ``truth["lipschitz_pairs"]`` names them for the Lipschitz check. (By the
    definition IG₁(x) = −1 and IG₁(x̄) = +1; App. J prints the two signs the other way round,
    which leaves the jump of 2 unchanged.)"""
    pairs = []
    for eps in APP_J_EPSILONS:
        pairs += [[1.0, 1.0 + eps / 2], [1.0, 1.0 - eps / 2]]
    gen = _generator(5)
    x = torch.cat([torch.tensor(pairs), _uniform((N_SAMPLES - len(pairs), 2), 0, 2, gen)])
    model = MaxAbsDiff()
    sign = torch.sign(x[:, 0] - x[:, 1])  # ∂F/∂y₁ along the whole IG path
    truth = {
        "lipschitz_pairs": [(2 * k, 2 * k + 1) for k in range(len(APP_J_EPSILONS))],
        "app_j_epsilons": APP_J_EPSILONS,
        "integrated_gradients": torch.stack([x[:, 0] * sign, -x[:, 1] * sign], 1),
    }
    return Subject(
        "analytic/max_abs_diff", model, x, torch.zeros(N_SAMPLES, dtype=torch.long), torch.zeros(2),
        (0.0, 2.0), frozenset({"nonsmooth", "max"}), truth,
    )  # fmt: skip


class ReluProduct(nn.Module):
    """h = ReLU(x₁ − 1)·ReLU(x₂) (003 §3.1)."""

    def forward(self, x: Tensor) -> Tensor:
        return (torch.relu(x[:, 0] - 1) * torch.relu(x[:, 1])).unsqueeze(1)


@register_subject(
    "analytic/relu_product",
    tags={"multiplicative", "relu", "nonsmooth"},
    description="h = ReLU(x1-1) ReLU(x2): DeepLIFT is not complete with multiplicative units (003 §3.1)",
)
def relu_product() -> Subject:
    """h = ReLU(x₁−1)·ReLU(x₂) on [0, 4]² with x′ = 0 (003 §3.1). Row 0 is x = (3, 2): by
    hand DeepLIFT gives (4, 4), summing to 8 ≠ h(x) − h(0) = 4, while IG is complete."""
    gen = _generator(6)
    x = torch.cat([torch.tensor([[3.0, 2.0]]), _uniform((N_SAMPLES - 1, 2), 0, 4, gen)])
    truth = {"section_3_1_row": 0, "section_3_1_deeplift": torch.tensor([4.0, 4.0])}
    return Subject(
        "analytic/relu_product", ReluProduct(), x, torch.zeros(N_SAMPLES, dtype=torch.long), torch.zeros(2),
        (0.0, 4.0), frozenset({"multiplicative", "relu", "nonsmooth"}), truth,
    )  # fmt: skip


# -- smooth network with Theorem 4's constants --------------------------------------------

_MAX_ABS_TANH_SECOND_DERIVATIVE = 4 / (3 * 3**0.5)  # max |d²tanh/dz²| = max |2 tanh z sech² z|


def _interval_max_sech2(lo: Tensor, hi: Tensor) -> Tensor:
    """max of sech²(z) = 1 − tanh²(z) over [lo, hi] (elementwise): at the point nearest 0."""
    nearest = torch.where((lo <= 0) & (hi >= 0), torch.zeros_like(lo), torch.minimum(lo.abs(), hi.abs()))
    return 1 - torch.tanh(nearest) ** 2


def smooth_constants(w: Tensor, b: Tensor, v: Tensor, a: float, bnd: float) -> tuple[Tensor, Tensor]:
    """Sound bounds for F_c(x) = v_c · tanh(Wx + b) on the box [a, bnd]ⁿ (002 Theorem 4):

    - M[c, i] ≥ max |∂F_c/∂x_i| = max |Σ_j v_cj sech²(z_j) W_ji|, bounded by
      Σ_j |v_cj W_ji| · max sech²(z_j) over the interval of z_j on the box;
    - L[c] ≥ Lipschitz constant of ∇F_c in ℓ2: ∇²F_c = Wᵀ diag(v_cj tanh″(z_j)) W, and
      ‖Wᵀ D W‖₂ ≤ ‖Wᵀ |D| W‖₂ with |D_jj| ≤ |v_cj|·max|tanh″| = |v_cj|·4/(3√3).
    """
    center, radius = w @ torch.full((w.shape[1],), (a + bnd) / 2) + b, w.abs().sum(1) * (bnd - a) / 2
    peak = _interval_max_sech2(center - radius, center + radius)  # (H,)
    m = (v.abs() * peak) @ w.abs()  # (C, n)
    curvature = v.abs() * _MAX_ABS_TANH_SECOND_DERIVATIVE  # (C, H)
    l_bound = torch.stack([torch.linalg.matrix_norm(w.T @ (c[:, None] * w), ord=2) for c in curvature])
    return m, l_bound


@register_subject(
    "analytic/smooth",
    tags={"smooth", "bias"},
    description="tanh network with gradient bound M and gradient-Lipschitz L (002 Theorem 4)",
)
def smooth() -> Subject:
    """F = V tanh(Wx + b) on [−1, 1]⁴ with 002 Theorem 4's constants in ``truth``: ``M``
    (C, n) bounds |∂F_c/∂x_i|, ``L`` (C,) bounds the ℓ2 Lipschitz constant of ∇F_c, and
    ``lipschitz_bound`` (C, n) = M + |b_i − a_i|/2·L bounds IG_i's Lipschitz constant."""
    gen = _generator(7)
    n, h, c, lo, hi = 4, 8, 2, -1.0, 1.0
    w = torch.randn(h, n, generator=gen) * 0.8
    b = torch.randn(h, generator=gen) * 0.3
    v = torch.randn(c, h, generator=gen) * 0.6
    first, second = nn.Linear(n, h), nn.Linear(h, c, bias=False)
    with torch.no_grad():
        first.weight.copy_(w)
        first.bias.copy_(b)
        second.weight.copy_(v)
    m, l_bound = smooth_constants(w, b, v, lo, hi)
    truth = {"M": m, "L": l_bound, "lipschitz_bound": m + (hi - lo) / 2 * l_bound[:, None], "box": (lo, hi)}
    x = _uniform((N_SAMPLES, n), lo, hi, gen)
    return Subject(
        "analytic/smooth", nn.Sequential(first, nn.Tanh(), second), x, torch.randint(c, (N_SAMPLES,), generator=gen),
        torch.zeros(n), (lo, hi), frozenset({"smooth", "bias"}), truth,
    )  # fmt: skip


# -- networks with a structural property --------------------------------------------------


@register_subject(
    "analytic/monotone",
    tags={"monotone", "smooth", "bias", "nonzero_at_origin", "nonzero_baseline"},
    description="F non-decreasing from each x' <= x: NDP requires A >= 0 (002 Definition 6)",
)
def monotone() -> Subject:
    """Non-negative weights and increasing activations (softplus, tanh) make every ∂F/∂x_i
    ≥ 0, so F is non-decreasing from x′ to x whenever x′ ≤ x (002 Definition 6). Each
    sample has its own baseline x′ = u ⊙ x with u ~ U(0, 1) on [0, 1]⁵."""
    gen = _generator(8)
    n = 5
    net = nn.Sequential(nn.Linear(n, 7), nn.Softplus(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 2))
    with torch.no_grad():
        for layer in (net[0], net[2], net[4]):
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.5)
    x = _uniform((N_SAMPLES, n), 0, 1, gen)
    baseline = x * torch.rand((N_SAMPLES, n), generator=gen)
    return Subject(
        "analytic/monotone", net, x, torch.randint(2, (N_SAMPLES,), generator=gen), baseline, (0.0, 1.0),
        frozenset({"monotone", "smooth", "bias", "nonzero_at_origin", "nonzero_baseline"}),
        {"pairs_ordered": True, "nonnegative_weights": True},
    )  # fmt: skip


def _tanh_net(n: int, gen: torch.Generator, hidden: int = 8, classes: int = 3) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, classes))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.3)
    return net


#: Feature pairs (i, j) that ``analytic/symmetric`` is symmetric in.
SYMMETRIC_PAIRS = ((0, 1), (3, 5))


@register_subject(
    "analytic/symmetric",
    tags={"smooth", "bias"},
    description="F symmetric in named feature pairs with equal values in each pair (002 axiom 6)",
)
def symmetric() -> Subject:
    """F invariant to swapping each pair in ``truth["pairs"]`` (tied first-layer columns),
    with x_i = x_j and x′_i = x′_j = 0 for each pair, as the symmetry axiom requires
    (002 §2.2, axiom 6)."""
    gen = _generator(9)
    n = 6
    net = _tanh_net(n, gen)
    with torch.no_grad():
        for i, j in SYMMETRIC_PAIRS:
            net[0].weight[:, j] = net[0].weight[:, i]
    x = _uniform((N_SAMPLES, n), -1, 1, gen)
    for i, j in SYMMETRIC_PAIRS:
        x[:, j] = x[:, i]
    return Subject(
        "analytic/symmetric", net, x, torch.randint(3, (N_SAMPLES,), generator=gen), torch.zeros(n), (-1.0, 1.0),
        frozenset({"smooth", "bias"}), {"pairs": SYMMETRIC_PAIRS},
    )  # fmt: skip


#: Features ``analytic/dummy`` does not depend on.
DUMMY_FEATURES = (1, 4)


@register_subject(
    "analytic/dummy",
    tags={"smooth", "bias", "nonzero_baseline"},
    description="F independent of named features: dummy/sensitivity(b) (002 axiom 5)",
)
def dummy() -> Subject:
    """F independent of the features in ``truth["dummy"]`` (zero first-layer columns);
    the baseline is random so dummy features do differ between x and x′ (002 axiom 5)."""
    gen = _generator(10)
    n = 6
    net = _tanh_net(n, gen)
    with torch.no_grad():
        net[0].weight[:, list(DUMMY_FEATURES)] = 0
    x = _uniform((N_SAMPLES, n), -1, 1, gen)
    baseline = _uniform((N_SAMPLES, n), -1, 1, gen)
    return Subject(
        "analytic/dummy", net, x, torch.randint(3, (N_SAMPLES,), generator=gen), baseline, (-1.0, 1.0),
        frozenset({"smooth", "bias", "nonzero_baseline"}), {"dummy": DUMMY_FEATURES},
    )  # fmt: skip


def equivalent_implementation(net: nn.Sequential, gen: torch.Generator, n_dead: int = 3) -> nn.Sequential:
    """A different network computing the same function as Linear → ReLU → Linear ``net``:
    hidden units permuted, unit 0 split into two halves (ReLU(z) = 2·ReLU(z/2), each half
    keeping the output weight), and ``n_dead`` units whose output weights are zero."""
    first, last = net[0], net[2]
    h = first.out_features
    perm = torch.randperm(h, generator=gen)
    w1, b1, w2 = first.weight[perm], first.bias[perm], last.weight[:, perm]
    w1 = torch.cat([w1[:1] / 2, w1[:1] / 2, w1[1:], torch.randn(n_dead, w1.shape[1], generator=gen)])
    b1 = torch.cat([b1[:1] / 2, b1[:1] / 2, b1[1:], torch.randn(n_dead, generator=gen)])
    w2 = torch.cat([w2[:, :1], w2[:, :1], w2[:, 1:], torch.zeros(w2.shape[0], n_dead)], 1)
    other = nn.Sequential(nn.Linear(first.in_features, len(b1)), nn.ReLU(), nn.Linear(len(b1), last.out_features))
    with torch.no_grad():
        other[0].weight.copy_(w1)
        other[0].bias.copy_(b1)
        other[2].weight.copy_(w2)
        other[2].bias.copy_(last.bias)
    return freeze(other)


@register_subject(
    "analytic/equivalent",
    tags={"relu", "nonsmooth", "bias"},
    description="two implementations of one function: implementation invariance (002 axiom 2)",
)
def equivalent() -> Subject:
    """Two functionally equivalent ReLU networks with different implementations: the
    subject's model and ``truth["equivalent"]`` (permuted hidden units, a unit split in
    two, dead units added). Implementation invariance (002 axiom 2) requires equal
    attributions. These re-implementations keep every unit's reference activation
    ratios, so even DeepLIFT's Rescale multipliers agree on them."""
    gen = _generator(11)
    n, h, c = 5, 6, 3
    net = nn.Sequential(nn.Linear(n, h), nn.ReLU(), nn.Linear(h, c))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.3)
    x = _uniform((N_SAMPLES, n), -1, 1, gen)
    return Subject(
        "analytic/equivalent", net, x, torch.randint(c, (N_SAMPLES,), generator=gen), torch.zeros(n), (-1.0, 1.0),
        frozenset({"relu", "nonsmooth", "bias"}), {"equivalent": equivalent_implementation(net, gen)},
    )  # fmt: skip
