"""The leaderboard pages in markdown (tabulate): README.md with the overall table and the
verdict matrix, and one page per suite, rendered from the records alone (the same records
give the same bytes). How scores, intervals, ranks, controls and marks are made:
:mod:`attrbench.leaderboard.ranking`; how to read them: docs/leaderboards.md.

Every table lists the contestants first and the controls (kind "control") under a rule row; a value is
shown as ``value [low, high]`` (its 95 % interval; the value alone where it is exact), and a residual
below its check's ``CheckInfo.resolution`` as ``< resolution``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import pandas as pd
from tabulate import tabulate

from attrbench.checks import SUITES
from attrbench.checks.context import resolution_of
from attrbench.leaderboard import figures
from attrbench.leaderboard.intervals import format_rank_range, with_interval
from attrbench.leaderboard.ranking import BEATS, TIED, WORSE, Leaderboard, SuiteRanking, analyse, shown_suites
from attrbench.leaderboard.store import row_order
from attrbench.results import ARROWS, Record
from attrbench.suite import Curves, Suite

MAIN_PAGE = "README.md"
#: Characters of an error message shown in a suite page's cell.
ERROR_CHARS = 60
#: The row that separates the contestants from the controls in every table.
RULE = "───"
#: The rank cell of a control.
CONTROL = "control"
#: A value below its check's numerical resolution.
BELOW_RESOLUTION = "< resolution"
DOCS = "`docs/leaderboards.md`"


def _fmt(value: float | None, resolution: float | None = None) -> str:
    if value is None:
        return "–"
    return BELOW_RESOLUTION if resolution is not None and abs(value) < resolution else f"{value:.4g}"


def value_with_interval(value: float | None, low: float | None, high: float | None,
                        resolution: float | None = None) -> str:  # fmt: skip
    """"value [low, high]"; the value alone where the interval is degenerate or unknown;
    "< resolution" for a value (or bound) below ``resolution``."""
    shown = _fmt(value, resolution)
    if value is None or low is None or high is None or (low == value == high):
        return shown
    bounds = (_fmt(low, resolution), _fmt(high, resolution))
    if shown == bounds[0] == bounds[1] == BELOW_RESOLUTION:
        return shown
    return f"{shown} [{bounds[0]}, {bounds[1]}]"


def _header(label: str, direction: str) -> str:
    return f"{label} {ARROWS[direction]}"


def display_name(method: str, board: Leaderboard) -> str:
    """``method`` with its sanity marks (``Leaderboard.marks``), as every table shows it."""
    return f"{method} {board.marks[method]}" if board.marks.get(method) else method


def _with_rule(rows: list[list[str]], control_rows: list[list[str]], width: int) -> list[list[str]]:
    """Contestant rows, then (if any control) a rule row and the control rows."""
    return [*rows, [RULE] * width, *control_rows] if control_rows else rows


def _split(methods: Iterable[str], board: Leaderboard) -> tuple[list[str], list[str]]:
    methods = sorted(set(methods))
    return [m for m in methods if m not in board.controls], [m for m in methods if m in board.controls]


def _versus(ranking: SuiteRanking, method: str) -> str:
    """The marks of ``method``'s score against each control's, in the controls' order."""
    return "".join(ranking.versus.get(method, {}).get(c, "") for c in ranking.controls)


def _score_cell(ranking: SuiteRanking, method: str) -> str:
    low, high = ranking.intervals[method]
    return value_with_interval(ranking.scores[method], low, high)


# ---------------------------------------------------------------------------- README


#: A table's cells: headers, the contestants' rows and the controls' rows (shown under a
#: rule in markdown, in their own row group in HTML).
Cells = tuple[list[str], list[list[str]], list[list[str]]]
#: A title ("" where there is none) and a table's cells.
TitledCells = tuple[str, list[str], list[list[str]], list[list[str]]]


