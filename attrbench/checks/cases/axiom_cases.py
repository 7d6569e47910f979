"""The drawn cases of the axioms suite, one frozen dataclass per axiom of 002 §2.2 / §4:
everything a check of that axiom needs (model, inputs ``x`` (N, D), ``baseline`` x′ (N, D),
``targets`` (N,) and the axiom's data: the symmetric pair, the dummy mask, ...).
``F(x) = model(x)[arange(N), targets]`` as everywhere in attrbench. Every case has
``.to_subject()`` to run attrbench's checks on it; the strategies drawing them are in
:mod:`attrbench.checks.cases.strategies`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.subjects.networks import AffineInput, Network, WeightedSum
from attrbench.subjects.registry import Subject


def describe(case) -> dict:
    """A readable account of a drawn case (for counterexamples): each network's
    :meth:`Network.describe`, the inputs, baselines and targets as lists, and the axiom's
    own data; composed modules (``combined``, ``transformed_model``) are left out because
    their parts are listed."""
    import dataclasses

    out = {"case": type(case).__name__}
    for f in dataclasses.fields(case):
        value = getattr(case, f.name)
        if isinstance(value, Network):
            out[f.name] = value.describe()
        elif isinstance(value, Tensor):
            out[f.name] = value.detach().tolist()
        elif not isinstance(value, nn.Module):
            out[f.name] = value
    return out


@dataclass(frozen=True, eq=False)
class _Case:
    network: Network
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = ""

    @property
    def model(self) -> nn.Module:
        return self.network.model

    @property
    def tags(self) -> frozenset[str]:
        tags = set(self.network.tags)
        if bool((self.baseline != 0).any()):
            tags.add("nonzero_baseline")
        return frozenset(tags)

    def F(self, x: Tensor) -> Tensor:
        """F(x) = model(x)[arange(N), targets] (N,), without a graph."""
        with torch.no_grad():
            return self.model(x).gather(1, self.targets.view(-1, 1)).squeeze(1)

    def _truth(self) -> dict:
        return {}

    def to_subject(self, name: str | None = None) -> Subject:
        """This case as an attrbench :class:`Subject` (the axiom's data in ``truth``)."""
        truth = {"axiom": self.axiom, **self._truth()}
        domain = (
            min(self.domain[0], float(self.inputs.min()), float(self.baseline.min())),
            max(self.domain[1], float(self.inputs.max()), float(self.baseline.max())),
        )
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.model,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=domain,
            tags=self.tags,
            truth=truth,
        )


@dataclass(frozen=True, eq=False)
class NetworkCase(_Case):
    """A drawn network with inputs, baselines and targets and no further structure: the
    cases of axioms that hold for every F (completeness, 002 axiom 3; Lipschitz, §4.1)."""

    axiom = "any"


@dataclass(frozen=True, eq=False)
class MonotoneCase(_Case):
    """F is non-decreasing from ``baseline`` to ``inputs`` (002 §4, Definition 6): every
    weight is >= 0 after the first layer, first-layer column i is multiplied by
    ``signs[i]`` = ±1, the activations are non-decreasing, and ``signs * (x - x') >= 0``.
    So along any monotone path from x' to x, F never decreases; NDP asks A >= 0."""

    signs: Tensor = None
    axiom = "ndp"

    @property
    def tags(self) -> frozenset[str]:
        return super().tags | {"monotone"}

    def _truth(self) -> dict:
        return {"signs": self.signs}


@dataclass(frozen=True, eq=False)
class SymmetricCase(_Case):
    """F(x) = F(x*) for every x, x* = x with features ``i`` and ``j`` swapped, and
    x_i = x_j, x'_i = x'_j; symmetry preservation (002 §2.2, axiom 6) asks A_i = A_j.
    ``construction`` is ``"tied"`` (first-layer columns i and j equal: F depends on
    x_i + x_j) or ``"mirrored"`` (first-layer units in pairs whose rows are swaps of each
    other and whose outgoing columns are equal: F = G(x_i, x_j) + G(x_j, x_i) + ...)."""

    i: int = 0
    j: int = 1
    construction: str = "tied"
    axiom = "symmetry"

    def _truth(self) -> dict:
        return {"pairs": ((self.i, self.j),), "construction": self.construction}


