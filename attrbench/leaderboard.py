"""Rank the records and render the leaderboards (pandas for the CSV, tabulate for tables).

Files (``write_leaderboard``): ``results.jsonl`` is the store, a metadata line (which may
hold a date) and then one Record per line. ``results.csv`` (long format, ``COLUMNS``),
``README.md`` (overall table and axiom matrix) and one page per suite are rendered from
the records alone, so the same records give the same bytes; so are a suite's curve files
(``SuiteInfo.curves``: a long CSV of the curves in the rows' details and, with matplotlib,
a PNG figure). Every file is rendered before any is touched; each then goes to a temporary
file in the directory and is moved into place with ``os.replace``, with Ctrl-C held until
the last one is in place, so a reader never sees a half-written file or a mix of two runs.
A run that did not finish (interrupted, stopped by ``-x``, or with a crashed pytest-xdist
worker) still writes the rows it has, and its metadata and README.md say "partial".

Scores. ``SUITES`` says how a suite sums a method up: ``summary_metric == "holds_rate"``
is the fraction of the method's verdict rows (``holds`` not None) that hold; any other
name is the mean ``value`` of the method's rows with that metric. Error rows are shown
but never scored, so a method whose rows all errored has no score in that suite.

Ranks. Within a suite the methods with a score are sorted by (score, best first in the
suite's direction; then method name) and numbered 1..k: ties get distinct ranks and the
alphabetically first method takes the better one. The overall rank numbers the methods
the same way by (mean of their ranks over the suites where they have a score, name); a
method with no score anywhere has no rank and is listed last.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd
from tabulate import tabulate

from attrbench.errors import CorruptResultsError, LeaderboardError
from attrbench.results import ARROWS, COLUMNS, OPTIONAL_COLUMNS, Record, jsonable

RESULTS_FILE = "results.jsonl"
CSV_FILE = "results.csv"
MAIN_PAGE = "README.md"
#: The summary rule "fraction of verdict rows that hold"; any other name means a mean.
HOLDS_RATE = "holds_rate"
#: Characters of an error message shown in a suite page's cell.
ERROR_CHARS = 60


@dataclass(frozen=True)
class Plot:
    """A figure of ``Curves``: ``y`` against the curves' x, one panel per value of
    ``panel`` and one line per value of ``line``, averaged over any other column."""

    file: str
    y: str
    panel: str = "subject"
    line: str = "method"
    caption: str = ""


@dataclass(frozen=True)
class Curves:
    """A check whose details hold curves (equal-length lists under ``columns``): written
    as a long CSV beside the suite page, optionally summarised in the page as a table of
    means over subjects (grouped by ``table``), and drawn as ``plots`` with matplotlib
    (``attrbench.figures``). ``labels`` are the text columns; the rest are numbers."""

    check: str
    columns: tuple[str, ...]
    csv: str
    x: str
    labels: tuple[str, ...] = ()
    table: tuple[str, ...] = ()
    table_values: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    xlog: bool = False


@dataclass(frozen=True)
class SuiteInfo:
    """A suite's page and how its summary score is computed (see the module docstring)."""

    name: str
    title: str
    page: str
    summary_metric: str | tuple[str, ...]  # a tuple: the mean over rows of these metrics
    direction: str  # of the summary score: "higher" or "lower" is better
    description: str
    notes: str = ""  # a "Notes" section at the end of the page
    curves: Curves | None = None
    label: str = ""  # the summary score's name in headers (default: summary_metric)

    @property
    def summary_metrics(self) -> tuple[str, ...]:
        """The metric(s) whose rows are averaged (unless the rule is ``holds_rate``)."""
        return self.summary_metric if isinstance(self.summary_metric, tuple) else (self.summary_metric,)

    @property
    def score_name(self) -> str:
        return self.label or str(self.summary_metric)


