"""Pairwise interaction recovery on Boolean circuits: the scores of order-2 methods.

Every check calls the method's ``interactions`` at all 2ⁿ inputs of a circuit (baseline
0ⁿ) and compares with ground truth computed exactly from the truth table, never from the
network: for input x the game is v_x(S) = f(x ∧ 1_S), whose Möbius coefficients are those
of f restricted to the features x sets (attrbench.methods.interactions gives the maps to
each index). Each score is ↑.

- ``interaction_recovery``: the method's pairs I_ij(x), i < j, over all inputs, against the
  exact index it names (``method.index``; the Shapley interaction index when it names
  none). The value is Spearman's ρ over the pooled (input, pair) entries, values equal to
  within 1e-6 of the largest |exact| counting as ties; the details give the normalised L1
  error Σ|I − I*| / Σ|I*|. NaN where every exact pair is 0 (no interaction to recover).
- ``order_recovery``: at an input with exactly one feature set, every index's order-1 term
  is f's Möbius coefficient m_f({i}); at one with exactly two, every index's pair is
  m_f({i, j}) (the game has two players, so the weights 1/(t−1), 1/2^{t−2}, 1/C(t,2) are all
  1 at t = 2). The method's order-1 and order-2 terms read there are compared with the exact
  Möbius coefficients of orders 1 and 2: value 1 − Σ|m̂ − m_f| / Σ|m_f| (clipped at 0; NaN when
  f has no terms of order ≤ 2). The details give f's exact Fourier degree weights W¹, W² and
  decomposition I_(1), I_(2) (``exact_analysis``) beside the Möbius weights Σ_{|T|=k} m_f(T)².
- ``top_pair_precision``: on functions with planted pairs — the pairs inside one tribe of
  tribes, the pairs among the junta's variables, the pair of ``boolean_pairs/and2_<n>`` (x₀ ∧ x₁
  plus dummies) — the fraction of the
  top-|P| pairs by mean |I_ij| over all inputs that are planted (ties at the cut counted by
  their expected share).
- ``top_pixel_pairs`` (descriptive, not a summary metric): on a trained image subject, the
  method's ``TOP_PIXEL_PAIRS`` pairs by mean |I_ij| over its first ``PIXEL_PAIR_SAMPLES``
  inputs, kept in the details for the page's figure; the value is the share of the pairwise
  mass they hold.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from attrbench.checks.boolean import exact_analysis
from attrbench.checks.context import CheckContext, check
from attrbench.errors import InvalidOptionError
from attrbench.methods.interactions import indices_from_moebius, moebius
from attrbench.results import Outcome
from attrbench.suite import PairFigure, Suite

#: Values within this fraction of the largest |exact| entry rank as ties (float32 outputs).
TIE_RTOL = 1e-6
#: The index a method that names none is compared with.
DEFAULT_INDEX = "shapley_interaction"


def _table_and_n(subject) -> tuple[torch.Tensor, int]:
    table = subject.truth["truth_table"].double()
    return table, subject.truth["n"]


def games(table: torch.Tensor, n: int) -> torch.Tensor:
    """v_x(S) = f(x ∧ 1_S) for every input x (rows, coded as integers) and coalition S
    (columns): (2ⁿ, 2ⁿ), float64."""
    codes = torch.arange(2**n)
    return table[codes[:, None] & codes[None, :]]


def exact_index(table: torch.Tensor, n: int, index: str) -> torch.Tensor:
    """The exact (2ⁿ, n, n) ``index`` at every input of the function with this truth table."""
    if n > 12:
        raise InvalidOptionError(f"exact interaction ground truth enumerates 4ⁿ values; n = {n} is above 12.")
    return indices_from_moebius(moebius(games(table, n)), index)


def _pairs(method, subject, ctx: CheckContext, where: str) -> torch.Tensor:
    out = ctx.interactions(method, subject.model, subject.inputs, subject.targets, subject.baseline, where=where)
    return out.detach().double().cpu()


def _upper(matrices: torch.Tensor) -> torch.Tensor:
    n = matrices.shape[-1]
    i, j = torch.triu_indices(n, n, 1)
    return matrices[..., i, j]


@check(suite="interactions", check="interaction_recovery", metric="interaction_spearman", direction="higher")
def interaction_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """Spearman's ρ of the method's pairs with the exact index it names (module doc)."""
    from scipy.stats import spearmanr

    index = method.index or DEFAULT_INDEX
    table, n = _table_and_n(subject)
    truth = _upper(exact_index(table, n, index)).reshape(-1)
    found = _upper(_pairs(method, subject, ctx, "interaction_recovery")).reshape(-1)
    scale = float(truth.abs().max())
    l1 = float((found - truth).abs().sum() / truth.abs().sum()) if scale > 0 else math.nan
    details = {"index": index, "normalised_l1": l1, "tie_tolerance": TIE_RTOL}
    if scale == 0:
        return Outcome(value=math.nan, holds=None, details={**details, "note": "no exact interaction to recover"})
    grid = TIE_RTOL * scale
    a, b = (found / grid).round().numpy(), (truth / grid).round().numpy()
    rho = 0.0 if np.ptp(a) == 0 else float(spearmanr(a, b).statistic)
    return Outcome(value=rho, holds=None, details=details)


def moebius_of_function(table: torch.Tensor) -> torch.Tensor:
    """f's Möbius coefficients m_f(T) (f(x) = Σ_{T ⊆ supp x} m_f(T)), T coded as integers."""
    return moebius(table.double())


