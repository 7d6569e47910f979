"""``attrbench stability`` (attrbench/stability.py): Kendall τ_b between the rankings of
results files or of runs at several seeds, controls left out, and its typed errors.

The expected τ values are counted by hand from the definition (Kendall 1945):
τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂)), n₀ = n(n − 1)/2 pairs, n₁ / n₂ the pairs tied in
the first / second scoring; the counts are written next to each number.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attrbench.cli import main
from attrbench.errors import StabilityError
from attrbench.leaderboard import analyse, read_results, write_leaderboard
from attrbench.results import Record
from attrbench.stability import OVERALL, check_seeds, compare_files, kendall_tau

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "leaderboards" / "results.jsonl"


def row(suite, metric, method, value, *, scale="quick", seed=0, check="c", subject="s"):
    """A row; ``fixed_map`` is stored with kind "control" (no registry knows it), the other
    methods without a kind (``random`` is a control by the registry)."""
    kind = "control" if method == "fixed_map" else ""
    return Record(suite, check, metric, "higher", method, subject, value, None, False, "", "{}", scale, seed,
                  kind=kind)  # fmt: skip


def results(tmp_path: Path, name: str, sens: dict, frag: dict, *, scale="quick", seed=0) -> Path:
    """A results directory with one Sensitivity-n row (mean_pcc) and one fragility row
    (robustness) per method: the suites' summary scores are those values."""
    records = [row("sensitivity_n", "mean_pcc", m, v, scale=scale, seed=seed) for m, v in sens.items()]
    records += [row("fragility", "robustness", m, v, scale=scale, seed=seed) for m, v in frag.items()]
    write_leaderboard(tmp_path / name, records, {"scale": scale, "seed": seed})
    return tmp_path / name


def test_kendall_tau_b_matches_the_hand_count():
    """Four methods, one swapped pair: C = 5, D = 1 of n₀ = 6, no ties: τ = 4/6. With a
    tie in the second scoring (a, b): C = 5, D = 0, n₁ = 0, n₂ = 1: τ_b = 5/√(6·5)."""
    first = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    assert kendall_tau(first, {"a": 1.0, "b": 3.0, "c": 2.0, "d": 4.0}) == pytest.approx(4 / 6)
    assert kendall_tau(first, {"a": 1.0, "b": 1.0, "c": 2.0, "d": 3.0}) == pytest.approx(5 / math.sqrt(30))
    assert kendall_tau(first, {"d": 0.0, "c": 1.0, "b": 2.0, "a": 3.0}) == pytest.approx(-1.0)  # D = 6
    assert math.isnan(kendall_tau(first, {"a": 1.0}))  # fewer than two common methods
    assert math.isnan(kendall_tau(first, dict.fromkeys(first, 0.5)))  # n₂ = n₀: undefined


def test_two_seeds_tau_per_suite_and_overall_with_the_control_left_out(tmp_path):
    """Sensitivity-n scores m1 > m2 > m3 > m4 at seed 0, m2 and m3 swapped at seed 1:
    τ = 4/6 (C = 5, D = 1), and m2, m3 moved 2 → 3, 3 → 2. Fragility agrees (τ = 1).
    Overall mean ranks: seed 0 (1, 2, 3, 4); seed 1 (1, 2.5, 2.5, 4): C = 5, D = 0, n₂ = 1:
    τ_b = 5/√30, and no overall move (the tie goes to m2 by name, as on the pages).
    The controls ``random`` (by the registry) and ``fixed_map`` (by its rows' kind) score
    best in both suites at both seeds: counted, they would make Sensitivity-n's τ 13/15
    (C = 14, D = 1 of 15 pairs); they are in no ranking."""
    controls = {"random": 1.0, "fixed_map": 0.95}
    frag = {"m1": 0.4, "m2": 0.3, "m3": 0.2, "m4": 0.1, **controls}
    a = results(tmp_path, "a", {"m1": 0.9, "m2": 0.8, "m3": 0.7, "m4": 0.6, **controls}, frag, seed=0)
    b = results(tmp_path, "b", {"m1": 0.9, "m2": 0.7, "m3": 0.8, "m4": 0.6, **controls}, frag, seed=1)
    report = compare_files([a, b / "results.jsonl"])
    assert report.labels == ("seed 0", "seed 1")
    assert report.tau("sensitivity_n") == pytest.approx(4 / 6)
    assert report.tau("fragility") == pytest.approx(1.0)
    assert report.tau(OVERALL) == pytest.approx(5 / math.sqrt(30))
    by_ranking = {x.ranking: x for x in report.agreements}
    assert [(m.method, m.before, m.after) for m in by_ranking["sensitivity_n"].moved] == [("m2", 2, 3), ("m3", 3, 2)]
    assert by_ranking["fragility"].moved == () and by_ranking[OVERALL].moved == ()
    assert all(x.methods == 4 for x in report.agreements)
    text = report.to_markdown()
    assert "| sensitivity_n | 0.667 (4)" in text and "| overall       | 0.913 (4)" in text
    assert "random" not in text and "fixed_map" not in text