SUITES: dict[str, SuiteInfo] = {
    suite.name: suite
    for suite in (
        SuiteInfo(
            "axioms", "Axioms", "axioms.md", HOLDS_RATE, "higher",
            "Does each attribution axiom hold (Lundstrom et al., 002 §2.2, §4, §5)? Nine "
            "checks — completeness, sensitivity(a), dummy, linearity, symmetry, implementation "
            "invariance, affine scale invariance, non-decreasing positivity and Lipschitz "
            "continuity — each on named analytic subjects and on hypothesis-drawn networks "
            "(the subject `generated`). A violation of an axiom the method claims fails its "
            "pytest gate; the score is the fraction of (check, subject) verdicts that hold. "
            "Tolerances and the Lipschitz search are described in attrbench.checks.axioms and "
            "attrbench.checks.lipschitz; the `lipschitz_estimate` table lists each method's "
            "estimated local Lipschitz constant (↓), which grows without bound where the "
            "attribution jumps (002 App. J).",
        ),
        SuiteInfo(
            "sensitivity_n", "Sensitivity-n", "sensitivity_n.md", "mean_pcc", "higher",
            "Sensitivity-n (Ancona et al., 003 §4.1): for each sample, subsets S of n "
            "features are drawn uniformly at random and the Pearson correlation (PCC) between "
            "Σ_{i∈S} R_i and the drop S_c(x) − S_c(x with x_S set to the baseline) is taken "
            "across the subsets of that sample, then averaged over samples; n runs over a "
            "log-spaced grid from 1 to 80 % of the features. For images a feature is a pixel "
            "(channels summed and removed together, 003 App. C.2). The baseline is the "
            "subject's (zero for every subject here), for the method and for the removed "
            "features alike. The score `mean_pcc` is the mean of the curve over the grid (↑); "
            "the curves are in the table and figure below. Samples whose subsets give zero "
            "variance on either side are counted (`zero_variance` in the CSV), never averaged in.",
            notes=(
                "**Not Quantus' SensitivityN.** Quantus removes features cumulatively, in the "
                "order of the attributions, `features_in_step` at a time, and correlates the "
                "attribution sums with the output drops *across samples* at each step. 003 "
                "§4.1 — implemented here — draws random subsets of each size n and correlates "
                "*across the subsets of one sample*, then averages over samples; the two "
                "numbers answer different questions and are not comparable.\n\n"
                "**Expected shapes** (003 §4): Occlusion-1 satisfies Sensitivity-1 (PCC = 1 "
                "at n = 1) and its curve falls as n grows; on a linear model every method of "
                "003 Table 1 gives PCC = 1 for every n (Prop. 4), as `analytic/linear` shows; "
                "local methods (saliency, gradient, SmoothGrad) are not built to predict "
                "output drops and score lower. The 8×8 digits networks are far closer to "
                "linear than the paper's MNIST models, so their curves stay higher."
            ),
            curves=Curves(
                "sensitivity_n", ("n", "pcc", "pcc_std", "samples", "zero_variance"),
                "sensitivity_n_curves.csv", x="n", xlog=True,
                plots=(Plot("sensitivity_n_curves.png", "pcc", caption="PCC against n (log axis), one "
                            "panel per subject and one line per method, as 003 Figure 4."),),
            ),
        ),
        SuiteInfo(
            "fragility", "Fragility", "fragility.md", "robustness", "higher",
            "Fragility of explanations (Ghorbani et al., 004): each sample is perturbed within "
            "an L∞ ball of radius ε (a fraction of the domain width) so that the predicted "
            "label is kept — by random sign noise (004 §3) and, for differentiable methods, "
            "by the top-k and mass-center attacks of Algorithm 1 (App. A), whose gradient goes "
            "through a softplus copy of ReLU networks (footnote c) — and the normalised "
            "importance R = |A| / Σ|A| (§2.1) before and after is compared by Spearman rank "
            "correlation (↑), top-k intersection (↑, k = 10 % of the features) and the shift of "
            "the centre of saliency mass in pixels (↓; §2.3, App. D). The score `robustness` "
            "is the mean top-k intersection under the strongest attack at the largest ε (↑).",
            notes=(
                "**Targeted cells of non-differentiable methods are N/A**: occlusion, Shapley "
                "sampling, the windowed occlusion and the random control have no gradient to "
                "follow, so they meet only the random perturbation and their robustness is an "
                "upper bound (random noise is the weakest attack).\n\n"
                "**Linear model** (`analytic/linear`, App. F): the gradient and saliency maps "
                "are the weights and no attack moves them (top-k intersection and Spearman 1). "
                "Gradient×Input, IG and DeepLIFT equal w ⊙ (x − x̄) there, which moves with x: "
                "an attack can reorder features whose |wᵢxᵢ| lie within ε|wᵢ| + ε|wⱼ| of each "
                "other, so App. F's robustness does not carry over to them (tests/"
                "test_fragility.py).\n\n"
                "**ReLU networks**: the attack follows the gradient of D through the softplus "
                "copy and picks its iterate by that copy's D; the reported metrics compare the "
                "real network's explanations. ε-LRP barely moves under it: on the softplus copy "
                "ε-LRP is no longer Gradient×Input (003 Prop. 3), so its gradient points "
                "elsewhere — a limit of the surrogate, not evidence of robustness."
            ),
            curves=Curves(
                "fragility",
                ("epsilon_fraction", "attack", "epsilon", "topk_intersection", "spearman", "center_shift",
                 "moved", "status"),
                "fragility_curves.csv",
                x="epsilon_fraction",
                labels=("attack", "status"),
                table=("method", "attack", "epsilon_fraction"),
                table_values=("topk_intersection", "spearman", "center_shift", "moved"),
                plots=(
                    Plot("fragility_topk.png", "topk_intersection", panel="method", line="attack",
                         caption="Top-k intersection against ε (fraction of the domain width), mean over "
                         "subjects, one panel per method and one line per attack, as 004 Figure 2."),
                    Plot("fragility_spearman.png", "spearman", panel="method", line="attack",
                         caption="Spearman rank correlation against ε, as above."),
                ),
            ),
        ),
        SuiteInfo(
            "boolean", "Boolean", "boolean.md", ("dummy_f1", "influence_spearman", "identifiability"), "higher",
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
            "The exact analysis and the reproduced §4.1 table are in docs/boolean.md.",
            label="recovery",
        ),
    )
}  # fmt: skip


