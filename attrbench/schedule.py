"""Longest tests first under pytest-xdist: each suite test's duration is recorded at the
end of a run, and the next ``-n`` run hands the workers the longest tests first.

Why: ``pytest suites/ -n 2`` in collection order ended with one worker running the last
20–29 s tests while the other idled (bench/README.md, Parallel runs). Sending the tests
longest first to whichever worker is free is LPT list scheduling (Graham 1969: makespan
≤ 4/3 − 1/(3m) of the optimum on m workers); with the many sub-second tests at the end of the order, both
workers finish within about one short test of each other.

- **Durations** (:func:`record`): the controller adds up each test's setup, call and
  teardown (seconds) and merges them into ``durations-<scale>.json`` in the cache
  directory (``attrbench.subjects.training.cache_dir``: machine-local, like the trained
  models), keyed by :func:`test_key` — the same name the test's seed comes from.
- **Known costs** (:data:`KNOWN_COSTS`, committed): a standard serial run's durations,
  :func:`compact` (each check's median and the tests ≥ 0.5 s off it;
  ``bench/parallel.py --write-costs``), for a machine with no recorded run.
- **Order** (:func:`longest_first`): by recorded duration of this scale, else the known
  cost (:func:`estimate`: the test's own, else its check's), else 0; ties keep collection
  order (a stable sort).

The pytest hooks are in attrbench.schedule_plugin. Only the order changes: a test's seed
comes from its name (``pytest_plugin._test_seed``) and the leaderboard sorts its rows, so
results are byte-identical in any order.
Importing this module imports neither torch nor pytest (``attrbench.options`` imports it).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path

from attrbench.atomic import write_atomic

#: ``--attrbench-schedule`` values: longest tests first under pytest-xdist (default), or
#: pytest's collection order.
SCHEDULES = ("longest", "collection")

#: pytest-xdist ``--dist`` modes whose workers take tests in the order sent, so longest
#: first applies; the scope modes (loadfile, loadscope, loadgroup) and ``each`` keep theirs.
ORDERED_DISTS = ("load", "worksteal")

#: Committed per-test seconds of a standard serial run (bench/parallel.py --write-costs).
KNOWN_COSTS = Path(__file__).resolve().parent / "suite_costs.json"


def test_key(module: str, name: str) -> str:
    """``module_basename::test_name[params]``: independent of the rootdir and of how the
    suites were invoked (``pytest suites/``, ``--pyargs attrbench.suites``)."""
    return f"{module.rsplit('.', 1)[-1]}::{name}"


def item_key(item) -> str:
    return test_key(item.module.__name__ if getattr(item, "module", None) else "", item.name)


def report_key(nodeid: str) -> str:
    """:func:`test_key` of a report's node id (``dir/test_x.py::test_f[p]``)."""
    path, _, rest = nodeid.partition("::")
    return test_key(Path(path).stem, rest.rsplit("::", 1)[-1])


def check_key(key: str) -> str:
    """The check (test function) of a test key: ``test_x::test_f[p]`` → ``test_x::test_f``."""
    return key.split("[", 1)[0]


def durations_path(scale: str) -> Path:
    from attrbench.subjects.training import cache_dir

    return cache_dir() / f"durations-{scale}.json"


def read_durations(path: Path) -> dict[str, float]:
    """The ``{test key: seconds}`` in ``path``; {} where it is missing or unreadable (an
    order hint only: a bad file must not stop a run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, int | float)}


def record(path: Path, durations: Mapping[str, float]) -> None:
    """Merge ``durations`` into the file at ``path`` (tests of this run replace their old
    entries; the rest are kept, so a ``-m SUITE`` run forgets nothing), atomically.
    Silently skipped where the directory cannot be written."""
    if not durations:
        return
    merged = {**read_durations(path), **{k: round(v, 3) for k, v in durations.items()}}
    data = json.dumps(dict(sorted(merged.items())), indent=0).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda file: file.write(data))
    except OSError:
        return


def costs(scale: str) -> dict[str, float]:
    """What :func:`longest_first` orders by: the known costs, overridden by the durations
    recorded at ``scale`` on this machine."""
    return {**read_durations(KNOWN_COSTS), **read_durations(durations_path(scale))}


def check_medians(costs: Mapping[str, float]) -> dict[str, float]:
    """The median cost of each check's timed tests (keys with parameters)."""
    by_check: dict[str, list[float]] = {}
    for key, seconds in costs.items():
        if check_key(key) != key:
            by_check.setdefault(check_key(key), []).append(seconds)
    return {check: statistics.median(values) for check, values in by_check.items()}


def estimate(keys: Iterable[str], costs: Mapping[str, float]) -> list[float]:
    """Each key's cost: its own; else its check's (a check key in ``costs``, as the known
    costs hold one per check); else the median of its check's timed tests; else 0."""
    medians = check_medians(costs)
    return [costs.get(k, costs.get(check_key(k), medians.get(check_key(k), 0.0))) for k in keys]


def compact(durations: Mapping[str, float], within: float = 0.5) -> dict[str, float]:
    """Known costs from a run's durations, small enough to commit: each check's median
    (under the check's key) and the tests more than ``within`` seconds from it; every
    other test is then estimated within ``within`` s of its duration."""
    medians = check_medians(durations)
    kept = {k: v for k, v in durations.items() if abs(v - medians.get(check_key(k), 0.0)) >= within}
    return {k: round(v, 2) for k, v in sorted({**medians, **kept}.items())}


def longest_first(items: list, costs: Mapping[str, float], key=item_key) -> list:
    """``items`` sorted by :func:`estimate`, longest first; ties in their given order."""
    seconds = estimate([key(item) for item in items], costs)
    order = sorted(range(len(items)), key=lambda i: -seconds[i])  # sorted() is stable
    return [items[i] for i in order]
