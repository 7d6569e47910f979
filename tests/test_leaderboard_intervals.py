"""Intervals, rank ranges, controls, sanity marks and "< resolution" on the leaderboard
(attrbench.leaderboard.intervals and .ranking; docs/leaderboards.md). Expected numbers are
worked out by hand or by scipy in each docstring; nothing here runs a method."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from scipy import stats

from attrbench import leaderboard as lb
from attrbench.checks import SUITES
from attrbench.checks.axioms import RESOLUTION
from attrbench.errors import CorruptResultsError
from attrbench.leaderboard import intervals, ranking
from attrbench.results import Record
from attrbench.suite import HOLDS_RATE, Suite


def row(suite="sensitivity_n", check="sensitivity_n", metric="mean_pcc", method="a", subject="s1", value=None,
        *, samples=None, aggregate="mean", holds=None, kind="", direction="higher", error=""):  # fmt: skip
    """A Record whose value is its samples' aggregate (or ``value`` for an exact row)."""
    if samples is not None:
        samples = [float(v) for v in samples]
        value = intervals.aggregate(samples, aggregate)
    return Record(suite, check, metric, direction, method, subject, None if error else value, holds, False,
                  error, "{}", "quick", 0, kind=kind, samples=samples,
                  aggregate=None if samples is None else aggregate)  # fmt: skip


def cells(table: str, method: str) -> list[str]:
    line = next(line for line in table.splitlines() if f"| {method} " in line)
    return [c.strip() for c in line.split("|")[1:-1]]


# ----------------------------------------------------------------------- row intervals


def test_exact_rows_have_degenerate_intervals():
    """No samples (an exact value), or a single sample: [value, value]; no value: none."""
    assert intervals.row_interval(row(value=0.25)) == (0.25, 0.25)
    assert intervals.row_interval(row(samples=[0.5])) == (0.5, 0.5)
    assert intervals.row_interval(row(error="boom")) == (None, None)
    assert lb.with_interval(row(value=0.25)).ci_low == 0.25


def test_aggregates_by_hand():
    """mean of [1, NaN, 3] = 2 (undefined samples left out); grid_mean of [[1, NaN], [3, 5]]:
    column means [2, 5] -> 3.5, and with a column all NaN, [[1, NaN], [3, NaN]] -> 2;
    max/min ignore NaN; min_of_means of [[1, 4], [3, 2]]: means [2, 3] -> 2."""
    nan = float("nan")
    assert intervals.aggregate([1, nan, 3], "mean") == 2
    assert intervals.aggregate([[1, nan], [3, 5]], "grid_mean") == 3.5
    assert intervals.aggregate([[1, nan], [3, nan]], "grid_mean") == 2
    assert intervals.aggregate([1, nan, 3], "max") == 3 and intervals.aggregate([1, nan, 3], "min") == 1
    assert intervals.aggregate([[1, 4], [3, 2]], "min_of_means") == 2
    with pytest.raises(ValueError, match="unknown aggregate"):
        intervals.aggregate([1, 2], "median")


def test_mean_interval_agrees_with_scipy_percentile_bootstrap():
    """The same 40 draws of N(0, 1): our 1000-resample percentile interval of the mean
    against scipy.stats.bootstrap(method="percentile") with 100 000 resamples (a near
    exact reference). Monte-Carlo error of a 2.5 % quantile from B = 1000 replicates of an
    (approximately normal) mean with standard error se: sqrt(0.025 · 0.975 / B) / φ(1.96)
    · se = 0.0845 se; 4 of those (0.34 se) bound the difference."""
    data = np.random.default_rng(7).normal(size=40)
    low, high = intervals.row_interval(row(samples=data))
    ref = stats.bootstrap((data,), np.mean, method="percentile", n_resamples=100_000, random_state=1)
    se = data.std(ddof=1) / math.sqrt(len(data))
    assert abs(low - ref.confidence_interval.low) < 0.34 * se
    assert abs(high - ref.confidence_interval.high) < 0.34 * se
    assert low < data.mean() < high


