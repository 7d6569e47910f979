"""How far apart do the suites put the methods on small and on larger subjects?

    python bench/separation.py [leaderboards/results.jsonl] [--out bench/results/separation.md]

For every suite with rows on both, each contestant's summary score
(:func:`attrbench.leaderboard.suite_scores`, the pages' rule) is computed twice from the
same results file: once from the rows on the small subjects (8×8 digits, tabular,
analytic) and once from the rows on the larger ones (the subjects tagged ``large``:
``digits28/*``, ``shapes/*``). Only methods scored at both sizes count, and controls are
left out, as on the pages. The spread of a ranking is

- ``range``: best score − worst score;
- ``sd``: the standard deviation of the scores (population, ddof = 0);
- ``top-5 range``: the range among the five best, the gap the issue quoted for
  Sensitivity-n (IG, expected gradients, GradientSHAP, DeepLIFT and occlusion within
  0.950–0.953 on 8×8 digits);
- ``min gap``: the smallest difference between neighbours in the order — ties that the
  suite cannot tell apart.

A second table takes each larger subject alone (its rows against all the small ones), a
third pairs architectures directly: ``digits/cnn_relu`` (64 features) against
``digits28/cnn_relu`` (784; the same digits upsampled) and so on, per suite, from the
rows of just those two subjects. Nothing is re-run; the file's rows are the data.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import harness
from tabulate import tabulate

from attrbench.checks import SUITES
from attrbench.leaderboard import read_results, suite_scores
from attrbench.leaderboard.ranking import controls, order
from attrbench.subjects import default_registry as subjects

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
#: Small subject -> its larger counterpart (same architecture and activation).
PAIRS = (
    ("digits/cnn_relu", "digits28/cnn_relu"),
    ("digits/cnn_softplus", "digits28/cnn_softplus"),
    ("digits/mlp_relu", "digits28/mlp_relu"),
    ("digits/mlp_softplus", "digits28/mlp_softplus"),
)


def is_large(subject: str) -> bool:
    """True for a registered subject tagged ``large``."""
    subjects.discover()
    entry = subjects.entries.get(subject)
    return entry is not None and "large" in entry.tags


def spread(scores: dict[str, float], direction: str) -> dict[str, float]:
    """Range, standard deviation, top-5 range and smallest neighbour gap of ``scores``."""
    ranked = [scores[m] for m in order(scores, direction)]
    values = list(scores.values())
    gaps = [abs(a - b) for a, b in zip(ranked, ranked[1:])]
    return {
        "range": max(values) - min(values),
        "sd": statistics.pstdev(values),
        "top-5 range": abs(ranked[0] - ranked[min(4, len(ranked) - 1)]),
        "min gap": min(gaps) if gaps else float("nan"),
    }


def compare(records, keep_small, keep_large) -> list[list]:
    """One row per suite: methods compared, then each spread statistic at both sizes."""
    refs = controls(records)
    rows = []
    for suite in SUITES.values():
        small = suite_scores([r for r in records if keep_small(r.subject)], suite)
        large = suite_scores([r for r in records if keep_large(r.subject)], suite)
        methods = sorted((set(small) & set(large)) - refs)
        if len(methods) < 2:
            continue
        s = spread({m: small[m] for m in methods}, suite.direction)
        g = spread({m: large[m] for m in methods}, suite.direction)
        rows.append([suite.name, len(methods), *(f"{s[k]:.4f} → {g[k]:.4f}" for k in s)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=ROOT / "leaderboards" / "results.jsonl")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "separation.md")
    args = parser.parse_args()
    metadata, records = read_results(args.results)
    headers = ["suite", "methods", "range", "sd", "top-5 range", "min gap"]
    overall = compare(records, lambda s: not is_large(s), is_large)
    each = []
    for subject in sorted({r.subject for r in records if is_large(r.subject)}):
        for row in compare(records, lambda s: not is_large(s), lambda s, subject=subject: s == subject):
            each.append([f"small → {subject}", *row])
    paired = []
    for small, large in PAIRS:
        for row in compare(records, lambda s, small=small: s == small, lambda s, large=large: s == large):
            paired.append([f"{small} → {large}", *row])
    shown = args.results.relative_to(ROOT) if args.results.is_relative_to(ROOT) else args.results
    parts = [
        "# Separation of methods: small subjects → larger subjects",
        f"`python bench/separation.py {shown}`"
        f" — {harness.machine()}; rows of scale {metadata.get('scale', '?')}, seed {metadata.get('seed', '?')}.",
        "Each cell is *small → larger*: the spread of the contestants' suite scores over the rows on the "
        "small subjects, then over the rows on the subjects tagged `large` (same methods, controls left out).",
        "## All subjects of each size",
        tabulate(overall, headers, tablefmt="github"),
        "## Each larger subject alone\n\nThe small side as above; the larger side only the rows of one subject.",
        tabulate(each, ["subjects", *headers], tablefmt="github"),
        "## Matched architectures",
        tabulate(paired, ["pair", *headers], tablefmt="github"),
    ]
    harness.publish(args.out, parts)


if __name__ == "__main__":
    main()