# ---------------------------------------------------------------------------- the store


def read_results(path: str | os.PathLike) -> tuple[dict, list[Record]]:
    """The metadata and records of a ``results.jsonl``; ``({}, [])`` if it does not exist.

    Raises CorruptResultsError naming the file and line when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, None, str(exc)) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        return {}, []
    (first_number, first), *rest = lines
    metadata = _parse_metadata(path, first_number, _parse_json(path, first_number, first))
    records = [_parse_record(path, number, _parse_json(path, number, line)) for number, line in rest]
    return metadata, records


def _corrupt(path: Path, line: int | None, problem: str) -> CorruptResultsError:
    where = str(path) if line is None else f"{path}, line {line}"
    return CorruptResultsError(
        f"cannot read the leaderboard results {where}: {problem}. Nothing was written; fix "
        "that line or move the file away (the next run then starts a new leaderboard)."
    )


def _parse_json(path: Path, line: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _corrupt(path, line, f"invalid JSON ({exc.msg} at column {exc.colno})") from None


def _parse_metadata(path: Path, line: int, data: Any) -> dict:
    if not (isinstance(data, dict) and isinstance(data.get("metadata"), dict)):
        raise _corrupt(path, line, 'the first line must be {"metadata": {...}}')
    return data["metadata"]


#: Allowed JSON types per column (str where not listed); None means null is allowed.
_COLUMN_TYPES: dict[str, tuple] = {
    "value": (float, int, None),
    "holds": (bool, None),
    "claimed": (bool,),
    "seed": (int,),
}


def _column_ok(column: str, value: Any) -> bool:
    allowed = _COLUMN_TYPES.get(column, (str,))
    if value is None or isinstance(value, bool):  # bool is an int to isinstance
        return (None if value is None else bool) in allowed
    return isinstance(value, tuple(t for t in allowed if t is not None))


def _parse_record(path: Path, line: int, data: Any) -> Record:
    if not isinstance(data, dict):
        raise _corrupt(path, line, f"expected a JSON object with the columns, got {type(data).__name__}")
    data = {**OPTIONAL_COLUMNS, **data}  # rows written before these columns existed
    missing = [column for column in COLUMNS if column not in data]
    if missing:
        raise _corrupt(path, line, f"missing column(s) {', '.join(missing)}")
    for column in COLUMNS:
        if not _column_ok(column, data[column]):
            raise _corrupt(path, line, f"column {column!r} has the wrong type: {data[column]!r}")
    value = None if data["value"] is None else float(data["value"])
    try:
        return Record.from_dict({**data, "value": value})
    except ValueError as exc:
        raise _corrupt(path, line, str(exc)) from None


def merge(existing: Iterable[Record], new: Iterable[Record], *, partial: bool = False) -> list[Record]:
    """``existing`` with the rows of every method in ``new`` replaced by ``new``'s rows in
    the suites ``new`` covers; sorted by (suite, check, metric, method, subject). A
    ``partial`` run (one that did not finish) replaces only the rows it produced, so the
    rows it did not reach keep their earlier values.

    Raises LeaderboardError when the rows are not all of one scale and seed."""
    existing, new = list(existing), list(new)
    old_runs, new_runs = _runs(existing), _runs(new)
    if len(new_runs) > 1 or (new_runs and old_runs - new_runs):
        raise _mixed_runs(
            f"the leaderboard holds rows of {_describe(old_runs)} and the new rows are of "
            f"{_describe(new_runs)}"
        )
    methods, suites = {r.method for r in new}, {r.suite for r in new}
    kept = existing if partial else [r for r in existing if not (r.method in methods and r.suite in suites)]
    by_key = {r.key: r for r in [*kept, *new]}  # a later row with the same key wins
    return sorted(by_key.values(), key=_row_order)


def _runs(records: Iterable[Record]) -> set[tuple[str, int]]:
    return {(r.scale, r.seed) for r in records}


def _describe(runs: set[tuple[str, int]]) -> str:
    return " and ".join(f"scale {scale!r} seed {seed}" for scale, seed in sorted(runs))


def _mixed_runs(detail: str) -> LeaderboardError:
    return LeaderboardError(
        f"{detail}; rows of another scale/seed are never ranked together: use another "
        "--leaderboard-dir or delete the old results."
    )


def _row_order(record: Record) -> tuple:
    return (record.key, repr(record))  # repr only orders rows that share a key


# ------------------------------------------------------------------------------ writing


def update_leaderboard(directory: str | os.PathLike, new_records: Iterable[Record], metadata: Mapping) -> list[Path]:
    """Merge ``new_records`` into ``directory``'s results and rewrite every file.

    Errors (a corrupt store, another scale or seed) are raised before anything is written.
    The stored metadata is kept where ``metadata`` does not set a key; a run whose
    ``metadata["partial"]`` says why it did not finish merges as :func:`merge`'s partial."""
    store = Path(directory) / RESULTS_FILE
    old_metadata, existing = read_results(store)
    try:
        records = merge(existing, new_records, partial=bool(metadata.get("partial")))
    except LeaderboardError as exc:
        raise LeaderboardError(f"{store}: {exc}") from None
    return write_leaderboard(directory, records, {**old_metadata, **metadata})


