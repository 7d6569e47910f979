"""Higher-order Boolean recovery (Reing et al., 001 §2.1, §3, §4.1).

**Exact analysis** of a Boolean function f: {0,1}ⁿ → {0,1} from its truth table (row k
holds f at the input whose bit i is xᵢ), vectorised over the whole table:

- Fourier coefficients over the ±1 encoding (Theorem 1): F(x) = (−1)^{f(x)},
  f̂(S) = E_x[F(x) χ_S(x)], χ_S(x) = (−1)^{Σ_{i∈S} xᵢ}; Parseval gives Σ_S f̂(S)² = 1;
- influences Infᵢ = P_x[f(x) ≠ f(x ⊕ eᵢ)] (§2.1), equal to Σ_{S∋i} f̂(S)²;
- degree weights W^k = Σ_{|S|=k} f̂(S)²;
- the influence decomposition (§3): I_A = P_x[some flip of variables inside A changes f]
  (the adversary of §4.1 searches every flip z ⊆ A, so I_A is the probability that f is
  not constant on the subcube x ⊕ {z ⊆ A}), and I_(k) = mean_{|A|=k} I_A − mean_{|A|=k−1}
  I_A for k = 1..n, with I_∅ = 0; the terms sum to I_[n] = 1 for a non-constant f.

**Through a network**: ``decomposition_from_network`` estimates I_A with the network as
the classifier and an adversary that flips bits inside A (``bitflip``, exact).

**Method scores** on the circuits (each ↑, in [0, 1]): dummy recovery on juntas, influence
recovery, and order identifiability (see each check).
"""

from __future__ import annotations

import functools
import itertools
import math
import numpy as np
import torch

from attrbench.attacks.prediction import subcube_nonconstant
from attrbench.checks.context import CheckContext, check
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.functional import bit_masks
from attrbench.results import Outcome
from attrbench.suite import Suite

#: The largest n ``exact_analysis`` accepts: the decomposition holds 2 × 4ⁿ int16 (64 MB).
MAX_EXACT_N = 12


def subset_masks(codes: np.ndarray, n: int) -> np.ndarray:
    """Bool (len(codes), n): row j says which variables the subset coded as the integer
    ``codes[j]`` (bit i: i ∈ S) holds."""
    return bit_masks(torch.as_tensor(np.asarray(codes)), n).numpy()


def popcounts(n: int) -> np.ndarray:
    """|S| for every subset S ⊆ [n] given as an integer, shape (2ⁿ,)."""
    return subset_masks(np.arange(2**n), n).sum(1)


def _table(truth_table) -> tuple[np.ndarray, int]:
    f = np.asarray(truth_table.cpu() if hasattr(truth_table, "cpu") else truth_table).reshape(-1)
    n = int(round(math.log2(len(f)))) if len(f) else -1
    if n < 1 or 2**n != len(f):
        raise InputShapeError(f"a truth table has 2ⁿ entries (n ≥ 1); got {len(f)}.")
    if n > MAX_EXACT_N:
        raise InvalidOptionError(f"exact analysis enumerates 4ⁿ pairs; n = {n} is above {MAX_EXACT_N}.")
    if not np.isin(f, (0, 1)).all():
        raise InputShapeError("a Boolean truth table holds only 0 and 1.")
    return f.astype(np.int64), n


def walsh_hadamard(values: np.ndarray) -> np.ndarray:
    """Σ_x values(x) (−1)^{popcount(x ∧ S)} for every S, by the fast transform (n passes)."""
    out = values.astype(np.float64).copy()
    h = 1
    while h < len(out):
        view = out.reshape(-1, 2, h)
        a, b = view[:, 0, :].copy(), view[:, 1, :].copy()
        view[:, 0, :], view[:, 1, :] = a + b, a - b
        h *= 2
    return out


def decomposition_from_subset_influence(subset_influence: np.ndarray, n: int) -> np.ndarray:
    """I_(k) = mean_{|A|=k} I_A − mean_{|A|=k−1} I_A for k = 1..n (§3), from I_A for every
    subset A (indexed by A as an integer; I_∅ = 0)."""
    sizes = popcounts(n)
    levels = np.array([subset_influence[sizes == k].mean() for k in range(n + 1)])
    return np.diff(levels)


