"""Tests of attrbench.leaderboard (store, ranking, pages, curve files) on hand-built records
whose scores and ranks are worked out by hand in each test's docstring (nothing here runs a
check or a method)."""

from __future__ import annotations

import json
import math
import os
import random

import numpy as np
import pytest

from attrbench import leaderboard as lb
from attrbench.checks import SUITES
from attrbench.errors import CorruptResultsError, LeaderboardError
from attrbench.leaderboard import figures, intervals, ranking, store
from attrbench.results import COLUMNS, Record
from attrbench.suite import Suite

#: The main page and one page per suite (attrbench.checks.SUITES, the one definition of the suites).
PAGES = ["README.md", *(suite.page for suite in SUITES.values())]
ALL_FILES = sorted(["results.jsonl", "results.csv", *PAGES])
#: What a leaderboard directory holds: those files and the HTML site (tests/test_leaderboard_site.py).
LISTING = sorted([*ALL_FILES, lb.SITE_DIR])


def row(suite="sensitivity_n", check="sens", metric="mean_pcc", method="a", subject="s1", value=0.5, *,
        holds=None, claimed=False, error="", direction="higher", scale="quick", seed=0, details="{}"):  # fmt: skip
    """One Record; every column has a default so a test names only what it is about."""
    return Record(suite, check, metric, direction, method, subject, None if error else value,
                  holds, claimed, error, details, scale, seed)  # fmt: skip


@pytest.fixture
def lower_fragility(monkeypatch):
    """Fragility summed up by a lower-is-better metric "shift" (the Suite is the data the
    summary rule comes from, so a suite issue can change it without touching the code)."""
    info = Suite(name="fragility", title="Fragility", marker_help="test marker", description="test suite",
                 summary_metrics=("shift",), direction="lower", subjects={}, page="fragility.md")  # fmt: skip
    monkeypatch.setitem(SUITES, "fragility", info)


def sample_records():
    """A small leaderboard touching every column type: an error row, a violated claim,
    a measurement row (holds None), a non-trivial details JSON and an infinite value."""
    return [
        row("axioms", "completeness", "abs_error", "ig", "lin", 1e-7, holds=True, claimed=True, direction="lower"),
        row("axioms", "completeness", "abs_error", "grad", "lin", 0.5, holds=False, direction="lower",
            details=json.dumps({"x": [1.0, 2.0], "note": "counterexample"}, sort_keys=True)),
        row("axioms", "ndp", "min_attr", "grad", "prod", -0.1, holds=False, claimed=True),
        row("axioms", "ndp", "min_attr", "occ", "prod", error="RuntimeError: boom"),
        row("sensitivity_n", "sens", "mean_pcc", "ig", "lin", 0.875),
        row("sensitivity_n", "sens", "mean_pcc", "grad", "lin", math.inf),
        row("sensitivity_n", "sens", "mean_pcc", "occ", "lin", 0.25),
    ]


