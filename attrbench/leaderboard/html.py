"""The leaderboard as a static website: ``index.html`` (the overall table and each suite's
summary), one page per suite and one card per method, rendered from the records alone
with the Jinja2 templates, CSS and script in ``attrbench/leaderboard/site/``.

Every number comes from the same ranking and the same cells as the markdown pages
(:func:`attrbench.leaderboard.markdown.overall_cells` and its siblings), so the site and
the pages always agree. The pages are plain semantic HTML (captions, header cells, alt
text) that read without JavaScript; the script only sorts tables by a column and filters
them by subject or method. Nothing is loaded from the network, so the site works from
the file system. ``attrbench.leaderboard.store.replace_directory`` writes it as one step.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from typing import Any

from attrbench.checks import SUITES
from attrbench.leaderboard import figures
from attrbench.leaderboard.intervals import format_rank_range, with_interval
from attrbench.leaderboard.markdown import (
    BELOW_RESOLUTION,
    CONTROL,
    MAIN_PAGE,
    RULE,
    axiom_cell,
    axiom_cells,
    check_cells,
    curve_cells,
    display_name,
    legends,
    overall_cells,
    resolution_note,
    shown_intro,
    summary_cells,
    summary_rule,
    value_cell,
    value_with_interval,
)
from attrbench.leaderboard.ranking import Leaderboard, analyse, kinds, shown_suites
from attrbench.leaderboard.store import check_one_run, row_order
from attrbench.results import ARROWS, Record
from attrbench.suite import Suite

INDEX = "index.html"
#: The static files shipped with the package and copied into every site.
STATIC = ("style.css", "site.js")
#: Characters of a counterexample's JSON shown on a method card (results.jsonl keeps all).
DETAILS_CHARS = 4000


# ------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, a link and the value a click on its header sorts by."""

    text: str
    href: str = ""
    sort: str = ""
    classes: str = ""


@dataclass(frozen=True)
class Table:
    """A table of the site: contestants' rows, then the controls' rows in their own group."""

    caption: str
    headers: list[str]
    rows: list[list[Cell]]
    control_rows: list[list[Cell]] = field(default_factory=list)
    #: columns whose header is a subject (hidden by the subject filter when it does not match)
    subject_columns: frozenset[int] = frozenset()
    title: str = ""  # a line above the table


def _cell(text: str) -> Cell:
    """A cell of the markdown renderer's: "**…**" in bold; "< resolution" (a residual below
    the check's resolution) sorts as 0."""
    sort = "0" if text.startswith(BELOW_RESOLUTION) else ""
    bold = text.startswith("**") and text.endswith("**")
    return Cell(text.strip("*") if bold else text, "", sort, "strong" if bold else "")


def page_of(suite: Suite) -> str:
    """The file name of ``suite``'s page in the site (its markdown page's, as .html)."""
    return suite.page.rsplit(".", 1)[0] + ".html"


def card_of(method: str) -> str:
    """The file name of ``method``'s card: its name with anything but letters, digits,
    ``_.-`` replaced, and a short hash of the name where that changed it."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", method)
    if slug != method:
        slug += "-" + hashlib.sha256(method.encode()).hexdigest()[:8]
    return f"method-{slug}.html"


def _table(caption: str, cells: tuple, board: Leaderboard, method_column: int, title: str = "",
           subjects: Iterable[int] = ()) -> Table:  # fmt: skip
    headers, rows, control_rows = cells
    names = {display_name(s.method, board): s.method for s in board.standings}

    def line(row: list[str]) -> list[Cell]:
        out = [_cell(text) for text in row]
        method = names.get(row[method_column])
        if method is not None:
            out[method_column] = Cell(row[method_column], card_of(method))
        return out

    return Table(caption, headers, [line(r) for r in rows], [line(r) for r in control_rows],
                 frozenset(subjects), title)  # fmt: skip


# ------------------------------------------------------------------------------ pages


def _markdown(text: str) -> str:
    """Prose of the markdown pages as HTML (raw HTML in it escaped), links to the pages
    pointed at the site's pages (where the controls are: their own row group, not a rule)."""
    html = _markdown_parser().render(text.replace(f"below the {RULE} rule", "in the Controls group"))
    for suite in SUITES.values():
        html = html.replace(f'href="{suite.page}', f'href="{page_of(suite)}')
        html = html.replace(f">{suite.page}</a>", f">{page_of(suite)}</a>")
    return html.replace(f'href="{MAIN_PAGE}', f'href="{INDEX}')


