"""The store and the files: read, merge and atomically write a leaderboard directory.

Files (``attrbench.leaderboard.write_leaderboard``): ``results.jsonl`` is the store, a
metadata line (which may hold a date) and then one Record per line. ``results.csv`` (long
format, ``COLUMNS``), ``README.md`` (overall table and axiom matrix) and one page per suite
are rendered from the records alone, so the same records give the same bytes; so are a
suite's curve files (``Suite.all_curves``: a long CSV of the curves in the rows' details and,
with matplotlib, a PNG figure), and the website in ``site/`` (``attrbench.leaderboard.html``),
which ``replace_directory`` swaps in as a whole. Every file is rendered before any is touched; each then
goes to a temporary file in the directory and is moved into place with ``os.replace``,
with Ctrl-C held until the last one is in place (``write_files``), so a reader never sees
a half-written file or a mix of two runs. A run that did not finish (interrupted, stopped
by ``-x``, or with a crashed pytest-xdist worker) still writes the rows it has
(``merge(partial=True)``), and its metadata and README.md say "partial".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Mapping

import pandas as pd

from attrbench.atomic import write_atomic
from attrbench.errors import CorruptResultsError, LeaderboardError
from attrbench.results import COLUMNS, OPTIONAL_COLUMNS, STORE_ONLY, Record, jsonable

RESULTS_FILE = "results.jsonl"
CSV_FILE = "results.csv"
#: The file that marks a directory as written by ``replace_directory`` (which replaces
#: only such a directory, or an empty one).
SITE_MARKER = ".attrbench-site"


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
    "ci_low": (float, int, None),
    "ci_high": (float, int, None),
    "samples": (list, None),
    "aggregate": (str, None),
    "options": (dict, None),
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
    for column in (*COLUMNS, *STORE_ONLY):
        if not _column_ok(column, data[column]):
            shown = repr(data[column])[:80]
            raise _corrupt(path, line, f"column {column!r} has the wrong type: {shown}")
    floats = {c: None if data[c] is None else float(data[c]) for c in ("value", "ci_low", "ci_high")}
    try:
        return Record.from_dict({**data, **floats})
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
    return sorted(by_key.values(), key=row_order)


def _runs(records: Iterable[Record]) -> set[tuple[str, int]]:
    return {(r.scale, r.seed) for r in records}


def _describe(runs: set[tuple[str, int]]) -> str:
    return " and ".join(f"scale {scale!r} seed {seed}" for scale, seed in sorted(runs))


def _mixed_runs(detail: str) -> LeaderboardError:
    return LeaderboardError(
        f"{detail}; rows of another scale/seed are never ranked together: use another "
        "--leaderboard-dir or delete the old results."
    )


def row_order(record: Record) -> tuple:
    """The order of rows in the store and on the pages: (suite, check, metric, method, subject)."""
    return (record.key, repr(record))  # repr only orders rows that share a key


# ------------------------------------------------------------------------------ writing


def check_one_run(records: Iterable[Record]) -> None:
    """Raise LeaderboardError when ``records`` mix scales or seeds (never ranked together)."""
    runs = _runs(records)
    if len(runs) > 1:
        raise _mixed_runs(f"the records mix {_describe(runs)}")


def write_files(directory: str | os.PathLike, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write every file of ``files`` (name → content) into ``directory`` (created on demand)
    as one step: each atomically, with Ctrl-C held until the last one is in place."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _interrupts_deferred():
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
    """:func:`attrbench.atomic.write_atomic` of ``content``, keeping an existing file's mode."""
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    return write_atomic(path, lambda file: file.write(data), mode=mode)


def replace_directory(directory: str | os.PathLike, files: Mapping[str, str | bytes]) -> Path:
    """Make ``directory`` hold exactly ``files`` (relative name → content) as one step: they
    are written to a temporary directory beside it, which then takes its place by two
    renames (the old one aside, the new one in) with Ctrl-C held; the old one is deleted
    after. A reader sees the old directory or the new one, never a half-written one.

    Raises LeaderboardError, before writing anything, when ``directory`` exists and is
    neither empty nor a directory this function wrote (it holds ``SITE_MARKER``)."""
    directory = check_replaceable(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    old = None
    try:
        marker = {SITE_MARKER: "written by attrbench; replaced as a whole on each write\n"}
        for name, content in {**files, **marker}.items():
            path = temp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        os.chmod(temp, 0o755)
        with _interrupts_deferred():
            if directory.exists():
                old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".old"))
                os.replace(directory, old)  # onto the empty directory mkdtemp made
            os.replace(temp, directory)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        if old is not None and not directory.exists():
            os.replace(old, directory)  # put the old one back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory


def check_replaceable(directory: str | os.PathLike) -> Path:
    """``directory`` as a Path; LeaderboardError where ``replace_directory`` may not replace it."""
    directory = Path(directory)
    if directory.exists() and not (
        directory.is_dir() and ((directory / SITE_MARKER).is_file() or not any(directory.iterdir()))
    ):
        raise LeaderboardError(
            f"{directory} exists and was not written by attrbench (no {SITE_MARKER} file in it), so it is not "
            "replaced: give a new or empty directory for the site."
        )
    return directory


def results_jsonl(records: Iterable[Record], metadata: Mapping) -> str:
    """The store: a metadata line, then one record per line."""
    lines = [{"metadata": jsonable(metadata)}, *(r.to_dict() for r in records)]
    return "".join(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n" for line in lines)


def results_csv(records: Iterable[Record]) -> str:
    """The records in long format with exactly ``COLUMNS`` (the raw values: no rounding, no
    "< resolution"); numbers as ``repr(float)``, "" for None."""
    numbers = ("value", "ci_low", "ci_high")
    rows = [{**r.to_dict(), **{c: "" if getattr(r, c) is None else repr(float(getattr(r, c))) for c in numbers}}
            for r in records]  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(index=False, lineterminator="\n")