def snapshot(directory):
    """Every file under ``directory`` (by its relative path) as (bytes, mtime_ns)."""
    return {p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip


# ------------------------------------------------------------------------------ ranking


def test_ranking_by_hand(lower_fragility):
    """Expected ranks worked out by hand (values are exact binary fractions, so no rounding;
    the rows keep no samples, so every score is exact: equal scores tie, any other
    difference separates, docs/leaderboards.md):

    sensitivity_n, mean_pcc, higher is better: a = (0.75 + 0.25)/2 = 0.5, b = 0.5, c = 0.875
      -> c #1; a and b tie at 0.5: both 2–3 (average rank 2.5).
    fragility, shift, lower is better: a = 0.125, b = 0.375, c = 0.25 (c's "other" metric
      row is not the summary metric and is ignored) -> a #1, c #2, b #3.
    overall = mean rank (ties at their average): a (2.5+1)/2 = 1.75, b (2.5+3)/2 = 2.75,
      c (1+2)/2 = 1.5 -> c #1, a #2, b #3, all separated.
    """
    records = [
        row(method="a", subject="s1", value=0.75), row(method="a", subject="s2", value=0.25),
        row(method="b", value=0.5), row(method="c", value=0.875),
        row("fragility", "topk", "shift", "a", value=0.125, direction="lower"),
        row("fragility", "topk", "shift", "b", value=0.375, direction="lower"),
        row("fragility", "topk", "shift", "c", value=0.25, direction="lower"),
        row("fragility", "topk", "other", "c", value=-100.0, direction="lower"),
    ]  # fmt: skip
    assert lb.suite_scores(records, SUITES["sensitivity_n"]) == {"a": 0.5, "b": 0.5, "c": 0.875}
    assert lb.suite_scores(records, SUITES["fragility"]) == {"a": 0.125, "b": 0.375, "c": 0.25}
    by_method = {s.method: s for s in lb.standings(records)}
    assert {m: s.ranks for m, s in by_method.items()} == {
        "a": {"sensitivity_n": (2, 3), "fragility": (1, 1)},
        "b": {"sensitivity_n": (2, 3), "fragility": (3, 3)},
        "c": {"sensitivity_n": (1, 1), "fragility": (2, 2)},
    }
    assert {m: s.mean_rank for m, s in by_method.items()} == {"a": 1.75, "b": 2.75, "c": 1.5}
    assert [s.method for s in lb.standings(records)] == ["c", "a", "b"]
    assert [s.rank for s in lb.standings(records)] == [(1, 1), (2, 2), (3, 3)]

    lines = lb.overall_table(records).splitlines()[2:]
    assert [[c.strip() for c in line.split("|")[1:-1]] for line in lines] == [
        # axioms, Sensitivity-n, fragility, then "–" for every later suite (no rows there)
        ["1", "c", "–", "0.875 (#1)", "0.25 (#2)", *["–"] * (len(SUITES) - 3), "1.5"],
        ["2", "a", "–", "0.5 (#2–3)", "0.125 (#1)", *["–"] * (len(SUITES) - 3), "1.75"],
        ["3", "b", "–", "0.5 (#2–3)", "0.375 (#3)", *["–"] * (len(SUITES) - 3), "2.75"],
    ]


def test_exact_scores_rank_ties_as_ties():
    """Scores without sampling (constant replicates): the difference of two is exact, so
    equal scores share the range of the ranks they span and every other pair is told apart.
    {b: 1, a: 1, c: 2}, higher is better: c 1; a and b 2–3. ``order`` breaks the tie by name
    for listing only."""
    reps = {m: np.full(10, v) for m, v in {"b": 1.0, "a": 1.0, "c": 2.0}.items()}
    assert intervals.rank_ranges(reps, "higher") == {"c": (1, 1), "a": (2, 3), "b": (2, 3)}
    assert intervals.rank_ranges(reps, "lower") == {"c": (3, 3), "a": (1, 2), "b": (1, 2)}
    assert ranking.order({"b": 1.0, "a": 1.0, "c": 2.0}, "higher") == ["c", "a", "b"]


def test_holds_rate_counts_verdict_rows_only():
    """Axioms' summary is the fraction of verdict rows that hold, by hand: x has verdicts
    True, True, False (the measurement row with holds None and the error row do not count)
    -> 2/3; y has only error rows -> no score and no rank."""
    records = [
        row("axioms", "c1", "m", "x", "s1", 0.0, holds=True),
        row("axioms", "c1", "m", "x", "s2", 0.0, holds=True),
        row("axioms", "c2", "m", "x", "s1", 1.0, holds=False),
        row("axioms", "c3", "m", "x", "s1", 7.0, holds=None),
        row("axioms", "c4", "m", "x", "s1", error="ValueError: no"),
        row("axioms", "c1", "m", "y", "s1", error="ValueError: no"),
    ]
    assert lb.suite_scores(records, SUITES["axioms"]) == {"x": 2 / 3}
    assert [(s.method, s.rank) for s in lb.standings(records)] == [("x", (1, 1)), ("y", None)]


def test_error_rows_shown_not_ranked():
    """occ's only sensitivity_n row errored, so by the rule it has no score there: the
    others rank ig #1 (0.875) and grad #2 (0.25) as if occ were absent, occ's rank and
    cells show "–", and its suite page shows the error (first 60 characters, one line,
    pipes escaped so the markdown table keeps its columns)."""
    message = "RuntimeError: a | b\n" + "x" * 100
    records = [
        row(method="ig", value=0.875),
        row(method="grad", value=0.25),
        row(method="occ", error=message),
    ]
    table = lb.overall_table(records)
    assert "0.875 (#1)" in table and "0.25 (#2)" in table
    occ_line = next(line for line in table.splitlines() if " occ " in line)
    # rank, method, one cell per suite: "–"; mean rank: scored in 0 of the run's 1 overall suite
    assert [c.strip() for c in occ_line.split("|")[1:-1]] == ["–", "occ", *["–"] * len(SUITES),
                                                               "not ranked: 0 of 1 suites"]  # fmt: skip

    page = lb.render_pages(records)["sensitivity_n.md"]
    shown = "error: " + ("RuntimeError: a | b " + "x" * 100)[:60].replace("|", "\\|")
    assert shown in page
    summary = [line for line in page.splitlines() if line.startswith("| –")]
    assert [c.strip() for c in summary[0].split("|")[1:-1]] == ["–", "occ", "–", "1", "1"]


# ------------------------------------------------------------------------------- merge


def test_merge_replaces_the_new_methods_rows_and_keeps_the_rest():
    """By the merge rule: new holds method a in suite sensitivity_n, so every old
    (a, sensitivity_n) row goes (including subject s2, absent from the new run); a's
    axioms rows and every row of b stay; the result is sorted by Record.key."""
    a_old = [row(method="a", subject="s1", value=0.1), row(method="a", subject="s2", value=0.2)]
    a_axioms = row("axioms", "dummy", "err", "a", "s1", 0.0, holds=True)
    b_rows = [row(method="b", value=0.3), row("axioms", "dummy", "err", "b", "s1", 0.0, holds=True)]
    new = [row(method="a", subject="s1", value=0.9)]
    merged = lb.merge([*a_old, a_axioms, *b_rows], new)
    assert merged == sorted([a_axioms, *b_rows, *new], key=lambda r: r.key)
    assert [r.key for r in merged] == sorted(r.key for r in merged)


@pytest.mark.parametrize("change", [{"scale": "standard"}, {"seed": 1}])
def test_merge_refuses_another_scale_or_seed(change):
    """The spec's message: rows of another scale/seed are never ranked together, and what
    to do (another --leaderboard-dir, or delete the old results)."""
    existing = [row(method="b")]
    new = [row(method="a", **change)]
    with pytest.raises(LeaderboardError) as info:
        lb.merge(existing, new)
    message = str(info.value)
    assert "never ranked together" in message
    assert "--leaderboard-dir" in message and "delete the old results" in message


def test_write_refuses_mixed_runs(tmp_path):
    """write_leaderboard (the CLI's path from a hand-edited results.jsonl) holds the same
    rule as merge and writes nothing."""
    with pytest.raises(LeaderboardError, match="never ranked together"):
        lb.write_leaderboard(tmp_path / "out", [row(method="a"), row(method="b", scale="paper")], {})
    assert not (tmp_path / "out").exists()


def test_update_leaderboard_merges_into_the_store(tmp_path):
    """Two runs by hand: the first writes a and b, the second re-runs only a; the store
    then holds b's first-run row and a's second-run row, metadata from the second run
    over the first's."""
    lb.update_leaderboard(tmp_path, [row(method="a", value=0.25), row(method="b", value=0.5)], {"date": "1", "x": 1})
    lb.update_leaderboard(tmp_path, [row(method="a", value=0.75)], {"date": "2"})
    metadata, records = lb.read_results(tmp_path / "results.jsonl")
    assert metadata == {"date": "2", "x": 1}
    assert [(r.method, r.value) for r in records] == [("a", 0.75), ("b", 0.5)]


def test_update_refuses_another_seed_before_writing(tmp_path):
    """A second run at another seed must not touch the first run's files."""
    lb.update_leaderboard(tmp_path, [row(seed=0)], {})
    before = snapshot(tmp_path)
    with pytest.raises(LeaderboardError, match="never ranked together"):
        lb.update_leaderboard(tmp_path, [row(seed=1)], {})
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------ writing


def test_write_is_byte_identical_and_round_trips(tmp_path):
    """Same records (in another order, with another date) -> the same .csv and .md bytes;
    only results.jsonl carries the metadata, and it reads back to exactly what was
    written (records sorted by key; inf survives as JSON Infinity)."""
    records = sample_records()
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    first = lb.write_leaderboard(tmp_path / "one", records, {"date": "2025-01-01", "scale": "quick"})
    lb.write_leaderboard(tmp_path / "two", shuffled, {"scale": "quick", "date": "2026-02-02"})
    assert sorted(p.name for p in first) == LISTING
    for name in ALL_FILES:
        if name != "results.jsonl":
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    metadata, read_back = lb.read_results(tmp_path / "one" / "results.jsonl")
    assert metadata == {"date": "2025-01-01", "scale": "quick"}
    assert read_back == [lb.with_interval(r) for r in sorted(records, key=lambda r: r.key)]

    lb.write_leaderboard(tmp_path / "one", read_back, metadata)  # the CLI's regeneration
    assert {name.split("/")[0] for name in snapshot(tmp_path / "one")} == set(LISTING)
    assert (tmp_path / "one" / "results.csv").read_bytes() == (tmp_path / "two" / "results.csv").read_bytes()


def test_csv_has_exactly_the_columns_and_repr_floats(tmp_path):
    """results.csv is the long format: header = COLUMNS, one line per record (sorted),
    value written as repr(float) (1e-07, not a rounded string), empty for None."""
    lb.write_leaderboard(tmp_path, [row(method="b", value=1e-7), row(method="a", error="boom")], {})
    lines = (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].startswith("sensitivity_n,sens,mean_pcc,higher,a,s1,,,False,boom,")
    assert lines[2].startswith("sensitivity_n,sens,mean_pcc,higher,b,s1,1e-07,,False,,")


def test_atomic_write_leaves_no_temp_files(tmp_path, monkeypatch):
    """After a write the directory holds exactly the leaderboard files; when moving a
    file into place fails, its temp file is removed and the old file is intact."""
    directory = tmp_path / "new" / "dir"  # created on demand
    lb.write_leaderboard(directory, sample_records(), {})
    assert sorted(os.listdir(directory)) == LISTING
    before = snapshot(directory)

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        lb.write_leaderboard(directory, [row()], {})
    assert snapshot(directory) == before


def test_missing_store_reads_empty(tmp_path):
    """The spec: a missing results.jsonl is an empty leaderboard."""
    assert lb.read_results(tmp_path / "results.jsonl") == ({}, [])


GOOD = json.dumps(row().to_dict())


@pytest.mark.parametrize(
    ("lines", "bad_line"),
    [
        (['{"metadata": {}}', GOOD, "{not json"], 3),
        (['{"metadata": {}}', json.dumps({k: v for k, v in row().to_dict().items() if k != "seed"})], 2),
        (['{"metadata": {}}', json.dumps({**row().to_dict(), "seed": "0"})], 2),
        (['{"metadata": {}}', json.dumps({**row().to_dict(), "holds": "yes"})], 2),
        (['{"metadata": {}}', json.dumps({**row().to_dict(), "value": True})], 2),
        (['{"metadata": {}}', json.dumps({**row().to_dict(), "direction": "sideways"})], 2),
        (['{"metadata": {}}', "[1, 2]"], 2),
        ([GOOD], 1),  # no metadata line
    ],
    ids=["bad-json", "missing-column", "seed-str", "holds-str", "value-bool", "direction", "not-object", "no-metadata"],
)
def test_corrupt_store_raises_and_writes_nothing(tmp_path, lines, bad_line):
    """A store that cannot be read raises CorruptResultsError naming the file and line and
    saying to fix or move it; update_leaderboard raises before writing, so every file's
    bytes and mtime stay as they were (the spec: never silently overwrite)."""
    lb.write_leaderboard(tmp_path, sample_records(), {"date": "d"})
    store = tmp_path / "results.jsonl"
    store.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(tmp_path)
    with pytest.raises(CorruptResultsError) as info:
        lb.update_leaderboard(tmp_path, [row(method="new")], {"date": "e"})
    message = str(info.value)
    assert str(store) in message and f"line {bad_line}" in message
    assert "fix that line or move the file away" in message
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- rendering


def test_header_arrows_come_from_the_direction(lower_fragility):
    """Every suite column of the overall table carries its Suite's arrow (fragility is
    patched to lower, the others are higher), and a per-check table carries the rows'."""
    header = lb.overall_table([row()]).splitlines()[0]
    assert "Axioms (holds_rate) ↑" in header and "Sensitivity-n (mean_pcc) ↑" in header
    assert "Fragility (shift) ↓" in header and "Boolean (recovery) ↑" in header
    assert "mean rank ↓" in header
    page = lb.render_pages([row("axioms", "completeness", "abs_error", direction="lower", holds=True)])["axioms.md"]
    assert "| method (abs_error ↓)" in page and "| holds_rate ↑" in page


@pytest.mark.parametrize(
    ("rows", "cell"),
    [
        ([dict(holds=True), dict(holds=True, subject="s2")], "✓"),
        ([dict(holds=True, claimed=True), dict(holds=True, subject="s2")], "✓ (claimed)"),
        ([dict(holds=True, claimed=True), dict(holds=False, subject="s2")], "✗"),
        ([dict(holds=True, claimed=True), dict(holds=False, claimed=True, subject="s2")], "**✗ claimed**"),
        ([dict(holds=True, claimed=True), dict(error="boom", subject="s2")], "error"),
        ([dict(holds=False), dict(error="boom", subject="s2")], "✗"),
        ([dict(holds=None)], "–"),
        ([], "–"),
    ],
    ids=["hold", "hold-claimed", "violated", "violated-claimed", "error", "violation-over-error", "no-verdict",
         "no-rows"],
)  # fmt: skip
def test_axiom_matrix_cells(rows, cell):
    """The matrix rule from the module: ✗ (bold "claimed" when a violated row is claimed)
    over "error" over ✓, "(claimed)" when a holding row is claimed, "–" without a
    verdict. Each case is checked in the README's matrix too, next to a method "z" that
    holds the same axiom so the column exists even for the no-rows case."""
    records = [row("axioms", "dummy", "err", "m", **fields) for fields in rows]
    records.append(row("axioms", "dummy", "err", "z", holds=True))
    assert lb.axiom_cell([r for r in records if r.method == "m"]) == cell
    readme = lb.main_page(records)
    matrix = readme[readme.index("## Axiom matrix"):]
    lines = [line for line in matrix.splitlines() if line.startswith("| m ")]
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["m", cell] if rows else lines == []


def test_readme_says_how_it_was_made():
    """README.md: title, scale and seed taken from the records, both regeneration
    commands, the overall table and the legend; a suite without rows says so."""
    pages = lb.render_pages([row(scale="standard", seed=7)])
    readme = pages["README.md"]
    assert readme.startswith("# attrbench leaderboard\n")
    assert "scale `standard`, seed 7" in readme
    assert "`pytest suites/`" in readme and "`attrbench leaderboard leaderboards/results.jsonl`" in readme
    assert "## Overall" in readme and "**✗ claimed**" in readme
    assert "No results yet" in pages["fragility.md"] and "No results yet" not in pages["sensitivity_n.md"]
    assert set(pages) == set(PAGES)


def test_overall_table_other_formats():
    """The terminal summary uses another tabulate format; the content is the same."""
    table = lb.overall_table([row(method="ig", value=0.875)], tablefmt="simple")
    assert "ig" in table and "0.875 (#1)" in table and "|" not in table


# ------------------------------------------------------------------------------- curves


def curve_row(method, subject, ns, pccs, **kw):
    details = json.dumps({"n": ns, "pcc": pccs, "pcc_std": [0.0] * len(ns), "samples": [4] * len(ns),
                          "zero_variance": [0] * len(ns), "features": 8})  # fmt: skip
    return row("sensitivity_n", "sensitivity_n", "mean_pcc", method, subject, sum(pccs) / len(pccs),
               details=details, **kw)  # fmt: skip


def curve_records():
    return [
        curve_row("b", "s2", [1, 2, 4], [1.0, 0.5, 0.25]),
        curve_row("a", "s1", [4, 1], [0.75, 1.0]),  # stored out of order: the CSV sorts by n
        curve_row("c", "s1", [1], [0.0], error="boom"),  # error rows carry no curve
    ]


def test_curve_frame_is_long_and_sorted():
    """One line per (method, subject, n) from each row's details, sorted by method,
    subject and n; the error row contributes nothing."""
    frame = lb.curve_frame(curve_records(), SUITES["sensitivity_n"].curves)
    assert list(frame.columns) == ["method", "subject", "n", "pcc", "pcc_std", "samples", "zero_variance"]
    assert frame[["method", "subject", "n", "pcc"]].values.tolist() == [
        ["a", "s1", 1, 1.0], ["a", "s1", 4, 0.75], ["b", "s2", 1, 1.0], ["b", "s2", 2, 0.5], ["b", "s2", 4, 0.25],
    ]  # fmt: skip


def test_curves_written_beside_the_page_and_linked(tmp_path):
    """The Sensitivity-n curves go to sensitivity_n_curves.csv (and, with matplotlib, the
    figure); the page links both, and a second write gives the same bytes."""
    pytest.importorskip("matplotlib", reason="the figure needs the plots extra")
    written = lb.write_leaderboard(tmp_path / "one", curve_records(), {})
    lb.write_leaderboard(tmp_path / "two", curve_records()[::-1], {})
    names = sorted(p.name for p in written)
    assert names == sorted([*LISTING, "sensitivity_n_curves.csv", "sensitivity_n_curves.png"])
    for name in names:
        if name not in ("results.jsonl", lb.SITE_DIR):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    csv = (tmp_path / "one" / "sensitivity_n_curves.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == "method,subject,n,pcc,pcc_std,samples,zero_variance"
    assert csv[1] == "a,s1,1,1.0,0.0,4,0"
    assert (tmp_path / "one" / "sensitivity_n_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "one" / "sensitivity_n.md").read_text(encoding="utf-8")
    assert "(sensitivity_n_curves.csv)" in page and "(sensitivity_n_curves.png)" in page
    assert "Not Quantus' SensitivityN" in page


def test_no_figure_without_matplotlib(tmp_path, monkeypatch):
    """Without the plots extra the CSV is still written and the page says how to get the
    figure instead of linking a file that is not there."""
    monkeypatch.setattr(figures, "available", lambda: False)
    names = {p.name for p in lb.write_leaderboard(tmp_path, curve_records(), {})}
    assert "sensitivity_n_curves.csv" in names and "sensitivity_n_curves.png" not in names
    page = (tmp_path / "sensitivity_n.md").read_text(encoding="utf-8")
    assert "attrbench[plots]" in page and ".png" not in page


def fragility_row(method, subject, topk):
    details = json.dumps({
        "epsilon_fraction": [0.05, 0.05], "attack": ["random", "topk@self"], "family": ["random", "self topk"],
        "epsilon": [0.1, 0.1], "topk_intersection": [topk[0], topk[1]], "spearman": [1.0, 0.5],
        "center_shift": [0.0, 1.0], "moved": [1.0, 1.0],
    })  # fmt: skip
    return row("fragility", "fragility", "robustness", method, subject, min(topk), details=details)


def test_fragility_table_averages_subjects_with_one_column_per_attack():
    """The page's table: per (method, ε) one column per attack, each the mean over
    subjects of the top-k intersection — a, topk@self: (0.5 + 0.25)/2 = 0.375, a, random:
    (1 + 0.5)/2 = 0.75; b has one subject."""
    records = [
        fragility_row("a", "s1", (1.0, 0.5)), fragility_row("a", "s2", (0.5, 0.25)),
        fragility_row("b", "s1", (0.75, 0.125)),
    ]  # fmt: skip
    curves = SUITES["fragility"].curves
    lines = lb.curve_table(lb.curve_frame(records, curves), curves).splitlines()
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[4:]]
    assert header == ["method", "epsilon_fraction", "random", "topk@self"]
    assert cells == [["a", "0.05", "0.75", "0.375"], ["b", "0.05", "0.75", "0.125"]]


def test_boolean_score_is_the_mean_of_its_three_metrics():
    """The Boolean suite sums up several metrics: a = (0.5 + 1.0 + 0.0) / 3 = 0.5; a row of
    another metric is ignored; b has only identifiability 0.75."""
    records = [
        row("boolean", "dummy_recovery", "dummy_f1", "a", value=0.5),
        row("boolean", "influence_recovery", "influence_spearman", "a", value=1.0),
        row("boolean", "order_identifiability", "identifiability", "a", value=0.0),
        row("boolean", "other", "something_else", "a", value=100.0),
        row("boolean", "order_identifiability", "identifiability", "b", value=0.75),
    ]
    assert lb.suite_scores(records, SUITES["boolean"]) == {"a": 0.5, "b": 0.75}
    page = lb.render_pages(records)["boolean.md"]
    assert "`dummy_f1`, `influence_spearman`, `identifiability` values" in page and "| recovery ↑" in page


def test_partial_mark_is_shown_and_cleared_by_the_next_complete_run(tmp_path):
    """A run that did not finish writes its metadata "partial" reason, and README.md opens
    with it (leaderboard.markdown.main_page); the next run that finishes (partial "") removes both."""
    interrupted = {"scale": "quick", "seed": 0, "partial": "the run was interrupted"}
    lb.update_leaderboard(tmp_path, [row(method="a")], interrupted)
    assert lb.read_results(tmp_path / "results.jsonl")[0]["partial"] == "the run was interrupted"
    page = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "> **Partial results:** the run was interrupted." in page.splitlines()[2]
    lb.update_leaderboard(tmp_path, [row(method="b")], {"scale": "quick", "seed": 0, "partial": ""})
    assert "Partial results" not in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert [r.method for r in lb.read_results(tmp_path / "results.jsonl")[1]] == ["a", "b"]


def test_ctrl_c_while_the_files_are_replaced_waits_for_the_last_one(tmp_path, monkeypatch):
    """SIGINT arriving while write_leaderboard replaces the files is held until every file
    is in place (leaderboard.store.write_files), then raised: the directory never holds
    some files of the old leaderboard beside some of the new."""
    import signal

    lb.write_leaderboard(tmp_path, [row(method="old")], {})
    replace = store._write_atomic
    written = []

    def interrupting(path, content):
        if not written:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the renders, at the first file
        written.append(path.name)
        return replace(path, content)

    monkeypatch.setattr(store, "_write_atomic", interrupting)
    with pytest.raises(KeyboardInterrupt):
        lb.write_leaderboard(tmp_path, [row(method="new")], {})
    assert len(written) == len(lb.render_pages([])) + 2  # every page, results.jsonl and .csv
    assert [r.method for r in lb.read_results(tmp_path / "results.jsonl")[1]] == ["new"]
    assert "| new " in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_rows_without_the_provenance_columns_still_load(tmp_path):
    """results.jsonl files written before ``source_hash`` and ``plugin`` existed load with
    both empty (results.OPTIONAL_COLUMNS), so old leaderboards stay readable."""
    data = row().to_dict()
    del data["source_hash"], data["plugin"]
    (tmp_path / "results.jsonl").write_text(json.dumps({"metadata": {}}) + "\n" + json.dumps(data) + "\n")
    [record] = lb.read_results(tmp_path / "results.jsonl")[1]
    assert (record.source_hash, record.plugin) == ("", "")


def test_a_partial_run_replaces_only_the_rows_it_produced(tmp_path):
    """merge(partial=True): a run that did not finish replaces the rows it has and keeps the
    method's other rows in that suite, which it never reached; a finished run replaces the
    method's rows in the suite (the rule of ``merge``), so s2 goes when a/s1 alone is re-run."""
    meta = {"scale": "quick", "seed": 0}
    first = [row(subject="s1", value=0.1), row(subject="s2", value=0.2)]
    lb.update_leaderboard(tmp_path, first, {**meta, "partial": ""})
    lb.update_leaderboard(tmp_path, [row(subject="s1", value=0.3)], {**meta, "partial": "the run was interrupted"})
    kept = {r.subject: r.value for r in lb.read_results(tmp_path / "results.jsonl")[1]}
    assert kept == {"s1": 0.3, "s2": 0.2}
    lb.update_leaderboard(tmp_path, [row(subject="s1", value=0.4)], {**meta, "partial": ""})
    assert {r.subject: r.value for r in lb.read_results(tmp_path / "results.jsonl")[1]} == {"s1": 0.4}