def overall_table(records: Iterable[Record], tablefmt: str = "github", board: Leaderboard | None = None) -> str:
    """Methods × suites: each cell the suite's score [interval], the rank range there and
    the marks against the controls; the overall rank range and mean rank [interval]."""
    board = analyse(records) if board is None else board
    headers, rows, control_rows = overall_cells(board)
    table = _with_rule(rows, control_rows, len(headers))
    return tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def overall_cells(board: Leaderboard) -> Cells:
    """The cells of ``overall_table``."""
    headers = ["rank", "method"]
    headers += [_header(f"{s.title} ({s.score_name})", s.direction) for s in SUITES.values()]
    headers.append(_header("mean rank", "lower"))
    rows, control_rows = [], []
    for standing in board.standings:
        cells = []
        for ranking in board.suites.values():
            if standing.method not in ranking.scores:
                cells.append("–")
                continue
            cell = _score_cell(ranking, standing.method)
            if standing.method in ranking.ranks:
                cell += f" (#{format_rank_range(*ranking.ranks[standing.method])})"
            versus = _versus(ranking, standing.method)
            cells.append(f"{cell} {versus}" if versus else cell)
        mean = "–"
        if standing.mean_rank is not None:
            mean = value_with_interval(standing.mean_rank, *standing.mean_rank_interval)
        elif not standing.control and standing.required:
            mean = f"not ranked: {standing.covered} of {standing.required} suites"
        if standing.control:
            control_rows.append([CONTROL, display_name(standing.method, board), *cells, "–"])
        else:
            rank = "–" if standing.rank is None else format_rank_range(*standing.rank)
            rows.append([rank, display_name(standing.method, board), *cells, mean])
    return headers, rows, control_rows


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


def axiom_legend(suite: Suite) -> str:
    """What the cells of ``suite``'s axiom matrix mean."""
    return (
        "✓ holds on every subject · ✓ (claimed) holds, and the method claims it · ✗ violated on "
        "at least one subject · **✗ claimed** violated where the method claims it (its pytest "
        f"gate fails) · error: a check raised and nothing was violated (see [{suite.page}]({suite.page})) "
        "· – no verdict. Violations take precedence over errors."
    )


def axiom_matrix(records: Iterable[Record], suite: Suite, tablefmt: str = "github",
                 board: Leaderboard | None = None) -> str:  # fmt: skip
    """Methods × checks of a suite with ``verdict_matrix`` (see ``axiom_cell``)."""
    records = list(records)
    board = analyse(records) if board is None else board
    headers, rows, control_rows = axiom_cells(records, suite, board)
    table = _with_rule(rows, control_rows, len(headers))
    return tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def axiom_cells(records: Iterable[Record], suite: Suite, board: Leaderboard) -> Cells:
    """The cells of ``axiom_matrix``."""
    cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.suite == suite.name:
            cells[r.method, r.check].append(r)
    checks = sorted({check for _, check in cells})
    contestants, refs = _split((method for method, _ in cells), board)

    def line(method: str) -> list[str]:
        return [display_name(method, board), *(axiom_cell(cells.get((method, check), [])) for check in checks)]

    return ["method", *checks], [line(m) for m in contestants], [line(m) for m in refs]


def _provenance(records: list[Record]) -> str:
    scales = ", ".join(f"`{scale}`" for scale in sorted({r.scale for r in records}))
    seeds = ", ".join(str(seed) for seed in sorted({r.seed for r in records}))
    return f"scale {scales}, seed {seeds}"


def _axiom_section(records: list[Record], suite: Suite, board: Leaderboard) -> list[str]:
    return ["## Axiom matrix", axiom_matrix(records, suite, board=board), axiom_legend(suite)]


def legends(board: Leaderboard, methods: Iterable[str]) -> list[str]:
    """The control and sanity-mark legend lines that apply to ``methods``' rows."""
    methods = set(methods)
    lines = []
    refs = sorted(board.controls & methods)
    if refs:
        names = ", ".join(f"`{c}`" for c in refs)
        lines.append(
            f"Controls ({names}; below the {RULE} rule) are references, not contestants: never ranked and "
            f"not in anyone's rank. Beside a contestant's score, one mark per control in that order: {BEATS} "
            f"better than the control, {WORSE} worse (the 95 % interval of the paired bootstrap difference "
            f"excludes 0), {TIED} cannot be told apart."
        )
    for suite in SUITES.values():
        marked = sorted(m for m in methods if suite.failure_mark and suite.failure_mark in board.marks.get(m, ""))
        if marked:
            lines.append(
                f"{suite.failure_mark} fails the {suite.title} suite ([{suite.page}]({suite.page})): at least one "
                "of its verdicts does not hold for this method, so its other scores are no evidence of quality."
            )
    return lines


def variants_note(records: Iterable[Record]) -> str | None:
    """One line naming each variant row's base method and non-default options (from the
    records' ``base_method`` and ``options``), or None when no row is a variant."""
    seen: dict[str, str] = {}
    for r in records:
        if r.options and r.method not in seen:
            options = ", ".join(f"{k}={v}" for k, v in sorted(r.options.items()))
            seen[r.method] = f"`{r.method}` = `{r.base_method or r.method}` with {options}"
    listed = "; ".join(seen[m] for m in sorted(seen))
    return f"Variants (a method with non-default options, `attrbench.methods.variants`): {listed}." if seen else None