@functools.lru_cache(maxsize=1)
def _markdown_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False})


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("attrbench.leaderboard", "site"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = _markdown
    return env


def _provenance(records: list[Record]) -> str:
    scales = ", ".join(sorted({r.scale for r in records}))
    seeds = ", ".join(str(seed) for seed in sorted({r.seed for r in records}))
    return f"scale {scales}, seed {seeds}"


def render_site(records: Iterable[Record], metadata: Mapping | None = None,
                board: Leaderboard | None = None, figure_files: Mapping[str, bytes] | None = None,
                ) -> dict[str, str | bytes]:  # fmt: skip
    """File name → content of every file of the site: index.html, one page per suite of
    ``SUITES``, one card per method, the static files and the figures (``figure_files``:
    ``render_curves``' output; rendered here when None). The same records give the same
    bytes. Raises LeaderboardError when the records mix scales or seeds."""
    records = sorted((r if r.ci_low is not None or r.value is None else with_interval(r) for r in records),
                     key=row_order)  # fmt: skip
    check_one_run(records)
    metadata = dict(metadata or {})
    board = analyse(records) if board is None else board
    if figure_files is None:
        figure_files = figures.render_curves(records)
    env = _environment()
    common = {
        "suites": [(s, page_of(s)) for s in SUITES.values()],
        "provenance": _provenance(records) if records else "",
        "partial": str(metadata.get("partial") or ""),
        "index": INDEX,
        "control": CONTROL,
    }
    site: dict[str, str | bytes] = {}
    site[INDEX] = env.get_template("index.html.j2").render(**common, **_index(records, board))
    for suite in SUITES.values():
        site[page_of(suite)] = env.get_template("suite.html.j2").render(**common, **_suite(records, suite, board))
    by_method: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.suite in SUITES:
            by_method[r.method].append(r)
    method_kinds = kinds(records)
    for method, rows in sorted(by_method.items()):
        context = _card(method, rows, board, method_kinds.get(method, ""))
        site[card_of(method)] = env.get_template("method.html.j2").render(**common, **context)
    for name in STATIC:
        site[name] = (package_files("attrbench.leaderboard") / "site" / name).read_bytes()
    site.update({name: content for name, content in figure_files.items() if name.endswith(".png")})
    return site


def _index(records: list[Record], board: Leaderboard) -> dict[str, Any]:
    if not records:
        return {"overall": None, "summaries": [], "legends": []}
    overall = _table("Every method's score in each suite [95 % interval] (#rank there, marks against the controls) "
                     "and its overall rank", overall_cells(board), board, 1)  # fmt: skip
    summaries = []
    for suite in SUITES.values():
        rows = [r for r in records if r.suite == suite.name]
        if rows:
            caption = f"{suite.title}: summary ({suite.score_name} {ARROWS[suite.direction]})"
            table = _table(caption, summary_cells(rows, board.suites[suite.name], board), board, 1)
            summaries.append((suite, page_of(suite), table))
    return {"overall": overall, "summaries": summaries, "legends": legends(board, {r.method for r in records})}


def _suite(records: list[Record], suite: Suite, board: Leaderboard) -> dict[str, Any]:
    rows = [r for r in records if r.suite == suite.name]
    context: dict[str, Any] = {
        "suite": suite, "has_rows": bool(rows), "rule": "", "summary": None, "legends": [], "matrix": None,
        "checks": [], "curves": None, "figures": [], "definitions": dict(suite.subjects), "shown": [],
        "pair_figure": None,
    }  # fmt: skip
    for other, other_rows in shown_suites(suite, records):  # Suite.shown_on: e.g. interactions on Boolean
        ranking = board.suites[other.name]
        caption = f"{other.title}: summary ({other.score_name} {ARROWS[other.direction]})"
        table = _table(caption, summary_cells(other_rows, ranking, board), board, 1)
        context["shown"].append((other.shown_as or other.title, shown_intro(ranking), table,
                                 legends(board, {r.method for r in other_rows})))  # fmt: skip
    if not rows:
        return context
    ranking = board.suites[suite.name]
    context["rule"] = summary_rule(ranking)
    caption = f"{suite.title}: summary ({suite.score_name} {ARROWS[suite.direction]})"
    context["summary"] = _table(caption, summary_cells(rows, ranking, board), board, 1)
    context["legends"] = legends(board, {r.method for r in rows})
    if suite.verdict_matrix:
        context["matrix"] = _table(f"{suite.title}: verdict per method and check", axiom_cells(rows, suite, board),
                                   board, 0)  # fmt: skip
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in rows:
        groups[r.check, r.metric].append(r)
    for (check, metric), group in groups.items():
        cells = check_cells(group, board)
        note = resolution_note(group)
        shown = note if note and any(BELOW_RESOLUTION in value_cell(r) for r in group) else ""
        table = _table(f"{check} · {metric}", cells, board, 0, subjects=range(1, len(cells[0])))
        context["checks"].append((check, metric, table, shown))
    for curves in suite.all_curves:  # Suite.curves, then Suite.more_curves
        frame = figures.curve_frame(rows, curves)
        if frame.empty:
            continue
        if curves.table and context["curves"] is None:
            title, *cells = curve_cells(frame, curves, board.controls)
            column = curves.table.index("method") if "method" in curves.table else 0
            context["curves"] = _table(f"{suite.title}: curve means over subjects", tuple(cells), board,
                                       column, title=title)  # fmt: skip
        context["figures"] += [(plot.file, plot.caption, figures.available()) for plot in curves.plots]
    if suite.pair_figure is not None and figures.pair_rows(rows, suite.pair_figure):
        context["pair_figure"] = (suite.pair_figure, figures.available())
    return context


# ------------------------------------------------------------------------------- cards


def _entry(method: str, base: str):
    """The method registry's entry of ``base`` (or of ``method`` before any ``[options]``);
    None where this installation does not register it."""
    from attrbench.methods import default_registry

    try:
        return default_registry.entry(base or method.split("[", 1)[0])
    except Exception:  # a plugin method not installed here: nothing to tell
        return None


def _defaults(entry) -> dict[str, str]:
    out = {}
    for name, parameter in entry.parameters().items():
        if parameter.default is not inspect.Parameter.empty:
            out[name] = repr(parameter.default)
    return out


def _card(method: str, rows: list[Record], board: Leaderboard, kind: str) -> dict[str, Any]:
    base = next((getattr(r, "base_method", "") for r in rows if getattr(r, "base_method", "")), "")
    options = next((getattr(r, "options", None) for r in rows if getattr(r, "options", None)), None)
    entry = _entry(method, base)
    standing = next(s for s in board.standings if s.method == method)
    ranks = []
    for name, ranking in board.suites.items():
        if method not in ranking.scores:
            continue
        low, high = ranking.intervals[method]
        rank = format_rank_range(*ranking.ranks[method]) if method in ranking.ranks else CONTROL
        versus = " ".join(f"{mark} {c}" for c, mark in ranking.versus.get(method, {}).items())
        suite = SUITES[name]
        ranks.append([Cell(suite.title, page_of(suite)), _cell(value_with_interval(ranking.scores[method], low, high)),
                      _cell(rank), _cell(versus or "–")])  # fmt: skip
    overall = "–"
    if standing.control:
        overall = CONTROL
    elif standing.rank is not None:
        mean = value_with_interval(standing.mean_rank, *standing.mean_rank_interval)
        overall = f"#{format_rank_range(*standing.rank)} (mean rank {mean})"
    verdicts = []
    for suite in SUITES.values():
        own = [r for r in rows if r.suite == suite.name and (r.holds is not None or r.error)]
        if not own:
            continue
        by_check: dict[str, list[Record]] = defaultdict(list)
        for r in own:
            by_check[r.check].append(r)
        cells = [[_cell(check), _cell(axiom_cell(group)),
                  _cell(", ".join(r.subject for r in group if r.violated) or "–")]
                 for check, group in sorted(by_check.items())]  # fmt: skip
        table = Table(f"{suite.title}: verdicts of {method}", ["check", "verdict", "violated on"], cells)
        failures = [(r, _counterexample(r)) for r in own if r.violated]
        errors = [r for r in own if r.error]
        verdicts.append((suite, page_of(suite), table, failures, errors))
    return {
        "method": method,
        "name": display_name(method, board),
        "kind": kind or "unknown",
        "control_method": method in board.controls,
        "marks": board.marks.get(method, ""),
        "base": base,
        "options": {k: json.dumps(v) for k, v in sorted((options or {}).items())},
        "entry": entry,
        "claims": [(c.axiom, sorted(c.unless)) for c in entry.claims] if entry is not None else [],
        "defaults": _defaults(entry) if entry is not None else {},
        "hashes": sorted({r.source_hash for r in rows if r.source_hash}),
        "plugins": sorted({r.plugin for r in rows if r.plugin}),
        "ranks": Table(f"Where {method} ranks", ["suite", "score [95 % interval]", "rank", "vs controls"], ranks),
        "overall": overall,
        "verdicts": verdicts,
        "legends": legends(board, {method}),
    }


def _counterexample(record: Record) -> str:
    """The row's details (its counterexample), pretty JSON, cut at ``DETAILS_CHARS``."""
    text = json.dumps(json.loads(record.details), indent=1, sort_keys=True, ensure_ascii=False)
    if len(text) > DETAILS_CHARS:
        text = text[:DETAILS_CHARS] + f"\n… ({len(text) - DETAILS_CHARS} more characters in results.jsonl)"
    return text
