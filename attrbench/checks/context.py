"""What a check receives besides the method and subject, and the metadata decorator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from attrbench.guard import Guard
from attrbench.scales import Scale


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


def check(**info) -> Callable[[Callable], Callable]:
    """Attach :class:`CheckInfo` to a check function as ``fn.info``."""

    def decorate(fn: Callable) -> Callable:
        fn.info = CheckInfo(**info)
        return fn

    return decorate


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
        targets and baselines."""
        limit = self.scale.max_samples if limit is None else limit
        m = min(limit or len(subject.inputs), len(subject.inputs))
        x, t, b = subject.inputs[:m], subject.targets[:m], subject.baseline
        if b is not None and b.dim() == x.dim() and b.shape[0] == len(subject.inputs):
            b = b[:m]
        return x, t, b

    def attribute(self, method, model, x: Tensor, target, baseline, where: str = "") -> Tensor:
        """The method's attributions through the harness guard."""
        return self.guard.attribute(method, model, x, target, baseline, where=where)