def main_page(records: Iterable[Record], partial: str = "", board: Leaderboard | None = None) -> str:
    """README.md: how it was made, the overall table and the axiom matrix of each suite
    with ``verdict_matrix``; a warning first when the last run was ``partial`` (the reason)."""
    records = sorted(records, key=row_order)
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
    board = analyse(records) if board is None else board
    parts += [
        f"Generated by `pytest suites/` at {_provenance(records)}. Regenerate these pages "
        "from the stored rows with `attrbench leaderboard leaderboards/results.jsonl`.",
        "## Overall",
        "Each cell is a method's summary score in a suite with its 95 % bootstrap interval in brackets "
        "(the value alone where it is exact), its rank there (#1 is best; ↑ higher is better, ↓ lower) and "
        "its marks against the controls. A rank range such as #2–4 means the data cannot separate the "
        "method from its neighbours: two methods are separated when the 95 % interval of the paired "
        "bootstrap difference of their scores excludes 0. `rank` orders the methods scored in every "
        "first-order suite by their mean rank there, with the same rule applied to bootstrap replicates of "
        "the mean rank; a method scored in fewer suites keeps its suite ranks but has no overall rank. "
        f"Error rows are shown on the suite pages and never ranked. How to read all of this: "
        f"{DOCS}. Suites: {links}.",
        overall_table(records, board=board),
        *legends(board, {r.method for r in records}),
        *filter(None, [variants_note(records)]),
    ]
    for suite in SUITES.values():
        if suite.verdict_matrix:
            parts += _axiom_section(records, suite, board)
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------ suite pages


def summary_rule(ranking: SuiteRanking) -> str:
    suite = ranking.suite
    if suite.holds_rate:
        return (
            "the fraction of the method's verdict rows (over every check and subject) that hold. It is exact "
            "(a count of verdicts, no sampling), so it has no interval: equal scores are ties, shown as a "
            "shared rank range, and every other difference separates two methods"
        )
    metrics = ", ".join(f"`{m}`" for m in suite.summary_metrics)
    text = (
        f"the mean of the method's {metrics} values over its checks and subjects, with its 95 % bootstrap "
        "interval (paired over the samples every method sees). A rank range such as 2–4 means the paired "
        "bootstrap difference cannot separate the method from its neighbours"
    )
    if not ranking.sampled:
        text += (
            ". No row here keeps per-sample values (exact values, e.g. enumerated over every input of a "
            "circuit, or rows stored without their per-sample values), so every interval is degenerate and "
            "any difference separates"
        )
    return text


def _summary_table(records: list[Record], ranking: SuiteRanking, board: Leaderboard) -> str:
    headers, rows, control_rows = summary_cells(records, ranking, board)
    table = _with_rule(rows, control_rows, len(headers))
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def summary_cells(records: list[Record], ranking: SuiteRanking, board: Leaderboard) -> Cells:
    """A suite page's summary: rank, method, score [interval], marks against each control,
    rows and errors (``records``: the suite's rows)."""
    suite = ranking.suite
    headers = ["rank", "method", _header(suite.score_name, suite.direction)]
    headers += [f"vs {c}" for c in ranking.controls]
    headers += ["rows", "errors"]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        counts[r.method][0] += 1
        counts[r.method][1] += bool(r.error)
    unscored = sorted(m for m in counts if m not in ranking.scores and m not in board.controls)
    rows, control_rows = [], []
    for method in [*ranking.contestants, *unscored]:
        rank = format_rank_range(*ranking.ranks[method]) if method in ranking.ranks else "–"
        score = _score_cell(ranking, method) if method in ranking.scores else "–"
        versus = [ranking.versus.get(method, {}).get(c, "–") for c in ranking.controls]
        rows.append([rank, display_name(method, board), score, *versus, *map(str, counts[method])])
    for method in sorted(m for m in counts if m in board.controls):
        score = _score_cell(ranking, method) if method in ranking.scores else "–"
        dashes = ["–"] * len(ranking.controls)
        control_rows.append([CONTROL, display_name(method, board), score, *dashes, *map(str, counts[method])])
    return headers, rows, control_rows