def test_max_interval_ends_at_the_observed_max():
    """A resample's max is never above the sample max, and it equals it whenever the
    largest sample is drawn (probability 1 − (1 − 1/n)^n ≈ 0.64 for n = 20), so the 97.5 %
    order statistic of the replicates is the observed max."""
    data = np.arange(20.0)
    low, high = intervals.row_interval(row(samples=data, aggregate="max"))
    assert high == 19.0 and low <= 19.0


def test_min_of_means_interval_is_built_from_the_columns():
    """Seven attacks of equal strength (every column N(0.6, 0.2²), 24 samples): the observed
    minimum of the column means. The percentile bootstrap of the minimum itself is biased
    low (E min ≤ min E) and can exclude the observed value; the row's interval is instead
    [min low_a, min high_a] of per-column percentile intervals at level 1 − 0.05/7, here
    recomputed by a plain loop over columns with numpy's quantile, and it contains the
    observed value."""
    data = np.random.default_rng(3).normal(0.6, 0.2, size=(24, 7))
    r = Record("fragility", "fragility", "robustness", "higher", "a", "s1", intervals.aggregate(data, "min_of_means"),
               None, False, "", "{}", "quick", 0, samples=data.tolist(), aggregate="min_of_means")  # fmt: skip
    low, high = intervals.row_interval(r)
    idx = intervals.resample_indices(24, intervals.row_key(r), r.seed)
    col_bounds = []
    for c in range(7):
        means = data[idx, c].mean(axis=1)
        col_bounds.append(np.quantile(means, [0.05 / 14, 1 - 0.05 / 14], method="inverted_cdf"))
    col_bounds = np.array(col_bounds)
    assert (low, high) == pytest.approx((col_bounds[:, 0].min(), col_bounds[:, 1].min()), rel=1e-12)
    assert low <= r.value <= high
    naive_low, naive_high = intervals.interval(intervals.row_replicates(r))
    assert naive_high < high  # the naive replicates sit lower


def test_min_of_means_interval_covers_the_true_minimum():
    """Coverage by simulation: 200 data sets of 30 samples × 4 attacks with column means
    (0.5, 0.52, 0.6, 0.7) and sd 0.15; the true minimum of the means is 0.5. Bonferroni
    makes the interval conservative (coverage ≥ 95 % up to the percentile bootstrap's own
    small-sample error), and if the coverage were 0.95 the chance of 180 or fewer covers in
    200 would be scipy's binom.cdf(180, 200, 0.95) ≈ 0.002."""
    rng = np.random.default_rng(11)
    mu = np.array([0.5, 0.52, 0.6, 0.7])
    covered = 0
    for k in range(200):
        data = rng.normal(mu, 0.15, size=(30, 4))
        low, high = intervals.min_of_means_interval(data, ("sim", k), 0, n_boot=400)
        covered += low <= 0.5 <= high
    assert covered > 180


def test_intervals_are_seeded_by_the_row_alone():
    """Same row -> same interval; indices depend on (suite, check, subject, metric, n, seed),
    not the method (paired), except on drawn cases (subject "generated": keyed by method)."""
    a = row(samples=np.linspace(0, 1, 30), method="a")
    b = row(samples=np.linspace(0, 1, 30), method="b")
    assert intervals.row_interval(a) == intervals.row_interval(a) == intervals.row_interval(b)
    assert np.array_equal(intervals.row_replicates(a), intervals.row_replicates(b))
    ga, gb = (row(subject="generated", samples=np.linspace(0, 1, 30), method=m) for m in "ab")
    assert not np.array_equal(intervals.row_replicates(ga), intervals.row_replicates(gb))


# ------------------------------------------------------------------------- rank ranges