def write_leaderboard(directory: str | os.PathLike, records: Iterable[Record], metadata: Mapping) -> list[Path]:
    """Write results.jsonl, results.csv, README.md and the suite pages; return their paths."""
    records = sorted(records, key=_row_order)
    runs = _runs(records)
    if len(runs) > 1:
        raise _mixed_runs(f"the records mix {_describe(runs)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {RESULTS_FILE: results_jsonl(records, metadata), CSV_FILE: results_csv(records)}
    files.update(render_pages(records, partial=str(metadata.get("partial") or "")))
    files.update(render_curves(records))
    with _interrupts_deferred():  # everything is rendered: replace the files as one step
        return [_write_atomic(directory / name, content) for name, content in files.items()]


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) for the block and raise KeyboardInterrupt after it, so an
    interrupt cannot leave some files of the old leaderboard beside some of the new."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _write_atomic(path: Path, content: str | bytes) -> Path:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def results_jsonl(records: Iterable[Record], metadata: Mapping) -> str:
    """The store: a metadata line, then one record per line."""
    lines = [{"metadata": jsonable(metadata)}, *(r.to_dict() for r in records)]
    return "".join(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n" for line in lines)


def results_csv(records: Iterable[Record]) -> str:
    """The records in long format with exactly ``COLUMNS``; values as ``repr(float)``."""
    rows = [{**r.to_dict(), "value": "" if r.value is None else repr(float(r.value))} for r in records]
    return pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(index=False, lineterminator="\n")


# ------------------------------------------------------------------------------ ranking


def suite_scores(records: Iterable[Record], suite: SuiteInfo) -> dict[str, float]:
    """Each method's summary score in ``suite``; methods without a score are left out."""
    rows = [r for r in records if r.suite == suite.name and not r.error]
    if suite.summary_metric == HOLDS_RATE:
        samples = [(r.method, float(r.holds)) for r in rows if r.holds is not None]
    else:
        samples = [(r.method, r.value) for r in rows if r.metric in suite.summary_metrics and r.value is not None]
    by_method: dict[str, list[float]] = defaultdict(list)
    for method, value in samples:
        by_method[method].append(value)
    means = {method: _mean(values) for method, values in by_method.items()}
    return {method: mean for method, mean in means.items() if not math.isnan(mean)}


def _mean(values: list[float]) -> float:
    try:
        return math.fsum(values) / len(values)  # exact sum: independent of the row order
    except ValueError:  # inf and -inf
        return math.nan


def rank(scores: Mapping[str, float], direction: str) -> dict[str, int]:
    """Ordinal ranks 1..k: sorted by score (best first in ``direction``), then name."""
    sign = -1.0 if direction == "higher" else 1.0
    order = sorted(scores, key=lambda method: (sign * scores[method], method))
    return {method: position for position, method in enumerate(order, 1)}


@dataclass(frozen=True)
class Standing:
    """A method's row of the overall table."""

    method: str
    scores: dict[str, float]  # suite name -> summary score
    ranks: dict[str, int]  # suite name -> rank in that suite
    mean_rank: float | None
    rank: int | None


def standings(records: Iterable[Record]) -> list[Standing]:
    """Every method with rows in a suite of ``SUITES``, in overall-rank order."""
    records = [r for r in records if r.suite in SUITES]
    scores = {name: suite_scores(records, suite) for name, suite in SUITES.items()}
    ranks = {name: rank(scores[name], suite.direction) for name, suite in SUITES.items()}
    methods = {r.method for r in records}
    mean_ranks = {}
    for method in methods:
        own = [ranks[name][method] for name in SUITES if method in ranks[name]]
        if own:
            mean_ranks[method] = sum(own) / len(own)
    overall = rank(mean_ranks, "lower")
    return [
        Standing(
            method,
            {name: scores[name][method] for name in SUITES if method in scores[name]},
            {name: ranks[name][method] for name in SUITES if method in ranks[name]},
            mean_ranks.get(method),
            overall.get(method),
        )
        for method in sorted(methods, key=lambda m: (overall.get(m, math.inf), m))
    ]


# ---------------------------------------------------------------------------- rendering


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _header(label: str, direction: str) -> str:
    return f"{label} {ARROWS[direction]}"


def overall_table(records: Iterable[Record], tablefmt: str = "github") -> str:
    """Methods × suites: each cell the suite's summary score and the rank in that suite."""
    headers = ["rank", "method"]
    headers += [_header(f"{s.title} ({s.score_name})", s.direction) for s in SUITES.values()]
    headers.append(_header("mean rank", "lower"))
    rows = []
    for standing in standings(records):
        cells = [
            f"{_fmt(standing.scores[name])} (#{standing.ranks[name]})" if name in standing.scores else "–"
            for name in SUITES
        ]
        rows.append(["–" if standing.rank is None else str(standing.rank), standing.method, *cells,
                     _fmt(standing.mean_rank)])  # fmt: skip
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def axiom_cell(rows: list[Record]) -> str:
    """One cell of the axiom matrix: the verdict of one (method, axiom) over its subjects."""
    verdicts = [r for r in rows if not r.error and r.holds is not None]
    if any(r.violated and r.claimed for r in verdicts):
        return "**✗ claimed**"
    if any(r.violated for r in verdicts):
        return "✗"
    if any(r.error for r in rows):
        return "error"
    if not verdicts:
        return "–"
    return "✓ (claimed)" if any(r.claimed for r in verdicts) else "✓"


AXIOM_LEGEND = (
    "✓ holds on every subject · ✓ (claimed) holds, and the method claims it · ✗ violated on "
    "at least one subject · **✗ claimed** violated where the method claims it (its pytest "
    "gate fails) · error: a check raised and nothing was violated (see [axioms.md](axioms.md)) "
    "· – no verdict. Violations take precedence over errors."
)


def axiom_matrix(records: Iterable[Record], tablefmt: str = "github") -> str:
    """Methods × axiom checks of the axioms suite (see ``axiom_cell``)."""
    cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.suite == "axioms":
            cells[r.method, r.check].append(r)
    methods = sorted({method for method, _ in cells})
    checks = sorted({check for _, check in cells})
    rows = [[method, *(axiom_cell(cells.get((method, check), [])) for check in checks)] for method in methods]
    return tabulate(rows, headers=["method", *checks], tablefmt=tablefmt, disable_numparse=True)


def _provenance(records: list[Record]) -> str:
    scales = ", ".join(f"`{scale}`" for scale in sorted({r.scale for r in records}))
    seeds = ", ".join(str(seed) for seed in sorted({r.seed for r in records}))
    return f"scale {scales}, seed {seeds}"


def main_page(records: Iterable[Record], partial: str = "") -> str:
    """README.md: how it was made, the overall table and the axiom matrix; a warning first
    when the last run was ``partial`` (the reason)."""
    records = sorted(records, key=_row_order)
    links = " · ".join(f"[{s.title}]({s.page})" for s in SUITES.values())
    parts = ["# attrbench leaderboard"]
    if partial:
        parts.append(
            f"> **Partial results:** {partial}. The rows it finished are merged in; rows it did "
            "not reach keep the values of earlier runs, or are missing. Run it again to complete."
        )
    if not records:
        parts.append("No results yet: run `pytest suites/` to generate them.")
        return "\n\n".join(parts) + "\n"
    parts += [
        f"Generated by `pytest suites/` at {_provenance(records)}. Regenerate these pages "
        "from the stored rows with `attrbench leaderboard leaderboards/results.jsonl`.",
        "## Overall",
        "Each cell is a method's summary score in a suite and its rank there (#1 is best; ↑ "
        "higher is better, ↓ lower). `rank` orders the methods by their mean rank over the "
        "suites where they have a score; ties go to the alphabetically first method. Error "
        f"rows are shown on the suite pages and never ranked. Suites: {links}.",
        overall_table(records),
        "## Axiom matrix",
        axiom_matrix(records),
        AXIOM_LEGEND,
    ]
    return "\n\n".join(parts) + "\n"


def _summary_rule(suite: SuiteInfo) -> str:
    if suite.summary_metric == HOLDS_RATE:
        return "the fraction of the method's verdict rows (over every check and subject) that hold"
    metrics = ", ".join(f"`{m}`" for m in suite.summary_metrics)
    return f"the mean of the method's {metrics} values over its checks and subjects"


def _summary_table(records: list[Record], suite: SuiteInfo) -> str:
    scores = suite_scores(records, suite)
    ranks = rank(scores, suite.direction)
    methods = sorted({r.method for r in records}, key=lambda m: (ranks.get(m, math.inf), m))
    headers = ["rank", "method", _header(suite.score_name, suite.direction), "rows", "errors"]
    rows = []
    for method in methods:
        own = [r for r in records if r.method == method]
        errors = sum(bool(r.error) for r in own)
        rows.append([str(ranks.get(method, "–")), method, _fmt(scores.get(method)), str(len(own)), str(errors)])
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _value_cell(record: Record) -> str:
    if record.error:
        text = " ".join(record.error.split())[:ERROR_CHARS]
        return "error: " + text.replace("|", "\\|")
    mark = {True: " ✓", False: " ✗", None: ""}[record.holds]
    claimed = " (claimed)" if record.violated and record.claimed else ""
    return f"{_fmt(record.value)}{mark}{claimed}"


def _check_table(rows: list[Record]) -> str:
    cells = {(r.method, r.subject): _value_cell(r) for r in rows}
    methods = sorted({r.method for r in rows})
    subjects = sorted({r.subject for r in rows})
    table = [[method, *(cells.get((method, subject), "–") for subject in subjects)] for method in methods]
    first = f"method ({rows[0].metric} {ARROWS[rows[0].direction]})"
    return tabulate(table, headers=[first, *subjects], tablefmt="github", disable_numparse=True)


def suite_page(records: Iterable[Record], suite: SuiteInfo) -> str:
    """One suite's page: description, ranked summary, one table per (check, metric)."""
    records = sorted((r for r in records if r.suite == suite.name), key=_row_order)
    parts = [f"# {suite.title}", suite.description]
    if not records:
        parts.append("No results yet: run `pytest suites/` to fill this page.")
        return "\n\n".join(parts) + "\n"
    parts += [
        f"Generated by `pytest suites/` at {_provenance(records)}. [All suites](README.md).",
        "## Summary",
        f"The score is {_summary_rule(suite)}. Ranks: #1 is best, ties go to the "
        "alphabetically first method; error rows are counted here but never scored.",
        _summary_table(records, suite),
    ]
    if suite.name == "axioms":
        parts += ["## Axiom matrix", axiom_matrix(records), AXIOM_LEGEND]
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        groups[r.check, r.metric].append(r)
    for (check, metric), rows in groups.items():  # records are sorted, so groups are too
        parts += [f"## `{check}` · `{metric}`", _check_table(rows)]
    if suite.curves is not None and not curve_frame(records, suite.curves).empty:
        parts += ["## Curves", _curves_section(records, suite.curves)]
    if suite.notes:
        parts += ["## Notes", suite.notes]
    return "\n\n".join(parts) + "\n"


def curve_frame(records: Iterable[Record], curves: Curves) -> pd.DataFrame:
    """The curves of ``curves.check`` in long format: columns method, subject, then
    ``curves.columns``, sorted by (method, subject, the label columns, x); error rows are
    left out."""
    frames = []
    for r in records:
        if r.check != curves.check or r.error:
            continue
        details = json.loads(r.details)
        if not all(column in details for column in curves.columns):
            continue
        part = pd.DataFrame({column: details[column] for column in curves.columns})
        part.insert(0, "subject", r.subject)
        part.insert(0, "method", r.method)
        frames.append(part)
    columns = ["method", "subject", *curves.columns]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True)[columns]
    for column in curves.columns:
        if column not in curves.labels:  # JSON keeps non-finite floats as text
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    order = ["method", "subject", *curves.labels, curves.x]
    return frame.sort_values(order, kind="stable", ignore_index=True)


