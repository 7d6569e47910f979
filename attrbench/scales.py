"""Scale presets: how much work each check does. One frozen dataclass per scale.

``quick`` is for CI (the whole benchmark in minutes on 2 cores), ``standard`` is the
default and produces the committed leaderboards, ``paper`` uses the papers' sample counts.
Suites read every size from the preset; nothing else branches on the scale's name.

Subjects tagged :data:`LARGE_TAG` (28×28 and 32×32 images, issue 22) run only at the
scales whose ``large_subjects`` globs name them: none at ``quick``, a representative
subset at ``standard``, all at ``paper`` (``attrbench.pytest_plugin.BenchSession.pairs``;
an explicit ``--subject`` overrides it, docs/cli.md).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

#: The subject tag of the subjects a scale runs only where ``Scale.large_subjects`` names them.
LARGE_TAG = "large"


@dataclass(frozen=True)
class Scale:
    name: str
    #: hypothesis examples per property-based check (axioms issue: 25 / 100 / 500)
    hypothesis_examples: int
    #: samples taken from each subject's inputs (None = all)
    max_samples: int | None
    #: random subsets per subset size n (Sensitivity-n, 003 §4.1: 100)
    n_subsets: int
    #: samples per subject in Sensitivity-n (003 §4.1: 1000; capped at the subject's inputs)
    sensitivity_n_samples: int
    #: points of the log-spaced n grid from 1 to 80 % of the features (before rounding)
    sensitivity_n_grid: int
    #: samples per subject attacked in the fragility suite (None: all)
    fragility_samples: int | None
    #: attack radii ε of the fragility suite, as fractions of the domain width b − a (004 §3)
    fragility_epsilons: tuple[float, ...]
    #: iterations P of Algorithm 1 (004 App. A; App. B uses 300); also the redraws of the
    #: random sign perturbation
    fragility_steps: int
    #: step size α as a fraction of ε
    fragility_step: float
    #: k of the top-k attack and of top-k intersection, as a fraction of the features
    fragility_topk: float
    #: iterations of the gradient-free (SPSA) Algorithm 1 that methods without a gradient
    #: face as their self-targeted attack; its step is chosen so that the path length
    #: (iterations × step) equals Algorithm 1's P·α
    fragility_spsa_steps: int
    #: Rademacher directions d per point and SPSA step (Spall 1992): the query budget is
    #: fragility_spsa_steps × (2d + 1) method evaluations per attacked point
    fragility_spsa_directions: int
    #: SPSA probe size c as a fraction of ε: the method is evaluated at x ± c·ε·δ
    fragility_spsa_c: float
    #: digits samples of the influence-decomposition experiments (001 §4.2, §4.4; None: all)
    influence_samples: int | None
    #: random neuron subsets per sample and size in 001 §4.2's Table 2 (the paper: 500)
    influence_subsets: int
    #: run the full attack × norm × ε × window grid (else one small case)
    influence_full_grid: bool
    #: random pairs per sample in the Lipschitz estimate (002 §4.1)
    lipschitz_pairs: int
    #: gradient-ascent steps of the Lipschitz search (0: random pairs and bisection only)
    lipschitz_ascent_steps: int
    #: samples per subject in the sanity suite's model-randomisation and other-class checks
    #: (Adebayo et al. 2018; None: all of the subject's inputs)
    sanity_samples: int | None
    #: samples per subject in the faithfulness suite (None: all of the subject's inputs)
    faithfulness_samples: int | None
    #: steps S of the deletion and insertion curves (None: one feature per step); with
    #: S ≥ F every k = 0..F is on the curve, so the AUC is the one-feature-per-step AUC
    faithfulness_steps: int | None
    #: perturbations I per sample in the infidelity check (Yeh et al. 2019 set no number)
    infidelity_perturbations: int
    #: the subjects tagged ``large`` this scale runs, each entry a registry glob, optionally
    #: qualified by where it applies: ``"glob"`` (every suite), ``"suite:glob"`` (that
    #: suite's checks) or ``"suite.check:glob"`` (one check). Each suite still runs only the
    #: subjects its checks name; a large subject no entry matches is left out unless
    #: ``--subject`` names it. quick: none (CI in minutes); standard: a representative
    #: subset within its time budget (docs/suites.md says which and why); paper: all
    large_subjects: tuple[str, ...]
    #: samples of a large subject every check takes at most (None: the check's own count);
    #: the subsets, steps and perturbations per sample are the scale's as for any subject
    large_samples: int | None = None

    def runs_subject(self, name: str, tags: Iterable[str], where: Iterable[str] = ()) -> bool:
        """Whether the suites run the subject ``name`` with ``tags`` by default, in a test of
        the suite and check named in ``where`` (e.g. ``("faithfulness", "faithfulness.road")``):
        every subject not tagged :data:`LARGE_TAG`, and the large ones an entry of
        ``large_subjects`` matches, unqualified or qualified by one of ``where``."""
        if LARGE_TAG not in tags:
            return True
        places = set(where)
        for entry in self.large_subjects:
            place, _, glob = entry.rpartition(":")
            if (not place or place in places) and fnmatch.fnmatchcase(name, glob):
                return True
        return False


SCALES: dict[str, Scale] = {
    "quick": Scale(
        "quick", hypothesis_examples=25, max_samples=8,
        n_subsets=20, sensitivity_n_samples=8, sensitivity_n_grid=6,
        fragility_samples=4, fragility_epsilons=(0.02, 0.05), fragility_steps=8, fragility_step=0.25,
        fragility_topk=0.1, fragility_spsa_steps=2, fragility_spsa_directions=1, fragility_spsa_c=0.25,
        influence_samples=8, influence_subsets=2, influence_full_grid=False,
        lipschitz_pairs=8, lipschitz_ascent_steps=3,
        sanity_samples=8,
        faithfulness_samples=8, faithfulness_steps=16, infidelity_perturbations=16,
        large_subjects=(),
    ),
    "standard": Scale(
        "standard", hypothesis_examples=100, max_samples=32,
        n_subsets=100, sensitivity_n_samples=32, sensitivity_n_grid=12,
        fragility_samples=4, fragility_epsilons=(0.02, 0.05), fragility_steps=8, fragility_step=0.2,
        fragility_topk=0.1, fragility_spsa_steps=2, fragility_spsa_directions=1, fragility_spsa_c=0.25,
        influence_samples=64, influence_subsets=20, influence_full_grid=True,
        lipschitz_pairs=16, lipschitz_ascent_steps=5,
        sanity_samples=16,
        faithfulness_samples=16, faithfulness_steps=64, infidelity_perturbations=64,
        large_subjects=("sensitivity_n:shapes/cnn", "sanity:digits28/cnn_relu", "faithfulness:digits28/cnn_relu",
                        "faithfulness.localisation:shapes/cnn"),
        large_samples=4,
    ),
    "paper": Scale(
        "paper", hypothesis_examples=500, max_samples=None,
        n_subsets=100, sensitivity_n_samples=1000, sensitivity_n_grid=20,
        fragility_samples=None, fragility_epsilons=(0.005, 0.01, 0.02, 0.05), fragility_steps=300,
        fragility_step=0.0625, fragility_topk=0.1, fragility_spsa_steps=100, fragility_spsa_directions=8,
        fragility_spsa_c=0.25,
        influence_samples=None, influence_subsets=500, influence_full_grid=True,
        lipschitz_pairs=64, lipschitz_ascent_steps=30,
        sanity_samples=None,
        faithfulness_samples=None, faithfulness_steps=None, infidelity_perturbations=256,
        large_subjects=("*",),
    ),
}  # fmt: skip
SCALE_NAMES = tuple(SCALES)


def get_scale(name: str) -> Scale:
    """The preset called ``name`` (quick, standard, paper)."""
    try:
        return SCALES[name]
    except KeyError:
        from attrbench.errors import AttrbenchError

        raise AttrbenchError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}.") from None