def exact_analysis(truth_table) -> dict:
    """Fourier coefficients, influences, total influence, degree weights and the influence
    decomposition of f from its 2ⁿ-entry truth table (see the module docstring); returns
    a dict with those keys (numpy arrays) plus ``n`` and ``subset_influence`` (I_A)."""
    f, n = _table(truth_table)
    signs = 1.0 - 2.0 * f  # F = (−1)^f
    fourier = walsh_hadamard(signs) / 2**n
    idx = np.arange(2**n)
    flips = idx[None, :] ^ (1 << np.arange(n))[:, None]  # (n, 2ⁿ)
    influences = (f[None, :] != f[flips]).mean(1)
    sizes = popcounts(n)
    weights = np.bincount(sizes, weights=fourier**2, minlength=n + 1)
    subset_influence = subcube_nonconstant(f, n).mean(1)
    return {
        "n": n,
        "fourier": fourier,
        "influences": influences,
        "total_influence": float(influences.sum()),
        "degree_weights": weights,
        "subset_influence": subset_influence,
        "decomposition": decomposition_from_subset_influence(subset_influence, n),
    }


# -- the decomposition through a network (§3, §4.1, §4.4) ------------------------------

NETWORK_ATTACKS = ("bitflip", "fgsm", "bim", "pgd")


def subset_codes(n: int, subsets: int | None = None, generator: torch.Generator | None = None) -> np.ndarray:
    """Subsets A ⊆ [n] as integers (bit i: i ∈ A), for every size k = 1..n: all C(n, k)
    of them when ``subsets`` is None or C(n, k) ≤ ``subsets``, else ``subsets`` drawn
    uniformly (§3's l samples; drawn with replacement across draws, each a uniform k-set)."""
    if n > 62:
        raise InvalidOptionError(f"n = {n}: subsets are coded as 64-bit integers (n ≤ 62).")
    powers = 1 << np.arange(n, dtype=np.int64)
    codes = []
    for k in range(1, n + 1):
        if subsets is None or math.comb(n, k) <= subsets:
            codes += [sum(1 << i for i in combo) for combo in itertools.combinations(range(n), k)]
        else:
            keys = torch.rand((subsets, n), generator=generator).argsort(1)[:, :k].numpy()
            codes += list(powers[keys].sum(1))
    return np.array(codes, dtype=np.int64)


def _device_of(model) -> torch.device:
    """Where the model's first parameter or buffer lives (the CPU for a module without any,
    or a plain callable)."""
    tensors = itertools.chain(model.parameters(), model.buffers()) if isinstance(model, torch.nn.Module) else ()
    return next((t.device for t in tensors), torch.device("cpu"))


def decomposition_from_network(
    model,
    n: int,
    *,
    attack: str = "bitflip",
    epsilon: float | None = None,
    norm: str | None = None,
    subsets: int | None = None,
    generator: torch.Generator | None = None,
    steps: int = 10,
    domain: tuple[float, float] | None = (0.0, 1.0),
) -> dict:
    """The influence decomposition of the classifier ``model`` on {0,1}ⁿ (class: argmax of
    ``attacks.prediction.class_scores``; s > 1/2 for a one-column circuit), estimated over every
    input x and the subsets of ``subset_codes(n, subsets)``.

    ``bitflip``: the adversary tries every flip z ⊆ A (§4.1), so I_A = P_x[the class is
    not constant on x ⊕ {z ⊆ A}] — exact for a network that computes f. ``fgsm``, ``bim``,
    ``pgd`` (001 §4.4): an ε-bounded attack in ``norm`` ("linf" or "l2") on the relaxed
    input, kept in ``domain`` (default [0, 1]ⁿ), that moves only the coordinates in A; I_A is the fraction of inputs
    whose class it changes. Returns ``decomposition`` (I_(k), k = 1..n), ``levels`` (mean
    I_A per size k = 0..n), ``codes`` and ``subset_influence`` (I_A for each code)."""
    if attack not in NETWORK_ATTACKS:
        raise InvalidOptionError(f"unknown attack {attack!r}; choose one of {', '.join(NETWORK_ATTACKS)}.")
    from attrbench.attacks import prediction
    from attrbench.subjects.boolean import all_inputs

    codes = subset_codes(n, subsets, generator)
    x = all_inputs(n, torch.float32).to(_device_of(model))
    masks = torch.from_numpy(subset_masks(codes, n))
    if attack == "bitflip":  # the same table the method's attack="bitflip" reads (x: every corner, in order)
        influence = prediction.bitflip_table(model, (n,), device=x.device, dtype=x.dtype)[codes].mean(1)
    else:
        if epsilon is None or norm is None:
            raise InvalidOptionError(f"attack {attack!r} needs epsilon and norm ('linf' or 'l2').")
        changed = prediction.changes_class(model, x, masks, attack=attack, norm=norm, epsilon=epsilon, steps=steps,
                                           domain=domain, generator=generator)  # fmt: skip
        influence = changed.double().mean(1).cpu().numpy()
    sizes = subset_masks(codes, n).sum(1)
    levels = np.array([0.0] + [influence[sizes == k].mean() for k in range(1, n + 1)])
    return {"decomposition": np.diff(levels), "levels": levels, "codes": codes, "subset_influence": influence}