def _curves_section(records: list[Record], curves: Curves) -> str:
    from attrbench import figures

    parts = [f"Every curve point, long format: [{curves.csv}]({curves.csv})."]
    if curves.table:
        parts.append(curve_table(curve_frame(records, curves), curves))
    for plot in curves.plots:
        if figures.available():
            parts.append(f"{plot.caption}\n\n![{plot.caption}]({plot.file})")
        else:
            parts.append(f"Install the `plots` extra (`pip install attrbench[plots]`) to draw: {plot.caption}")
    return "\n\n".join(parts)


def curve_table(frame: pd.DataFrame, curves: Curves) -> str:
    """Means over subjects of ``curves.table_values`` per ``curves.table`` group; a group
    whose rows all have a status other than "ok" shows that status instead."""
    rows = []
    for key, group in frame.groupby(list(curves.table), sort=True):
        statuses = set(group["status"]) if "status" in group else {"ok"}
        if "ok" not in statuses:
            note = sorted(statuses)[0]
            cells = [note.split(":")[0]] * len(curves.table_values)
        else:
            ok = group[group["status"] == "ok"] if "status" in group else group
            cells = [_fmt(_finite_mean(ok[column])) for column in curves.table_values]
        rows.append([*(f"{v:g}" if isinstance(v, float) else str(v) for v in key), *cells])
    headers = [*curves.table, *(_header(c, _DIRECTIONS.get(c, "higher")) for c in curves.table_values)]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