def test_rank_ranges_by_hand():
    """Replicates built so the answer is known: e = a shared term with a wide spread
    (linspace(−5, 5)), u = a method-specific term (a permutation of linspace(−1, 1)).
    A = 3 + e, B = 2.5 + e, C = 2.5 + e + u, D = e − 10, higher is better.
    Paired differences: A − B = 0.5 always (told apart); A − C = 0.5 − u, whose 95 %
    interval ≈ [−0.45, 1.45] holds 0 (not told apart); B − C = −u (not); D is 10 below all.
    Ranks (k = 4): A: 1 + 0 above, 4 − 2 below (B, D) -> 1–2; B: 1 + 1 (A), 4 − 1 (D) -> 2–3;
    C: 1 + 0, 4 − 1 (D) -> 1–3; D: 4.
    The unpaired intervals of A and B (width ≈ 9.5) overlap almost entirely: interval
    overlap would call every pair of A, B, C a tie."""
    e = np.linspace(-5, 5, 1000)
    u = np.random.default_rng(0).permutation(np.linspace(-1, 1, 1000))
    reps = {"A": 3 + e, "B": 2.5 + e, "C": 2.5 + e + u, "D": e - 10}
    assert intervals.rank_ranges(reps, "higher") == {"A": (1, 2), "B": (2, 3), "C": (1, 3), "D": (4, 4)}
    a_low, a_high = intervals.interval(reps["A"])
    b_low, b_high = intervals.interval(reps["B"])
    assert a_low < b_high and b_low < a_high  # overlapping, yet separated by the paired rule
    assert intervals.format_rank_range(1, 3) == "1–3" and intervals.format_rank_range(4, 4) == "4"


def test_identical_methods_share_one_rank_range():
    """Three methods with the same samples on the same row: every paired difference is 0,
    so none is told apart: all 1–3. A fourth with every sample shifted by +10 (a constant
    far beyond the spread) is told apart from each: it is #1 and the others 2–4."""
    data = np.random.default_rng(3).normal(size=25)
    same = [row(method=m, samples=data) for m in "abc"]
    board = lb.analyse(same)
    assert board.suites["sensitivity_n"].ranks == {"a": (1, 3), "b": (1, 3), "c": (1, 3)}
    assert [s.rank for s in board.standings] == [(1, 3)] * 3
    board = lb.analyse([*same, row(method="d", samples=data + 10)])
    assert board.suites["sensitivity_n"].ranks == {"d": (1, 1), "a": (2, 4), "b": (2, 4), "c": (2, 4)}


def test_small_paired_shift_separates_where_intervals_overlap():
    """Sample i is the same input for every method: b = a + 0.01 on every sample of a
    spread of ~1. Each score's interval is ~0.6 wide and they overlap, but every paired
    replicate of b − a is exactly 0.01 > 0: b is #1, a #2."""
    data = np.random.default_rng(5).normal(size=40)
    board = lb.analyse([row(method="a", samples=data), row(method="b", samples=data + 0.01)])
    suite = board.suites["sensitivity_n"]
    assert suite.ranks == {"b": (1, 1), "a": (2, 2)}
    assert suite.intervals["a"][1] > suite.intervals["b"][0]


def test_overall_mean_rank_uses_replicated_rankings():
    """a and b identical in two suites (sensitivity_n, and fragility's ``robustness``):
    every replicate ranks them 1.5 each, so their mean ranks cannot be told apart (1–2);
    c, 10 below on every sample, is last in every replicate: 3."""
    data = np.random.default_rng(4).normal(size=20)
    records = []
    for m, shift in (("a", 0.0), ("b", 0.0), ("c", -10.0)):
        records += [row(method=m, samples=data + shift),
                    row("fragility", "fragility", "robustness", m, samples=data + shift)]  # fmt: skip
    standings = {s.method: s for s in lb.standings(records)}
    assert {m: s.rank for m, s in standings.items()} == {"a": (1, 2), "b": (1, 2), "c": (3, 3)}
    assert {m: s.mean_rank for m, s in standings.items()} == {"a": 1.5, "b": 1.5, "c": 3.0}