@check(suite="interactions", check="order_recovery", metric="order_recovery", direction="higher")
def order_recovery(method, subject, ctx: CheckContext) -> Outcome:
    """f's Möbius coefficients of orders 1 and 2 read off the method at inputs with one or
    two features set, against the exact ones (module doc)."""
    table, n = _table_and_n(subject)
    m = moebius_of_function(table)
    pairs = _pairs(method, subject, ctx, "order_recovery")
    singles = [1 << i for i in range(n)]
    doubles = [(1 << i) | (1 << j) for i, j in itertools.combinations(range(n), 2)]
    i, j = torch.triu_indices(n, n, 1)
    found = torch.cat([pairs[singles].diagonal(dim1=1, dim2=2).diagonal(), pairs[doubles, i, j]])
    exact = m[singles + doubles]
    mass = float(exact.abs().sum())
    analysis = exact_analysis(subject.truth["truth_table"])
    sizes = torch.tensor([bin(k).count("1") for k in range(2**n)])
    details = {
        "moebius_weights": [float((m[sizes == k] ** 2).sum()) for k in range(n + 1)],
        "recovered_moebius_weights_1_2": [float((found[:n] ** 2).sum()), float((found[n:] ** 2).sum())],
        "fourier_degree_weights": analysis["degree_weights"], "decomposition": analysis["decomposition"],
    }  # fmt: skip
    if mass == 0:
        return Outcome(value=math.nan, holds=None, details={**details, "note": "f has no terms of order 1 or 2"})
    error = float((found - exact).abs().sum()) / mass
    return Outcome(value=max(0.0, 1 - error), holds=None, details={**details, "normalised_l1": error})


def planted_pairs(subject) -> set[tuple[int, int]]:
    """The pairs a planted-pair function makes interact: inside one tribe, or among the
    junta's k variables."""
    truth = subject.truth
    if truth["fn"] == "tribes":
        groups = truth["blocks"]
    elif truth["fn"] == "junta":
        groups = [list(range(truth["k"]))]
    elif truth["fn"] == "pair_junta":
        groups = [list(truth["pair"])]
    else:
        raise InvalidOptionError(f"{subject.name}: top_pair_precision needs tribes or a junta (planted pairs).")
    return {pair for group in groups for pair in itertools.combinations(group, 2)}


@check(suite="interactions", check="top_pair_precision", metric="top_pair_precision", direction="higher")
def top_pair_precision(method, subject, ctx: CheckContext) -> Outcome:
    """Precision of the top-|P| pairs by mean |I_ij| over all inputs (module doc)."""
    n = subject.truth["n"]
    planted = planted_pairs(subject)
    strength = _upper(_pairs(method, subject, ctx, "top_pair_precision").abs().mean(0))
    names = list(itertools.combinations(range(n), 2))
    k = len(planted)
    cut = float(strength.sort(descending=True).values[k - 1])
    above = [p for p, s in zip(names, strength.tolist()) if s > cut]
    tied = [p for p, s in zip(names, strength.tolist()) if s == cut]
    share = (k - len(above)) / len(tied)  # each tied pair is in the top k with this probability
    hits = sum(p in planted for p in above) + share * sum(p in planted for p in tied)
    details = {"planted": sorted(planted), "mean_abs_pair": strength, "top": sorted(above), "tied_at_cut": sorted(tied)}
    return Outcome(value=hits / k, holds=None, details=details)


#: Samples of the trained subject in ``top_pixel_pairs`` (its first inputs, their labels as
#: targets): each costs a sampled estimator 64·(1 + F + F(F−1)/2) ≈ 133 000 passes at F = 64.
PIXEL_PAIR_SAMPLES = 4
#: Pairs kept per method in ``top_pixel_pairs``.
TOP_PIXEL_PAIRS = 5


def pixel_grid(x: torch.Tensor) -> tuple[int, int]:
    """(rows, cols) of one-channel images ``x``, flat (N, F) with F a square or (N, [1,] H, W)."""
    features = x[0].numel()
    rows, cols = (x.shape[-2], x.shape[-1]) if x.dim() >= 3 else (math.isqrt(features),) * 2
    if rows * cols != features:
        raise InvalidOptionError(f"top_pixel_pairs needs one-channel images; inputs of shape {tuple(x.shape[1:])} "
                                 "are not (a flat square of) rows × cols pixels: run it on a one-channel subject.")
    return rows, cols


