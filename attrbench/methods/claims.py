"""What a method may claim: the axioms (002 §2.2, §4, §4.1), the subject tags that scope a
claim, and ``Claim`` itself (an axiom, except on subjects carrying one of its ``unless`` tags)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from attrbench.errors import UnknownAxiomError

#: Axioms a method may claim (002 §2.2, §4; plus the Lipschitz property of 002 §4.1).
AXIOMS = (
    "completeness",
    "sensitivity_a",
    "dummy",
    "linearity",
    "symmetry",
    "implementation_invariance",
    "ndp",
    "asi",
    "lipschitz",
)

#: Subject tags that scope claims (``Claim.unless``). Subjects must carry the tags that
#: describe them so that a claim's exceptions apply.
SUBJECT_TAGS = {
    "linear": "the model is affine in its input",
    "relu": "piecewise-linear activations (ReLU, max): gradients jump",
    "nonsmooth": "the function is not continuously differentiable on the domain",
    "smooth": "C^1 with a bounded, Lipschitz gradient on the domain",
    "multiplicative": "two input-dependent units are multiplied (003 §3.1)",
    "max": "max-pooling or another max unit (gradient routed to the arg-max, 003 Eq. 5)",
    "bias": "some layer adds a bias term",
    "batchnorm": "batch norm (eval mode): an affine map whose shift β − γμ/σ acts as a bias",
    "nonzero_at_origin": "some nonlinearity has f(0) != 0 (sigmoid, softplus, ...)",
    "nonzero_baseline": "the subject's baseline is not the zero input",
    "boolean": "Boolean circuit subject",
    "image": "inputs are images (N, C, H, W)",
    "monotone": "F is non-decreasing from the baseline to the input",
    "large": "input of >= 784 features: the suites run it only at the scales that list it",
    "residual": "skip connections add a block's input to its output (out = f(x) + x)",
}

@dataclass(frozen=True)
class Claim:
    """An axiom a method promises, except on subjects carrying any tag in ``unless``."""

    axiom: str
    unless: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.axiom not in AXIOMS:
            near = difflib.get_close_matches(self.axiom, AXIOMS, n=3)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            raise UnknownAxiomError(
                f"unknown axiom {self.axiom!r} in a claim.{hint} Known axioms: {', '.join(AXIOMS)}."
            )
        tags = {self.unless} if isinstance(self.unless, str) else self.unless
        object.__setattr__(self, "unless", frozenset(tags))

    def applies_to(self, tags: Iterable[str]) -> bool:
        """True when the claim covers a subject with these tags."""
        return not (self.unless & set(tags))

    def __str__(self) -> str:
        if not self.unless:
            return self.axiom
        return f"{self.axiom} (unless {', '.join(sorted(self.unless))})"


def as_claims(claims: Iterable[str | Claim]) -> tuple[Claim, ...]:
    """Normalise ``("completeness", Claim("ndp", {"relu"}))`` to a tuple of Claims."""
    return tuple(c if isinstance(c, Claim) else Claim(c) for c in claims)