def test_only_methods_scored_in_every_overall_suite_are_ranked_overall():
    """a and b have scores in sensitivity_n and fragility; v only in sensitivity_n (a variant
    run in one suite), and p only in the interactions suite (``overall_rank=False``). By hand:
    a is 10 above b everywhere, so a is 1 and b is 2 overall, each on both suites; v — though
    first in sensitivity_n — and p get no overall rank or mean rank, and the table says
    "not ranked: 1 of 2 suites" and "0 of 2". Without the coverage rule v would average its
    one rank 1 and share the top."""
    data = np.random.default_rng(5).normal(size=20)
    records = []
    for m, shift in (("a", 10.0), ("b", 0.0)):
        records += [row(method=m, samples=data + shift),
                    row("fragility", "fragility", "robustness", m, samples=data + shift)]  # fmt: skip
    records.append(row(method="v", samples=data + 20.0))
    records.append(row("interactions", "interaction_recovery", "interaction_spearman", "p", value=0.9))
    standings = {s.method: s for s in lb.standings(records)}
    assert board_ranks(standings) == {"a": (1, 1), "b": (2, 2), "v": None, "p": None}
    assert {m: (s.covered, s.required) for m, s in standings.items()} == {
        "a": (2, 2), "b": (2, 2), "v": (1, 2), "p": (0, 2)}
    assert [s.method for s in lb.standings(records)] == ["a", "b", "v", "p"]
    assert lb.analyse(records).suites["sensitivity_n"].ranks["v"] == (1, 1)  # its suite rank stays
    table = lb.overall_table(records)
    assert cells(table, "v")[0] == "–" and cells(table, "v")[-1] == "not ranked: 1 of 2 suites"
    assert cells(table, "p")[-1] == "not ranked: 0 of 2 suites"


def board_ranks(standings):
    return {m: s.rank for m, s in standings.items()}


# ---------------------------------------------------------------------------- controls


def control_records(with_control: bool = True):
    """x: 30 samples; a = x + 1 (better than the control on every sample), b = x ± 0.001
    alternating (a paired difference symmetric about 0: cannot be told apart), c = x − 1
    (worse); the control ``rnd`` = x, kind "control"."""
    x = np.random.default_rng(2).normal(size=30)
    jitter = 0.001 * np.where(np.arange(30) % 2, 1.0, -1.0)
    records = [row(method="a", samples=x + 1), row(method="b", samples=x + jitter), row(method="c", samples=x - 1)]
    if with_control:
        records.append(row(method="rnd", samples=x, kind="control"))
    return records


def test_controls_are_shown_marked_and_never_ranked():
    """The control gets a score and interval but no rank, is left out of every rank and of
    the mean rank (the contestants' ranks are those of the records without it), and sits
    under the rule in every table, its rank cell "control". Marks: a ▲, b ≈, c ▼."""
    board = lb.analyse(control_records())
    without = lb.analyse(control_records(with_control=False))
    suite = board.suites["sensitivity_n"]
    assert suite.ranks == without.suites["sensitivity_n"].ranks
    assert "rnd" in suite.scores and "rnd" not in suite.ranks and suite.controls == ["rnd"]
    assert suite.versus == {"a": {"rnd": "▲"}, "b": {"rnd": "≈"}, "c": {"rnd": "▼"}}
    assert [s.rank for s in board.standings[:3]] == [s.rank for s in without.standings]
    control = board.standings[-1]
    assert (control.method, control.control, control.rank, control.mean_rank) == ("rnd", True, None, None)

    table = lb.overall_table(control_records())
    lines = table.splitlines()
    assert lines.index(next(line for line in lines if "| rnd " in line)) == len(lines) - 1
    assert lines[-2].count("───") == len(lines[0].split("|")) - 2  # every column
    assert cells(table, "rnd")[0] == "control" and cells(table, "rnd")[-1] == "–"
    assert cells(table, "a")[3].endswith("(#1) ▲")
    page = lb.render_pages(control_records())["sensitivity_n.md"]
    assert "| vs rnd" in page and cells(page.split("## `sensitivity_n`")[1], "rnd")[0] == "rnd"
    assert "Controls (`rnd`" in page


