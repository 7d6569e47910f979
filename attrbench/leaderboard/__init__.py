"""The leaderboards: store → ranking → pages and figures.

:mod:`~attrbench.leaderboard.store` reads, merges and atomically writes the files (what
each file is: its docstring); :mod:`~attrbench.leaderboard.ranking` computes scores,
intervals (:mod:`~attrbench.leaderboard.intervals`), rank ranges and control marks;
:mod:`~attrbench.leaderboard.markdown` renders the pages and
:mod:`~attrbench.leaderboard.figures` the curve files. ``write_leaderboard`` and
``update_leaderboard`` run the whole chain; :mod:`~attrbench.leaderboard.html` renders
the same tables as a static website (``site/`` in the directory, or ``html_dir``).
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable, Mapping

from attrbench.errors import LeaderboardError
from attrbench.leaderboard.figures import curve_frame, render_curves
from attrbench.leaderboard.html import render_site
from attrbench.leaderboard.markdown import (
    axiom_cell,
    axiom_matrix,
    curve_table,
    main_page,
    overall_table,
    render_pages,
    suite_page,
)
from attrbench.leaderboard.intervals import with_interval
from attrbench.leaderboard.ranking import (
    Leaderboard,
    Standing,
    SuiteRanking,
    analyse,
    rank_suite,
    standings,
    suite_scores,
)
from attrbench.leaderboard.store import (
    CSV_FILE,
    RESULTS_FILE,
    check_one_run,
    merge,
    read_results,
    results_csv,
    results_jsonl,
    row_order,
    check_replaceable,
    replace_directory,
    write_files,
)
from attrbench.results import Record

#: The site's directory in a leaderboard directory (where ``html_dir`` does not say).
SITE_DIR = "site"

__all__ = [
    "CSV_FILE", "RESULTS_FILE", "Leaderboard", "Standing", "SuiteRanking", "analyse", "axiom_cell", "axiom_matrix",
    "curve_frame", "curve_table", "main_page", "merge", "overall_table", "rank_suite", "read_results",
    "SITE_DIR", "render_curves", "render_pages",
    "render_site", "results_csv", "results_jsonl", "standings", "suite_page", "suite_scores",
    "update_leaderboard", "with_interval", "write_leaderboard",
]  # fmt: skip


def update_leaderboard(directory: str | os.PathLike, new_records: Iterable[Record], metadata: Mapping,
                       html_dir: str | os.PathLike | None = None) -> list[Path]:  # fmt: skip
    """Merge ``new_records`` into ``directory``'s results and rewrite every file.

    Errors (a corrupt store, another scale or seed, an ``html_dir`` attrbench did not write)
    are raised before anything is written; the site goes to ``html_dir`` (default
    ``directory/site``).
    The stored metadata is kept where ``metadata`` does not set a key; a run whose
    ``metadata["partial"]`` says why it did not finish merges as :func:`merge`'s partial."""
    store = Path(directory) / RESULTS_FILE
    old_metadata, existing = read_results(store)
    try:
        records = merge(existing, new_records, partial=bool(metadata.get("partial")))
    except LeaderboardError as exc:
        raise LeaderboardError(f"{store}: {exc}") from None
    return write_leaderboard(directory, records, {**old_metadata, **metadata}, html_dir)


def write_leaderboard(directory: str | os.PathLike, records: Iterable[Record], metadata: Mapping,
                      html_dir: str | os.PathLike | None = None) -> list[Path]:  # fmt: skip
    """Write results.jsonl, results.csv, README.md, the suite pages and the curve files,
    and the site into ``html_dir`` (default ``directory/site``); return their paths (the
    site's as its directory). Each row's interval (``ci_low``, ``ci_high``) is computed
    from its stored samples (``with_interval``). Everything is rendered before any file is
    replaced."""
    records = sorted((with_interval(r) for r in records), key=row_order)
    check_one_run(records)
    board = analyse(records)
    files: dict[str, str | bytes] = {RESULTS_FILE: results_jsonl(records, metadata), CSV_FILE: results_csv(records)}
    files.update(render_pages(records, partial=str(metadata.get("partial") or ""), board=board))
    curves = render_curves(records)
    files.update(curves)
    site = render_site(records, metadata, board, curves)
    html_dir = check_replaceable(Path(directory) / SITE_DIR if html_dir is None else html_dir)
    written = write_files(directory, files)
    return [*written, replace_directory(html_dir, site)]