def test_identical_files_give_tau_one_everywhere(tmp_path):
    """The committed leaderboard against a copy of itself: τ = 1 in every suite and
    overall, nothing moved, every scored contestant compared (per suite: the page's
    contestants with a score; overall: the methods with an overall rank, from the
    leaderboard's own analysis); the labels are the paths (both files are seed 0)."""
    copy = tmp_path / "copy" / "results.jsonl"
    copy.parent.mkdir()
    shutil.copy(COMMITTED, copy)
    report = compare_files([COMMITTED, copy])
    assert {x.ranking for x in report.agreements} >= {"axioms", "sensitivity_n", "fragility", "boolean", OVERALL}
    board = analyse(read_results(COMMITTED)[1])
    compared = {name: len(s.contestants) for name, s in board.suites.items()}
    compared[OVERALL] = sum(st.mean_rank is not None for st in board.standings if not st.control)
    for x in report.agreements:
        assert x.tau == pytest.approx(1.0, abs=1e-12) and x.moved == () and x.methods == compared[x.ranking], x
    assert report.labels == (str(COMMITTED), str(copy))
    assert "none: every ranking is the same." in report.to_markdown()


def test_three_files_are_compared_pairwise(tmp_path):
    """Three seeds give the pairs (0, 1), (0, 2), (1, 2); seed 2 reverses seed 0's
    Sensitivity-n order of three methods: τ = −1 (D = 3 of 3 pairs)."""
    frag = {"m1": 0.3, "m2": 0.2, "m3": 0.1}
    files = [
        results(tmp_path, "s0", {"m1": 0.9, "m2": 0.8, "m3": 0.7}, frag, seed=0),
        results(tmp_path, "s1", {"m1": 0.9, "m2": 0.8, "m3": 0.7}, frag, seed=1),
        results(tmp_path, "s2", {"m1": 0.7, "m2": 0.8, "m3": 0.9}, frag, seed=2),
    ]
    report = compare_files(files)
    pairs = list(dict.fromkeys((x.first, x.second) for x in report.agreements))
    assert pairs == [("seed 0", "seed 1"), ("seed 0", "seed 2"), ("seed 1", "seed 2")]
    assert report.tau("sensitivity_n", "seed 0", "seed 1") == 1.0
    assert report.tau("sensitivity_n", "seed 0", "seed 2") == pytest.approx(-1.0)


def test_typed_errors(tmp_path):
    """A missing file, a single file, fewer than two or repeated seeds, files of different
    scales, a file without rows: StabilityError saying what to give instead."""
    sens, frag = {"m1": 0.9, "m2": 0.8}, {"m1": 0.1, "m2": 0.2}
    quick = results(tmp_path, "quick", sens, frag, scale="quick", seed=0)
    standard = results(tmp_path, "standard", sens, frag, scale="standard", seed=1)
    with pytest.raises(StabilityError, match="no results file at .*nowhere"):
        compare_files([quick, tmp_path / "nowhere"])
    with pytest.raises(StabilityError, match="two or more results files, got 1"):
        compare_files([quick])
    with pytest.raises(StabilityError, match="different scales .*quick.*standard"):
        compare_files([quick, standard])
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(StabilityError, match="holds no rows"):
        compare_files([quick, tmp_path / "empty.jsonl"])
    with pytest.raises(StabilityError, match="two or more seeds"):
        check_seeds([0])
    with pytest.raises(StabilityError, match=r"repeats \[1\]"):
        check_seeds([0, 1, 1])


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["stability", "--seeds", "3"], "two or more seeds to compare, got [3]"),
        (["stability", "only.jsonl"], "two or more results files, got 1"),
        (["stability", "a.jsonl", "b.jsonl"], "no results file at a.jsonl"),
        (["stability"], "two or more results files, got 0"),
        (["stability", "a", "b", "--scale", "quick"], "--scale apply to the runs of --seeds"),
        (["stability", "a", "--seeds", "0", "1"], "results files to compare or --seeds to run, not both"),
    ],
)
def test_cli_user_errors_exit_2(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


def test_cli_seeds_runs_the_suites_per_seed_and_compares(tmp_path):
    """``attrbench stability --seeds 0 1`` on a small slice (quick scale, Sensitivity-n on
    one digits MLP, three methods and the control): one run per seed into OUT/seed_S, each
    at its seed, then the report; a second call refuses to overwrite a seed's results."""
    args = [sys.executable, "-m", "attrbench.cli", "stability", "--seeds", "0", "1", "--scale", "quick",
            "--suite", "sensitivity_n", "--subject", "digits/mlp_tanh", "--out", str(tmp_path / "out")]  # fmt: skip
    for method in ("saliency", "occlusion", "integrated_gradients", "random"):
        args += ["--method", method]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for seed in (0, 1):
        text = (tmp_path / "out" / f"seed_{seed}" / "results.jsonl").read_text(encoding="utf-8")
        assert f'"seed": {seed}' in text and '"method": "random"' in text
    assert "τ_b seed 0 vs seed 1 (methods)" in done.stdout
    assert "| sensitivity_n | " in done.stdout and " (3) " in done.stdout  # random left out
    again = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False)
    assert again.returncode == 2 and "already holds results" in again.stderr