#: Directions of curve columns shown in a curve table (higher is better unless listed).
_DIRECTIONS = {"center_shift": "lower"}


def _finite_mean(values: pd.Series) -> float | None:
    finite = values[values.apply(lambda v: isinstance(v, (int, float)) and math.isfinite(v))]
    return float(finite.mean()) if len(finite) else None


def render_curves(records: Iterable[Record]) -> dict[str, str | bytes]:
    """File name → content of each suite's curve CSV and, with matplotlib, its figures."""
    from attrbench import figures

    records = sorted(records, key=_row_order)
    files: dict[str, str | bytes] = {}
    for suite in SUITES.values():
        curves = suite.curves
        if curves is None:
            continue
        frame = curve_frame([r for r in records if r.suite == suite.name], curves)
        if frame.empty:
            continue
        files[curves.csv] = frame.to_csv(index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
        for plot in curves.plots:
            keys = [plot.panel, plot.line, curves.x]
            means = frame.groupby(keys, sort=True)[plot.y].mean().reset_index()
            png = figures.curve_panels(means.dropna(subset=[plot.y]), x=curves.x, y=plot.y,
                                       panel=plot.panel, line=plot.line, xlog=curves.xlog)  # fmt: skip
            if png is not None:
                files[plot.file] = png
    return files


def render_pages(records: Iterable[Record], partial: str = "") -> dict[str, str]:
    """File name → text of README.md and every suite page (``partial``: why the last run
    did not finish, shown at the top of README.md)."""
    records = list(records)
    return {MAIN_PAGE: main_page(records, partial), **{s.page: suite_page(records, s) for s in SUITES.values()}}