def test_kind_comes_from_the_registry_for_old_rows():
    """Rows stored before the ``kind`` column: the registry's kind of the method's base name
    (``random`` is the built-in control, with or without options); an unknown name: ""."""
    records = [row(method="random[seed=3]", value=0.1), row(method="saliency", value=0.2), row(method="zz", value=0.3)]
    assert ranking.kinds(records) == {"random[seed=3]": "control", "saliency": "gradient", "zz": ""}
    assert ranking.controls(records) == {"random[seed=3]"}


# -------------------------------------------------------------------------- sanity marks


@pytest.fixture
def sanity_suite(monkeypatch):
    """A synthetic suite with a failure mark (the real sanity suite lands elsewhere)."""
    suite = Suite(name="sanity", title="Sanity", marker_help="test", description="test sanity suite",
                  summary_metrics=(HOLDS_RATE,), direction="higher", subjects={}, page="sanity.md",
                  failure_mark="†")  # fmt: skip
    monkeypatch.setitem(SUITES, "sanity", suite)
    return suite


def test_failing_a_sanity_suite_marks_the_method_on_every_page(sanity_suite):
    """a has a sanity verdict that does not hold -> "a †" wherever a is listed, with the
    legend; b holds everywhere and c's only sanity row is an error: neither is marked."""
    records = [
        row("sanity", "model_randomization", "similarity", "a", value=0.9, holds=False),
        row("sanity", "model_randomization", "similarity", "b", value=0.1, holds=True),
        row("sanity", "model_randomization", "similarity", "c", error="boom"),
        *(row(method=m, value=v) for m, v in (("a", 0.9), ("b", 0.5), ("c", 0.2))),
    ]
    assert ranking.sanity_marks(records) == {"a": "†"}
    pages = lb.render_pages(records)
    for name in ("README.md", "sensitivity_n.md", "sanity.md"):
        assert "| a † " in pages[name] and "| b † " not in pages[name] and "| c † " not in pages[name], name
        assert "† fails the Sanity suite ([sanity.md](sanity.md))" in pages[name], name


# ------------------------------------------------------------------------- resolution


def test_residuals_below_resolution_print_as_such_and_csv_keeps_them(tmp_path):
    """completeness has resolution 2**-19 (axioms.RESOLUTION): 1e-7 prints "< resolution"
    with the note, 1e-3 prints 0.001; lipschitz and sensitivity_n set none, so 1e-7 stays
    a number. results.csv keeps the raw 1e-07."""
    assert RESOLUTION == 2.0**-19
    records = [
        row("axioms", "completeness", "completeness_residual", "a", "lin", 1e-7, holds=True, direction="lower"),
        row("axioms", "completeness", "completeness_residual", "b", "lin", 1e-3, holds=True, direction="lower"),
        row("axioms", "lipschitz", "lipschitz_estimate", "a", "lin", 1e-7, holds=True, direction="lower"),
        row(method="a", value=1e-7),
    ]
    lb.write_leaderboard(tmp_path, records, {})
    axioms = (tmp_path / "axioms.md").read_text(encoding="utf-8")
    completeness = axioms.split("## `completeness`")[1].split("## `lipschitz`")[0]
    assert cells(completeness, "a")[1] == "< resolution ✓" and cells(completeness, "b")[1] == "0.001 ✓"
    assert "below 1.91e-06, the check's numerical resolution" in completeness
    assert cells(axioms.split("## `lipschitz`")[1], "a")[1] == "1e-07 ✓"
    assert "| a  " in (tmp_path / "sensitivity_n.md").read_text(encoding="utf-8")
    assert "1e-07" in (tmp_path / "sensitivity_n.md").read_text(encoding="utf-8")
    csv = (tmp_path / "results.csv").read_text(encoding="utf-8")
    assert "completeness,completeness_residual,lower,a,lin,1e-07," in csv