def value_cell(record: Record) -> str:
    if record.error:
        text = " ".join(record.error.split())[:ERROR_CHARS]
        return "error: " + text.replace("|", "\\|")
    mark = {True: " ✓", False: " ✗", None: ""}[record.holds]
    claimed = " (claimed)" if record.violated and record.claimed else ""
    shown = value_with_interval(record.value, record.ci_low, record.ci_high,
                                resolution_of(record.suite, record.check))  # fmt: skip
    return f"{shown}{mark}{claimed}"


def _check_table(rows: list[Record], board: Leaderboard) -> str:
    headers, contestant_rows, control_rows = check_cells(rows, board)
    table = _with_rule(contestant_rows, control_rows, len(headers))
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def check_cells(rows: list[Record], board: Leaderboard) -> Cells:
    """Methods × subjects of one (check, metric): each cell the row's value [interval] and
    verdict, or its error."""
    cells = {(r.method, r.subject): value_cell(r) for r in rows}
    contestants, refs = _split((r.method for r in rows), board)
    subjects = sorted({r.subject for r in rows})

    def line(method: str) -> list[str]:
        return [display_name(method, board), *(cells.get((method, subject), "–") for subject in subjects)]

    first = f"method ({rows[0].metric} {ARROWS[rows[0].direction]})"
    return [first, *subjects], [line(m) for m in contestants], [line(m) for m in refs]


def resolution_note(rows: list[Record]) -> str | None:
    resolution = resolution_of(rows[0].suite, rows[0].check)
    if resolution is None:
        return None
    return (f"`{BELOW_RESOLUTION}`: below {resolution:.3g}, the check's numerical resolution (float32 rounding; "
            "see the check's docstring); results.csv keeps the raw value.")  # fmt: skip


def shown_intro(ranking: SuiteRanking) -> str:
    """The prose above another suite's summary shown on this page (``Suite.shown_on``)."""
    return (f"The summary of the [{ranking.suite.title}]({ranking.suite.page}) page (every check's table is there), "
            "from the same rows and ranking: these methods are ranked only among themselves, apart from this page's. "
            f"The score is {summary_rule(ranking)}.")  # fmt: skip


def _shown_sections(records: list[Record], suite: Suite, board: Leaderboard) -> list[str]:
    return [part for other, rows in shown_suites(suite, records) for part in (
        f"## {other.shown_as or other.title}", shown_intro(board.suites[other.name]),
        _summary_table(rows, board.suites[other.name], board), *legends(board, {r.method for r in rows}))]


def suite_page(records: Iterable[Record], suite: Suite, board: Leaderboard | None = None) -> str:
    """One suite's page: description, ranked summary, one table per (check, metric)."""
    records = list(records)
    board = analyse(records) if board is None else board
    shown = _shown_sections(sorted(records, key=row_order), suite, board)
    records = sorted((r for r in records if r.suite == suite.name), key=row_order)
    parts = [f"# {suite.title}", suite.description]
    if not records:
        parts += ["No results yet: run `pytest suites/` to fill this page.", *shown]
        return "\n\n".join(parts) + "\n"
    ranking = board.suites[suite.name]
    parts += [
        f"Generated by `pytest suites/` at {_provenance(records)}. [All suites](README.md).",
        "## Summary",
        f"The score is {summary_rule(ranking)} (how to read it: {DOCS}). #1 is best; error rows are counted "
        "here but never scored. Cells below show `value [low, high]`, the row's 95 % bootstrap interval over "
        "its samples (the value alone where it is exact).",
        _summary_table(records, ranking, board),
        *legends(board, {r.method for r in records}),
        *filter(None, [variants_note(records)]),
        *shown,
    ]
    if suite.verdict_matrix:
        parts += _axiom_section(records, suite, board)
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        groups[r.check, r.metric].append(r)
    for (check, metric), rows in groups.items():  # records are sorted, so groups are too
        parts += [f"## `{check}` · `{metric}`", _check_table(rows, board)]
        note = resolution_note(rows)
        if note and any(BELOW_RESOLUTION in value_cell(r) for r in rows):
            parts.append(note)
    drawn = [c for c in suite.all_curves if not figures.curve_frame(records, c).empty]
    if drawn:
        parts += ["## Curves", *(_curves_section(records, c, board) for c in drawn)]
    if suite.pair_figure is not None and figures.pair_rows(records, suite.pair_figure):
        parts += [f"## {suite.pair_figure.title}", _figure(suite.pair_figure.caption, suite.pair_figure.file)]
    if suite.notes:
        parts += ["## Notes", suite.notes]
    return "\n\n".join(parts) + "\n"


