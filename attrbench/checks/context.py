"""What a check receives besides the method and subject, and the metadata decorator."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import torch
from torch import Tensor

from attrbench.guard import Guard
from attrbench.scales import LARGE_TAG, Scale


@dataclass(frozen=True)
class CheckInfo:
    """A check's metadata: where its rows go and which direction is better."""

    suite: str
    check: str
    metric: str
    direction: str  # "higher" | "lower"
    axiom: str | None = None  # the claim that makes a violation fail the gate
    requires_differentiable: bool = False
    #: The name of the case strategy (a key of attrbench.checks.cases.CASES) whose drawn
    #: cases the check also runs on (the subject ``generated``), or None.
    cases: str | None = None
    #: For a residual metric: the smallest value the arithmetic it is computed in can tell
    #: from zero (justified where it is set); pages print a smaller value as
    #: "< resolution", the CSV keeps it. None: every value is shown.
    resolution: float | None = None


#: The numerical resolution of a float32 residual relative to the output scale, fixed a
#: priori: 32 u = 2**-19 ≈ 1.9e-6, u = 2**-24 float32's unit roundoff. The two sides of an
#: axiom's equation are float32 results that agree in exact arithmetic; a float32 sum or dot
#: product of m terms is exact only to within γ_m ≈ m·u of the sum of the |terms| (Higham
#: 2002, *Accuracy and Stability of Numerical Algorithms*, §3.1, Lemma 3.1 and eq. 3.5).
#: The attributions and outputs are of the order of the output scale (≥ 1), and a forward
#: and backward pass through the analytic subjects (≤ 8 features, hidden widths ≤ 8, two or
#: three layers) accumulates of the order of 16 such terms per side: two sides give 32 u.
#: A smaller residual cannot be told from rounding (two runs on one machine differ there:
#: issue 25 saw ASI residuals of 1.19e-7 and 1.31e-7 for one row). It is 50 times below
#: the axioms' ATOL = 1e-4, so no verdict depends on it; float64 cases resolve finer and
#: are printed as "< resolution" too.
FLOAT32_RESOLUTION = 32 * 2.0**-24

#: Every decorated check's info by (suite, check), for the leaderboard (resolutions).
REGISTERED: dict[tuple[str, str], CheckInfo] = {}


def check(**info) -> Callable[[Callable], Callable]:
    """Attach :class:`CheckInfo` to a check function as ``fn.info`` (and register it)."""

    def decorate(fn: Callable) -> Callable:
        fn.info = CheckInfo(**info)
        REGISTERED[fn.info.suite, fn.info.check] = fn.info
        return fn

    return decorate


def resolution_of(suite: str, check_name: str) -> float | None:
    """The ``resolution`` of a registered check (None for an unknown one)."""
    info = REGISTERED.get((suite, check_name))
    return None if info is None else info.resolution


@dataclass
class CheckContext:
    """The scale preset, a generator seeded for this test, the guard (limits, seed and
    determinism check) of this test's method calls, and the run's seed (--attrbench-seed:
    for draws that must not depend on the test, e.g. perturbations every method meets)."""

    scale: Scale
    generator: torch.Generator
    guard: Guard = field(default_factory=Guard)
    seed: int = 0

    def samples(self, subject, limit: int | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """The first ``limit`` (default ``scale.max_samples``; None: all) inputs with their
        targets and baselines; at most ``scale.large_samples`` of a subject tagged ``large``."""
        limit = self.scale.max_samples if limit is None else limit
        m = min(limit or len(subject.inputs), len(subject.inputs))
        if self.scale.large_samples is not None and LARGE_TAG in subject.tags:
            m = min(m, self.scale.large_samples)
        x, t, b = subject.inputs[:m], subject.targets[:m], subject.baseline
        if b is not None and b.dim() == x.dim() and b.shape[0] == len(subject.inputs):
            b = b[:m]
        return x, t, b

    def attribute(self, method, model, x: Tensor, target, baseline, where: str = "") -> Tensor:
        """The method's attributions through the harness guard."""
        return self.guard.attribute(method, model, x, target, baseline, where=where)

    def interactions(self, method, model, x: Tensor, target, baseline, where: str = "") -> Tensor:
        """An order-2 method's pairwise attributions (N, F, F) through the harness guard."""
        return self.guard.attribute(method, model, x, target, baseline, where=where, pairs=True)