@dataclass(frozen=True, eq=False)
class EquivalentPair:
    """Two networks computing the same function with different weights (implementation
    invariance, 002 §2.2 axiom 2). ``second`` is ``first`` after ``transforms``, each
    ``(name, hidden_layer)`` with name in :data:`EQUIVALENCES`: ``"permute"`` (hidden units
    reordered), ``"split"`` (a unit duplicated, its outgoing weights shared between the two
    copies), ``"dead"`` (units with zero outgoing weights added), ``"rescale"`` (ReLU only:
    a unit's incoming weights and bias times c > 0, outgoing weights divided by c)."""

    first: Network
    second: Network
    transforms: tuple[tuple[str, int], ...]
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = "implementation_invariance"

    @property
    def tags(self) -> frozenset[str]:
        return self.first.tags | ({"nonzero_baseline"} if bool((self.baseline != 0).any()) else set())

    def to_subject(self, name: str | None = None) -> Subject:
        """``first`` as a Subject with ``second``'s model in ``truth["equivalent"]`` (the
        form of ``analytic/equivalent``)."""
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.first.model,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=self.domain,
            tags=self.tags,
            truth={"axiom": self.axiom, "equivalent": self.second.model, "transforms": self.transforms},
        )

    def subjects(self, name: str | None = None) -> tuple[Subject, Subject]:
        """Both networks as attrbench Subjects on the same inputs."""
        base = name or f"hypothesis/{self.axiom}"
        out = []
        for suffix, net in (("a", self.first), ("b", self.second)):
            case = _Case(net, self.inputs, self.baseline, self.targets, self.domain)
            object.__setattr__(case, "axiom", self.axiom)
            out.append(case.to_subject(f"{base}/{suffix}"))
        return tuple(out)


@dataclass(frozen=True, eq=False)
class DummyCase(_Case):
    """Inputs with ``dummy[i]`` True do not affect F (their first-layer columns are zero):
    dummy / sensitivity(b) (002 §2.2, axiom 5) asks A_i = 0 there."""

    dummy: Tensor = None  # bool (n_features,)
    axiom = "dummy"

    @property
    def dummy_indices(self) -> tuple[int, ...]:
        return tuple(int(i) for i in torch.nonzero(self.dummy).flatten())

    def _truth(self) -> dict:
        return {"dummy": self.dummy}


@dataclass(frozen=True, eq=False)
class LinearCombinationCase:
    """F, G (same input and output sizes), scalars alpha, beta and ``combined`` =
    alpha F + beta G as one module: linearity (002 §2.2, axiom 4) asks
    A(x, x', combined) = alpha A(x, x', F) + beta A(x, x', G)."""

    f: Network
    g: Network
    alpha: float
    beta: float
    combined: WeightedSum
    inputs: Tensor
    baseline: Tensor
    targets: Tensor
    domain: tuple[float, float]

    axiom = "linearity"

    @property
    def tags(self) -> frozenset[str]:
        return self.f.tags | self.g.tags | ({"nonzero_baseline"} if bool((self.baseline != 0).any()) else set())

    def to_subject(self, name: str | None = None) -> Subject:
        """The combined model as a Subject (F, G, alpha, beta in ``truth``)."""
        return Subject(
            name=name or f"hypothesis/{self.axiom}",
            model=self.combined,
            inputs=self.inputs,
            targets=self.targets,
            baseline=self.baseline,
            domain=self.domain,
            tags=self.tags,
            truth={"axiom": self.axiom, "f": self.f.model, "g": self.g.model, "alpha": self.alpha, "beta": self.beta},
        )


@dataclass(frozen=True, eq=False)
class SingleFeatureChange(_Case):
    """x and x' differ in exactly feature ``feature`` (in every row, by at least
    ``min_gap``): sensitivity(a) (002 §2.2, axiom 1) asks A_i != 0 wherever F(x) != F(x')."""

    feature: int = 0
    axiom = "sensitivity_a"

    @property
    def changed(self) -> Tensor:
        """Rows where F(x) != F(x') (where sensitivity(a) applies), bool (N,)."""
        return self.F(self.inputs) != self.F(self.baseline)

    def _truth(self) -> dict:
        return {"feature": self.feature}


@dataclass(frozen=True, eq=False)
class AffineMapCase(_Case):
    """An affine map T of feature ``feature`` (``scale`` != 0, ``shift``) and
    ``transformed_model`` = F ∘ T⁻¹: affine scale invariance (002 §2.2 and footnote 9)
    asks A(x, x', F) = A(T(x), T(x'), F ∘ T⁻¹); ``transformed_inputs`` = T(x),
    ``transformed_baseline`` = T(x') (they may leave the domain)."""

    feature: int = 0
    scale: float = 1.0
    shift: float = 0.0
    transformed_model: AffineInput = None
    transformed_inputs: Tensor = None
    transformed_baseline: Tensor = None
    axiom = "asi"

    def _truth(self) -> dict:
        return {"feature": self.feature, "scale": self.scale, "shift": self.shift,
                "transformed_model": self.transformed_model}