def _curves_section(records: list[Record], curves: Curves, board: Leaderboard) -> str:
    parts = [f"Every curve point, long format: [{curves.csv}]({curves.csv})."]
    if curves.table:
        parts.append(curve_table(figures.curve_frame(records, curves), curves, board.controls))
    return "\n\n".join([*parts, *(_figure(plot.caption, plot.file) for plot in curves.plots)])


def _figure(caption: str, file: str) -> str:
    if figures.available():
        return f"{caption}\n\n![{caption}]({file})"
    return f"Install the `plots` extra (`pip install attrbench[plots]`) to draw: {caption}"


def curve_table(frame: pd.DataFrame, curves: Curves, controls: Iterable[str] = ()) -> str:
    """Means over subjects of ``curves.table_values`` per ``curves.table`` group; a group
    whose rows all have a status other than "ok" shows that status instead. Where the
    groups include "method", the ``controls``' rows come last, under a rule. With
    ``curves.pivot`` the values of that column become the table's columns."""
    title, headers, rows, control_rows = curve_cells(frame, curves, controls)
    table = tabulate(_with_rule(rows, control_rows, len(headers)), headers=headers, tablefmt="github",
                     disable_numparse=True)  # fmt: skip
    return f"{title}:\n\n{table}" if title else table


def curve_cells(frame: pd.DataFrame, curves: Curves, controls: Iterable[str] = ()) -> TitledCells:
    """The title ("" where the headers say it all) and cells of ``curve_table``."""
    controls = set(controls)
    column = curves.table.index("method") if "method" in curves.table else None
    if curves.pivot:
        return _pivot_cells(frame, curves, controls, column)
    rows, control_rows = [], []
    for key, group in frame.groupby(list(curves.table), sort=True):
        statuses = set(group["status"]) if "status" in group else {"ok"}
        if "ok" not in statuses:
            note = sorted(statuses)[0]
            cells = [note.split(":")[0]] * len(curves.table_values)
        else:
            ok = group[group["status"] == "ok"] if "status" in group else group
            cells = [_fmt(_finite_mean(ok[c])) for c in curves.table_values]
        line = [*(f"{v:g}" if isinstance(v, float) else str(v) for v in key), *cells]
        (control_rows if column is not None and key[column] in controls else rows).append(line)
    headers = [*curves.table, *(_header(c, _DIRECTIONS.get(c, "higher")) for c in curves.table_values)]
    return "", headers, rows, control_rows


def _pivot_cells(frame: pd.DataFrame, curves: Curves, controls: set, column: int | None) -> TitledCells:
    """Rows grouped by ``curves.table`` (controls last), one column per value of
    ``curves.pivot`` (in order of first appearance), each cell the mean over subjects of
    ``curves.table_values[0]``."""
    value = curves.table_values[0]
    columns = list(dict.fromkeys(frame[curves.pivot]))
    rows, control_rows = [], []
    for key, group in frame.groupby(list(curves.table), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = [_fmt(_finite_mean(group.loc[group[curves.pivot] == c, value])) for c in columns]
        line = [*(f"{v:g}" if isinstance(v, float) else str(v) for v in key), *cells]
        (control_rows if column is not None and key[column] in controls else rows).append(line)
    title = _header(value, _DIRECTIONS.get(value, "higher"))
    return f"{title}, mean over subjects, one column per {curves.pivot}", [*curves.table, *columns], rows, control_rows


#: Directions of curve columns shown in a curve table (higher is better unless listed).
_DIRECTIONS = {"center_shift": "lower"}


def _finite_mean(values: pd.Series) -> float | None:
    finite = values[values.apply(lambda v: isinstance(v, (int, float)) and math.isfinite(v))]
    return float(finite.mean()) if len(finite) else None


def render_pages(records: Iterable[Record], partial: str = "", board: Leaderboard | None = None) -> dict[str, str]:
    """File name → text of README.md and every suite page (``partial``: why the last run
    did not finish, shown at the top of README.md); everything is ranked once (``board``:
    ``analyse(records)`` where the caller has it)."""
    records = [r if r.ci_low is not None or r.value is None else with_interval(r) for r in records]
    board = analyse(records) if board is None else board
    pages = {MAIN_PAGE: main_page(records, partial, board)}
    pages.update({s.page: suite_page(records, s, board) for s in SUITES.values()})
    return pages
