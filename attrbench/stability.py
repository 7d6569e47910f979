"""``attrbench stability``: how much do the rankings move between seeds?

Two or more results files (:func:`compare_files`), or runs of the suites at several seeds
(:func:`run_seeds`, then :func:`compare_files`), are compared ranking by ranking: each
suite's summary scores (:func:`attrbench.leaderboard.ranking.suite_scores`) and the
overall mean rank (:func:`attrbench.leaderboard.ranking.standings`). For every pair of
files and every ranking the report gives

- Kendall's τ_b between the two files' scores of the methods both files score
  (Kendall 1945, "The treatment of ties in ranking problems", Biometrika 33(3):
  τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂)), C and D the concordant and discordant pairs,
  n₀ = n(n − 1)/2, n₁ and n₂ the pairs tied in the first and in the second file;
  computed by :func:`scipy.stats.kendalltau`); τ_b = 1 when the two orders agree, ties
  included; it is undefined (shown as n/a) for fewer than two methods or where every
  method has the same score in one file;
- the methods whose place moved: places 1..k among the methods both files score, in the
  pages' order (score, best first, then name; :func:`attrbench.leaderboard.ranking.order`).

Methods of kind ``control`` (``Record.kind``, or the method registry's for rows stored
without it: :func:`attrbench.leaderboard.ranking.controls`; ``random`` is one) are
references, not contestants: they are left out of every ranking, as on the pages, and the
overall mean rank is the pages' (mean over the suites of the contestants' ranks, ties
averaged).
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from itertools import combinations
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabulate import tabulate

from attrbench.errors import StabilityError
from attrbench.leaderboard import read_results, standings, suite_scores
from attrbench.leaderboard.ranking import controls, order
from attrbench.options import check_workers, pytest_args
from attrbench.results import Record

#: The name of the overall ranking (the mean of the per-suite ranks) in reports.
OVERALL = "overall"
#: pytest exit codes after which a seed's run has written its results (as in verify).
RUN_OK_CODES = (0, 1, 5)


@dataclass(frozen=True)
class Rankings:
    """One results file's rankings: ranking name (a suite, or :data:`OVERALL`) ->
    method -> score (the suite's summary score; overall: the mean rank), and each
    ranking's direction ("higher" or "lower" is better)."""

    label: str
    scores: dict[str, dict[str, float]]
    directions: dict[str, str]


@dataclass(frozen=True)
class Move:
    """A method whose place in a ranking differs between two files (places 1..k)."""

    method: str
    before: int
    after: int


@dataclass(frozen=True)
class Agreement:
    """One ranking compared between two files."""

    ranking: str
    first: str
    second: str
    tau: float  # nan where undefined
    methods: int  # scored in both files
    moved: tuple[Move, ...]
    only_in_one: tuple[str, ...]  # methods scored in one of the two files


@dataclass(frozen=True)
class StabilityReport:
    """Every ranking compared between every pair of files, in the files' order."""

    labels: tuple[str, ...]  # one per file: "seed S", or the path where seeds repeat
    scale: str
    agreements: tuple[Agreement, ...]

    def tau(self, ranking: str, first: str | None = None, second: str | None = None) -> float:
        """τ_b of ``ranking`` between two files (default: the first two)."""
        first, second = first or self.labels[0], second or self.labels[1]
        for a in self.agreements:
            if (a.ranking, a.first, a.second) == (ranking, first, second):
                return a.tau
        raise KeyError((ranking, first, second))

    def to_markdown(self) -> str:
        """The τ table (one row per ranking, one column per pair of files) and the moves."""
        pairs = list(dict.fromkeys((a.first, a.second) for a in self.agreements))
        rankings = list(dict.fromkeys(a.ranking for a in self.agreements))
        by_key = {(a.ranking, a.first, a.second): a for a in self.agreements}
        rows = []
        for name in rankings:
            row = [name]
            for pair in pairs:
                a = by_key[(name, *pair)]
                row.append(f"{_fmt_tau(a.tau)} ({a.methods})")
            rows.append(row)
        headers = ["ranking"] + [f"τ_b {first} vs {second} (methods)" for first, second in pairs]
        lines = [
            f"Kendall τ_b between the rankings (scale {self.scale}; controls left out):",
            "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
            "",
        ]
        for first, second in pairs:
            lines.append(f"Rank moves, {first} → {second}:")
            lines.append("")
            moves = [
                [name, m.method, m.before, m.after] for name in rankings for m in by_key[(name, first, second)].moved
            ]
            if moves:
                lines.append(tabulate(moves, headers=["ranking", "method", first, second], tablefmt="github"))
            else:
                lines.append("none: every ranking is the same.")
            lines.append("")
            missing = {name: by_key[(name, first, second)].only_in_one for name in rankings}
            for name, methods in missing.items():
                if methods:
                    lines.append(f"{name}: scored in only one file, left out: {', '.join(methods)}.")
        return "\n".join(lines).rstrip() + "\n"


def _fmt_tau(tau: float) -> str:
    return "n/a" if math.isnan(tau) else f"{tau:.3f}"


# -- the maths ------------------------------------------------------------------------------


def kendall_tau(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """Kendall's τ_b between two scorings of the methods both score (nan: undefined)."""
    from scipy.stats import kendalltau

    common = sorted(set(first) & set(second))
    if len(common) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: scipy warns and returns nan
        result = kendalltau([first[m] for m in common], [second[m] for m in common], variant="b")
    return float(result.statistic)


def rankings(records: Sequence[Record], label: str) -> Rankings:
    """Each suite's summary scores of the contestants in ``records`` and their overall
    mean rank (the controls left out)."""
    from attrbench.checks import SUITES

    refs = controls(records)
    present = {r.suite for r in records}
    scores, directions = {}, {}
    for name, suite in SUITES.items():
        if name in present:
            scores[name] = {m: v for m, v in suite_scores(records, suite).items() if m not in refs}
            directions[name] = suite.direction
    scores[OVERALL] = {s.method: s.mean_rank for s in standings(records) if s.mean_rank is not None and not s.control}
    directions[OVERALL] = "lower"
    return Rankings(label, scores, directions)


def agreement(name: str, first: Rankings, second: Rankings) -> Agreement:
    """Ranking ``name`` of ``first`` against that of ``second``."""
    a, b = first.scores.get(name, {}), second.scores.get(name, {})
    common = set(a) & set(b)
    direction = first.directions.get(name) or second.directions[name]
    ranks_a = _places({m: a[m] for m in common}, direction)
    ranks_b = _places({m: b[m] for m in common}, direction)
    moved = tuple(Move(m, ranks_a[m], ranks_b[m]) for m in sorted(common, key=ranks_a.get) if ranks_a[m] != ranks_b[m])
    return Agreement(
        name, first.label, second.label, kendall_tau(a, b), len(common), moved, tuple(sorted(set(a) ^ set(b)))
    )


def _places(scores: Mapping[str, float], direction: str) -> dict[str, int]:
    return {method: place for place, method in enumerate(order(scores, direction), 1)}


def compare(all_rankings: Sequence[Rankings], scale: str) -> StabilityReport:
    """Every ranking of every pair of ``all_rankings`` (in order: first against second, ...)."""
    names: list[str] = []
    for r in all_rankings:
        names += [n for n in r.scores if n not in names and n != OVERALL]
    names.append(OVERALL)
    found = tuple(agreement(name, x, y) for x, y in combinations(all_rankings, 2) for name in names)
    return StabilityReport(tuple(r.label for r in all_rankings), scale, found)


# -- files and runs -------------------------------------------------------------------------


def _results_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.is_file():
        raise StabilityError(f"no results file at {path}; give a results.jsonl a run wrote (or its directory).")
    return path


def _labels(paths: Sequence[Path], seeds: Sequence[int]) -> list[str]:
    """Labels: "seed S" where the seeds tell the files apart, else the paths."""
    if len(set(seeds)) == len(seeds):
        return [f"seed {s}" for s in seeds]
    return [str(p) for p in paths]


def compare_files(paths: Sequence[str | os.PathLike]) -> StabilityReport:
    """Compare the rankings of two or more results files (or directories holding one).

    Raises StabilityError for fewer than two files, a missing file, a file without rows
    or mixing scales or seeds, and files of different scales."""
    if len(paths) < 2:
        raise StabilityError(
            f"stability compares two or more results files, got {len(paths)}; give another file, or "
            "run seeds with --seeds 0 1."
        )
    files = [_results_path(p) for p in paths]
    loaded = []
    for path in files:
        _, records = read_results(path)  # CorruptResultsError (an AttrbenchError) names file and line
        runs = sorted({(r.scale, r.seed) for r in records})
        if not runs:
            raise StabilityError(f"{path} holds no rows; nothing to rank.")
        if len(runs) > 1:
            raise StabilityError(f"{path} mixes runs {runs}; each file must hold one scale and seed.")
        loaded.append((path, runs[0], records))
    scales = {scale for _, (scale, _), _ in loaded}
    if len(scales) > 1:
        found = ", ".join(f"{path}: {scale}" for path, (scale, _), _ in loaded)
        raise StabilityError(
            f"the files are of different scales ({found}); rankings are compared at one scale: "
            "run every seed at the same --scale."
        )
    labels = _labels(files, [seed for _, (_, seed), _ in loaded])
    all_rankings = [rankings(records, label) for (_, _, records), label in zip(loaded, labels)]
    return compare(all_rankings, scales.pop())


def check_seeds(seeds: Sequence[int]) -> None:
    if len(seeds) < 2:
        raise StabilityError(f"--seeds needs two or more seeds to compare, got {list(seeds)}; e.g. --seeds 0 1.")
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        raise StabilityError(f"--seeds repeats {repeated}; a seed run twice gives the same bytes. Give distinct seeds.")


def seed_dir(out: str | os.PathLike, seed: int) -> Path:
    """Where the run at ``seed`` writes its leaderboard: ``OUT/seed_S``."""
    return Path(out) / f"seed_{seed}"


def run_seed(seed: int, directory: str | os.PathLike, *, verbose: bool = False, **run_options) -> Path:
    """Run the installed suites at ``seed`` into ``directory`` (a pytest subprocess, the
    command line of :func:`attrbench.options.pytest_args` with ``run_options`` by dest:
    scale, workers, suite, method, subject, device, timeout, memory) and return its
    results file. Raises CLIError where the run failed."""
    from attrbench.errors import CLIError

    directory = Path(directory)
    # a progress bar on the terminal (stderr) while pytest's output is kept, as in verify
    argv = pytest_args(**run_options, seed=seed, leaderboard_dir=str(directory), progress=not verbose, extra=["-q"])
    print(f"attrbench stability: seed {seed}: pytest {shlex.join(argv)}", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *argv], stdout=None if verbose else subprocess.PIPE,
        stderr=None if verbose or sys.stderr.isatty() else subprocess.STDOUT, text=True, check=False,
    )  # fmt: skip
    if done.returncode not in RUN_OK_CODES or not (directory / "results.jsonl").exists():
        tail = "\n".join((done.stdout or "").strip().splitlines()[-20:])
        raise CLIError(f"the run at seed {seed} failed (pytest exit code {done.returncode}):\n{tail}")
    return directory / "results.jsonl"


def run_seeds(seeds: Sequence[int], out: str | os.PathLike, *, verbose: bool = False, **run_options) -> list[Path]:
    """:func:`run_seed` at each seed into ``OUT/seed_S``; return the results files. Raises
    StabilityError for fewer than two or repeated seeds or a seed directory that already
    holds results (before anything runs)."""
    check_seeds(seeds)
    check_workers(run_options.get("workers"))
    dirs = [seed_dir(out, s) for s in seeds]
    for d in dirs:
        if (d / "results.jsonl").exists():
            raise StabilityError(
                f"{d} already holds results; give another --out, or compare the files already there with "
                f"`attrbench stability {' '.join(str(x) for x in dirs)}`."
            )
    return [run_seed(seed, d, verbose=verbose, **run_options) for seed, d in zip(seeds, dirs)]