# -- method scores on the circuits (each ↑) --------------------------------------------

#: A variable counts as relevant to a method when its mean |Aᵢ| over the 2ⁿ inputs exceeds
#: this fraction of the largest variable's.
DUMMY_RTOL = 1e-3
#: Two normalised attribution vectors at one input are told apart when half their L1
#: distance (the mass that must move to turn one into the other) exceeds this.
IDENTIFY_TOL = 0.05


def _mean_abs(method, subject, ctx: CheckContext, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    attr = ctx.attribute(method, subject.model, subject.inputs, subject.targets, subject.baseline, where=where)
    return attr, attr.abs().mean(0).double().cpu()


@check(suite="boolean", check="dummy_recovery", metric="dummy_f1", direction="higher")
def dummy_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """Juntas and dictators (001 §2.1: dummy variables have Infᵢ = 0): the method calls a
    variable relevant when its mean |Aᵢ| over all 2ⁿ inputs exceeds DUMMY_RTOL × the
    largest; the value is the F1 score of those calls against the variables f depends on
    (precision and recall in the details; 0 when it calls nothing relevant)."""
    _, mean_abs = _mean_abs(method, subject, ctx, "dummy_recovery")
    relevant = set(subject.truth["relevant"])
    top = float(mean_abs.max())
    called = {i for i, v in enumerate(mean_abs.tolist()) if top > 0 and v > DUMMY_RTOL * top}
    hits = len(called & relevant)
    precision = hits / len(called) if called else 0.0
    recall = hits / len(relevant) if relevant else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Outcome(
        value=f1,
        holds=None,
        details={"precision": precision, "recall": recall, "called relevant": sorted(called),
                 "relevant": sorted(relevant), "mean_abs_attribution": mean_abs, "tolerance": DUMMY_RTOL},
    )  # fmt: skip


@check(suite="boolean", check="influence_recovery", metric="influence_spearman", direction="higher")
def influence_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """Functions with unequal influences (weighted threshold, tribes, junta): the Spearman
    rank correlation between the mean |Aᵢ| over all 2ⁿ inputs and the exact Infᵢ (§2.1),
    ties ranked by their average; 0 when the method gives every variable the same mean
    |Aᵢ| (it ranks nothing)."""
    from scipy.stats import spearmanr

    _, mean_abs = _mean_abs(method, subject, ctx, "influence_recovery")
    inf = exact_analysis(subject.truth["truth_table"])["influences"]
    if np.ptp(inf) == 0:
        return Outcome(value=math.nan, holds=None, details={"note": "equal influences: no ranking to recover"})
    flat = float(mean_abs.max() - mean_abs.min()) <= 1e-12 * max(float(mean_abs.max()), 1e-300)
    rho = 0.0 if flat else float(spearmanr(mean_abs.numpy(), inf).statistic)
    return Outcome(value=rho, holds=None, details={"mean_abs_attribution": mean_abs, "influence": inf})


def normalised(attr: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L1 norm (all-zero rows stay zero)."""
    flat = attr.reshape(len(attr), -1).double()
    return flat / flat.abs().sum(1, keepdim=True).clamp(min=1e-300)


@functools.cache
def _standard_circuits(n: int, dtype: torch.dtype) -> tuple:
    """(fn, circuit, exact decomposition) for every standard function of ``n`` inputs,
    built once per process: order_identifiability compares each test's method on all of
    them (the guard hands methods copies and restores the models, so sharing is safe)."""
    from attrbench.subjects.boolean import FUNCTIONS, circuit

    built = [circuit(fn, n, dtype=dtype) for fn in FUNCTIONS]
    return tuple((fn, c, exact_analysis(c.truth["truth_table"])["decomposition"]) for fn, c in zip(FUNCTIONS, built))


@check(suite="boolean", check="order_identifiability", metric="identifiability", direction="higher")
def order_identifiability(method, subject, ctx: CheckContext) -> Outcome:
    """§4.1: IG at (0, 1, 1, 1) against the zero baseline gives parity, majority and OR the
    same attributions, though their influence decompositions differ. For the subject's
    function f and every other standard function g of the same n whose exact
    decomposition differs from f's, the method's attributions of f and of g are compared
    input by input: told apart when ½‖Â_f(x) − Â_g(x)‖₁ > IDENTIFY_TOL, with Â = A/‖A‖₁.
    The value is the fraction of (g, x) pairs told apart (1: every input's explanation
    distinguishes f from every function with another decomposition)."""
    n = subject.truth["n"]
    mine = exact_analysis(subject.truth["truth_table"])["decomposition"]
    a_f = normalised(ctx.attribute(method, subject.model, subject.inputs, subject.targets, subject.baseline,
                                   where="order_identifiability"))  # fmt: skip
    per_function = {}
    for fn, other, decomposition in _standard_circuits(n, subject.inputs.dtype):
        if np.abs(decomposition - mine).sum() <= 1e-12:
            continue
        other = other.to(subject.inputs.device)
        a_g = normalised(ctx.attribute(method, other.model, other.inputs, other.targets, other.baseline,
                                       where=f"order_identifiability ({fn})"))  # fmt: skip
        per_function[fn] = float(((a_f - a_g).abs().sum(1) / 2 > IDENTIFY_TOL).double().mean())
    value = float(np.mean(list(per_function.values()))) if per_function else float("nan")
    return Outcome(value=value, holds=None, details={"told apart, per function": per_function,
                                                     "tolerance": IDENTIFY_TOL, "decomposition": mine})  # fmt: skip


@check(suite="boolean", check="decomposition_recovery", metric="decomposition_recovery", direction="higher")
def decomposition_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """For a method with subset attributions (``method.subset_influence``): its I_A for every
    subset A over all 2ⁿ inputs, turned into I_(k) like the exact ones (§3); the value is
    1 − ½ Σₖ |I_(k) − I_(k) exact| (1: the decomposition recovered exactly)."""
    if method.subset_influence is None:
        raise InvalidOptionError(f"method {method.name!r} exposes no subset attributions (subset_influence).")
    n = subject.truth["n"]
    masks = torch.from_numpy(subset_masks(np.arange(2**n), n))
    found = method.subset_influence(subject.model, subject.inputs, masks).double().cpu().numpy()
    estimate = decomposition_from_subset_influence(found, n)
    exact = exact_analysis(subject.truth["truth_table"])["decomposition"]
    distance = float(np.abs(estimate - exact).sum())
    return Outcome(value=1 - distance / 2, holds=None,
                   details={"decomposition": estimate, "exact": exact, "l1_distance": distance})  # fmt: skip


SUITE = Suite(
    name="boolean",
    title="Boolean",
    marker_help="higher-order Boolean recovery (001)",
    description=(
        "Recovery of known structure on exact ReLU circuits of Boolean functions (Reing et "
        "al., 001 §2.1, §3, §4.1), from attributions at all 2ⁿ inputs against the zero "
        "baseline. Three scores, each ↑: `dummy_f1` — on juntas and dictators, the F1 "
        "score of calling a variable relevant when its mean |Aᵢ| exceeds 1e-3 of the "
        "largest; `influence_spearman` — on functions with unequal influences (weighted "
        "threshold, tribes_8, juntas), the Spearman correlation of mean |Aᵢ| with the "
        "exact influence Infᵢ; `identifiability` — for each circuit f, the fraction of "
        "(g, x) pairs, g another function of the same n whose exact influence "
        "decomposition differs, at which the normalised attributions of f and g differ "
        "(half their L1 distance > 0.05; §4.1: IG at (0, 1, 1, 1) cannot tell parity, "
        "majority and OR apart). The suite score is the mean of the three over their rows. "
        "Methods with subset attributions (`influence_decomposition`) are also scored on "
        "`decomposition_recovery` = 1 − ½ Σₖ |I_(k) − I_(k) exact|, shown but not in the "
        "suite score (single-feature methods have no such row). "
        "The exact analysis and the reproduced §4.1 table are in docs/boolean.md. Interaction "
        "(order-2) methods are ranked separately, on the [Boolean interactions](interactions.md) page."
    ),
    summary_metrics=("dummy_f1", "influence_spearman", "identifiability"),
    direction="higher",
    subjects={
        "dummy_recovery": ("boolean/junta_*", "boolean/dictator_*"),
        # Functions with unequal influences (tribes_4's two blocks of two are symmetric: equal).
        "influence_recovery": ("boolean/threshold_*", "boolean/tribes_8", "boolean/junta_*"),
        "order_identifiability": ("boolean/*",),
        "decomposition_recovery": ("boolean/*",),
    },
    page="boolean.md",
    label="recovery",
)  # fmt: skip