def test_value_with_interval_formats():
    """value [low, high]; the value alone where degenerate; "< resolution" for parts below."""
    assert lb.markdown.value_with_interval(0.5, 0.4, 0.6) == "0.5 [0.4, 0.6]"
    assert lb.markdown.value_with_interval(0.5, 0.5, 0.5) == "0.5"
    assert lb.markdown.value_with_interval(1e-7, 1e-8, 1e-7, 1e-6) == "< resolution"
    assert lb.markdown.value_with_interval(1e-7, 1e-8, 1e-5, 1e-6) == "< resolution [< resolution, 1e-05]"


# ----------------------------------------------------------------------- store and bytes


def test_old_results_jsonl_still_loads_and_renders(tmp_path):
    """A row written before kind, ci_low, ci_high, samples and aggregate (and source_hash,
    plugin) existed loads with their defaults (results.OPTIONAL_COLUMNS) and renders with
    a degenerate interval: the value alone; ``random`` is a control by the registry."""
    old = []
    for method, value in (("saliency", 0.5), ("random", 0.25)):
        data = row(method=method, value=value).to_dict()
        for column in ("kind", "ci_low", "ci_high", "samples", "aggregate", "source_hash", "plugin"):
            del data[column]
        old.append(json.dumps(data))
    (tmp_path / "results.jsonl").write_text("\n".join([json.dumps({"metadata": {}}), *old]) + "\n")
    _, records = lb.read_results(tmp_path / "results.jsonl")
    assert [(r.samples, r.ci_low, r.kind) for r in records] == [(None, None, "")] * 2
    lb.write_leaderboard(tmp_path, records, {})
    page = (tmp_path / "sensitivity_n.md").read_text(encoding="utf-8")
    assert cells(page, "saliency")[:3] == ["1", "saliency", "0.5"] and cells(page, "random")[0] == "control"
    assert "No row here keeps per-sample values" in page
    assert {r.method: r.ci_low for r in lb.read_results(tmp_path / "results.jsonl")[1]} == {"random": 0.25,
                                                                                          "saliency": 0.5}


def test_samples_round_trip_and_the_same_records_give_the_same_bytes(tmp_path):
    """Rows with samples (NaN and inf among them), shuffled: identical files, results.jsonl
    included (same metadata); re-rendering from the stored rows (``attrbench leaderboard``)
    gives the same bytes again: intervals come from the stored samples only."""
    records = [*control_records(), row(method="a", subject="s2", samples=[1.0, float("nan"), 3.0, float("inf")],
                                       aggregate="max")]  # fmt: skip
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    lb.write_leaderboard(tmp_path / "one", records, {"scale": "quick"})
    lb.write_leaderboard(tmp_path / "two", shuffled, {"scale": "quick"})
    _, stored = lb.read_results(tmp_path / "one" / "results.jsonl")
    lb.write_leaderboard(tmp_path / "three", stored, {"scale": "quick"})
    names = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    for name in names:  # the HTML site (site/) too
        first = (tmp_path / "one" / name).read_bytes()
        assert first == (tmp_path / "two" / name).read_bytes() == (tmp_path / "three" / name).read_bytes(), name
    inf_row = next(r for r in stored if r.subject == "s2")
    assert inf_row.samples == [1.0, None, 3.0, "inf"] and inf_row.value == math.inf
    header = (tmp_path / "one" / "results.csv").read_text().splitlines()[0]
    assert header.endswith(",kind,ci_low,ci_high") and "samples" not in header


def test_a_bad_samples_column_is_a_corrupt_store(tmp_path):
    data = row(samples=[1.0, 2.0]).to_dict()
    data["samples"] = "1,2"
    (tmp_path / "results.jsonl").write_text(json.dumps({"metadata": {}}) + "\n" + json.dumps(data) + "\n")
    with pytest.raises(CorruptResultsError, match="'samples' has the wrong type"):
        lb.read_results(tmp_path / "results.jsonl")