@check(suite="interactions", check="top_pixel_pairs", metric="top_pair_share", direction="higher")
def top_pixel_pairs(method, subject, ctx: CheckContext) -> Outcome:
    """The ``TOP_PIXEL_PAIRS`` pairs with the largest mean |I_ij| over the first
    ``PIXEL_PAIR_SAMPLES`` inputs of an image subject (ties: the lower pair first), kept in
    the details for the page's figure with the mean input. The value is descriptive, not a
    score of the suite: the share Σ_top mean|I_ij| / Σ_{i<j} mean|I_ij| of the pairwise mass
    those pairs hold (NaN where every pair is 0)."""
    x, t, b = ctx.samples(subject, limit=PIXEL_PAIR_SAMPLES)
    grid = pixel_grid(x)
    pairs = ctx.interactions(method, subject.model, x, t, b, where="top_pixel_pairs").detach().double().cpu()
    strength, signed = _upper(pairs.abs().mean(0)), _upper(pairs.mean(0))
    names = list(itertools.combinations(range(pairs.shape[-1]), 2))
    top = strength.sort(descending=True, stable=True).indices[:TOP_PIXEL_PAIRS].tolist()
    total = float(strength.sum())
    details = {
        "pairs": [list(names[k]) for k in top], "mean_abs": [float(strength[k]) for k in top],
        "mean": [float(signed[k]) for k in top], "grid": list(grid), "samples": len(x), "targets": t.tolist(),
        "mean_input": x.detach().double().cpu().mean(0).reshape(grid).tolist(),
    }  # fmt: skip
    share = sum(details["mean_abs"]) / total if total > 0 else math.nan
    return Outcome(value=share, holds=None, details=details)


SUITE = Suite(
    name="interactions",
    title="Boolean interactions",
    marker_help="pairwise interaction recovery on Boolean circuits (order-2 methods)",
    description=(
        "Order-2 (interaction) methods on the exact ReLU circuits of the Boolean suite, at all "
        "2ⁿ inputs against the zero baseline, scored against ground truth computed exactly from "
        "each truth table (the Möbius transform of v_x(S) = f(x ∧ 1_S); "
        "attrbench/checks/interactions.py). Only methods registered with `order=2` run here, and "
        "only here: single-feature methods are ranked on the [Boolean](boolean.md) page, which also "
        "shows this page's summary in its own section. Three "
        "scores, each ↑: `interaction_spearman` — Spearman's ρ of the method's pairs I_ij(x) over "
        "all inputs and pairs with the exact index it names (Shapley interaction index when it "
        "names none; the normalised L1 error is in results.csv's details); `order_recovery` — "
        "1 − Σ|m̂ − m_f| / Σ|m_f| over f's Möbius coefficients of orders 1 and 2, read off the "
        "method at inputs with one or two features set (where every index equals them); "
        "`top_pair_precision` — on tribes, juntas and x₀ ∧ x₁ plus dummies (`boolean_pairs/*`), the "
        "fraction of the top pairs by mean |I_ij| that lie inside one tribe, among the junta's variables "
        "or are (0, 1). The suite score is the mean of "
        "the three over their rows. A fourth check, `top_pixel_pairs` on the trained "
        "`digits/mlp3x256_relu`, is descriptive (no ground truth; its `top_pair_share` is not "
        "scored): each method's most interacting pixel pairs, drawn in the figure below."
    ),
    summary_metrics=("interaction_spearman", "order_recovery", "top_pair_precision"),
    direction="higher",
    subjects={
        "interaction_recovery": ("boolean/*", "boolean_pairs/*"),
        "order_recovery": ("boolean/*", "boolean_pairs/*"),
        "top_pair_precision": ("boolean/tribes_*", "boolean/junta_*", "boolean_pairs/*"),
        "top_pixel_pairs": ("digits/mlp3x256_relu",),
    },
    page="interactions.md",
    label="interaction recovery",
    pair_figure=PairFigure(
        check="top_pixel_pairs", file="interactions_pixel_pairs.png", title="Top interacting pixel pairs",
        caption=f"The {TOP_PIXEL_PAIRS} pixel pairs with the largest mean |I_ij| over {PIXEL_PAIR_SAMPLES} test "
        "digits (target: their label) of each method on digits/mlp3x256_relu, drawn on the mean digit; "
        "numbered by rank, wider for larger mean |I_ij| (the top_pixel_pairs rows' details).",
    ),
    overall_rank=False,
    shown_on="boolean.md",
    shown_as="Interaction methods (order 2)",
    notes=(
        "The built-in indices run with their default sampled estimators (64 coalition draws; "
        "`exact=True` scores 1 on the first two checks); `integrated_hessians` differentiates a "
        "softplus copy of each ReLU circuit (and of the digits MLP). `top_pixel_pairs` runs on a trained "
        f"model, `digits/mlp3x256_relu`: each method's {TOP_PIXEL_PAIRS} most interacting pixel pairs over "
        f"its first {PIXEL_PAIR_SAMPLES} test digits, drawn in the figure above. Its value `top_pair_share`, the "
        "share of the pairwise mass Σ mean|I_ij| those pairs hold, is descriptive (no ground truth) and not part "
        "of the suite's score. The sampled estimators' error against the exact index as the budget grows is "
        "in `bench/results/interactions.md` of the repository (`python bench/interactions.py`)."
    ),
)  # fmt: skip
