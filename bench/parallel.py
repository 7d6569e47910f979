"""`pytest suites/ -n 2`: longest tests first against pytest-xdist's own scheduling.

    python bench/parallel.py [--scale standard] [--durations FILE] [--write-costs] [--measure]
                             [--runs 0,1,2] [--keep-leaderboards leaderboards]
                             [--out FILE] [-- PYTEST ARGS, e.g. -m "axioms or boolean"]

Two parts:

1. **Schedules, from recorded durations** (no run): the suites' collection order at the
   scale (``pytest --collect-only``) and each test's recorded seconds (``--durations``: a
   ``durations-<scale>.json`` the plugin records, or the output of ``pytest --durations=0``;
   default: the recorded file in the cache) are fed through pytest-xdist's own schedulers
   (``LoadScheduling``, ``WorkStealingScheduling``, driven by a discrete-event simulation of
   two workers that run their queues in order and answer steal requests as
   ``xdist.remote`` does). The makespan of each (scheduler, order) pair is set against the
   lower bound max(sum / 2, longest test) and the serial sum; for the whole suites and,
   given PYTEST ARGS, for that subset. Without ``--measure`` it writes
   ``results/parallel_<scale>_schedules.md``.
2. **Measured** (``--measure PYTEST ARGS``): the same subset run serially, then under
   ``-n 2`` with each scheduling, back to back in fresh interpreters, with the wall time
   and the machine's load average; each ``-n 2`` run's results.csv and results.jsonl
   records (the jsonl's first line, the run's metadata with its date, is left out) are
   compared byte for byte with the serial run's. ``--runs`` picks which of the five runs
   (the first picked is the reference); ``--keep-leaderboards DIR`` then puts the ``-n 2``
   run's leaderboards in DIR, so one measured run also regenerates the committed ones.

``--write-costs`` also writes the durations, compacted (``attrbench.schedule.compact``),
as ``attrbench/suite_costs.json``: the known costs a machine with no recorded run orders
by; the schedule table has a row for the order those known costs give.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from tabulate import tabulate

import harness
from attrbench.schedule import KNOWN_COSTS, compact, durations_path, longest_first, read_durations, report_key

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DURATION_LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S.*?)\s*$")


def read_log(path: Path) -> dict[str, float]:
    """{test key: setup + call + teardown seconds} from ``pytest --durations=0`` output
    (pytest leaves out phases under 0.005 s)."""
    found: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = DURATION_LINE.match(line)
        if match and "::" in match.group(3):
            key = report_key(match.group(3))
            found[key] = found.get(key, 0.0) + float(match.group(1))
    return found


def collect(scale: str, extra: list[str]) -> list[str]:
    """The test keys of ``pytest suites/`` at ``scale`` in collection order."""
    args = [sys.executable, "-m", "pytest", str(ROOT / "suites"), "--collect-only", "-q", "-p", "no:cacheprovider",
            "--attrbench-scale", scale, *extra]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT).stdout
    return [report_key(line.strip()) for line in out.splitlines() if "::" in line]


# -- simulation ---------------------------------------------------------------------------


class Worker:
    """A pytest-xdist worker as the schedulers see it: a queue run front to back."""

    def __init__(self, number: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{number}")
        self.queue: list[int] = []
        self.shutting_down = False
        self.steal_request: list[int] | None = None

    def send_runtest_some(self, indices) -> None:
        self.queue.extend(indices)

    def send_runtest_all(self) -> None:  # pragma: no cover - EachScheduling only
        raise NotImplementedError

    def shutdown(self) -> None:
        self.shutting_down = True

    def send_steal(self, indices) -> None:
        self.steal_request = list(indices)


def simulate(seconds: list[float], dist: str, workers: int = 2, maxschedchunk: int | None = None) -> float:
    """The makespan of tests taking ``seconds`` (in the order collected) under pytest-xdist's
    ``--dist dist`` scheduler with ``workers`` workers. A worker runs the head of its queue;
    a steal takes the requested tests from the not-yet-started part of the queue, all or
    none (``xdist.remote.WorkerInteractor.steal``)."""
    from xdist.scheduler import LoadScheduling, WorkStealingScheduling

    options = {"maxschedchunk": maxschedchunk, "tx": [f"{workers}*popen"]}
    config = SimpleNamespace(getoption=options.get, getvalue=options.get)
    quiet = SimpleNamespace(loadsched=lambda *a: None, workstealsched=lambda *a: None)
    scheduler = (LoadScheduling if dist == "load" else WorkStealingScheduling)(config, quiet)
    nodes = [Worker(i) for i in range(workers)]
    names = [f"t{i}" for i in range(len(seconds))]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, names)
    scheduler.schedule()
    now, running = 0.0, []  # heap of (finish time, worker number, test index)

    def start(number: int) -> None:
        node = nodes[number]
        if node.queue and not any(r[1] == number for r in running):
            heapq.heappush(running, (now + seconds[node.queue[0]], number, node.queue[0]))

    def answer_steals() -> None:
        for node in nodes:
            if node.steal_request is not None:
                requested, node.steal_request = set(node.steal_request), None
                waiting = node.queue[1:]
                stolen = [i for i in waiting if i in requested] if requested <= set(waiting) else []
                node.queue = node.queue[:1] + [i for i in waiting if i not in set(stolen)]
                scheduler.remove_pending_tests_from_node(node, stolen)

    for number in range(workers):
        start(number)
    while running:
        now, number, index = heapq.heappop(running)
        nodes[number].queue.pop(0)
        scheduler.mark_test_complete(nodes[number], index, seconds[index])
        answer_steals()
        for other in range(workers):
            start(other)
    return now


def schedule_rows(keys: list[str], durations: dict[str, float]) -> list[list]:
    """One row per (scheduler, order): makespan, its ratio to the bound and the speed-up."""
    collected = [durations.get(k, 0.0) for k in keys]
    ordered = [durations.get(k, 0.0) for k in longest_first(keys, durations, key=lambda k: k)]
    by_known = [durations.get(k, 0.0) for k in longest_first(keys, compact(durations), key=lambda k: k)]
    total = sum(collected)
    bound = max(total / 2, max(collected))
    variants = [
        ("`-n 2` before (load, collection order)", collected, "load", None),
        ("`-n 2 --dist worksteal`, collection order", collected, "worksteal", None),
        ("`-n 2 --maxschedchunk 1`, collection order", collected, "load", 1),
        ("`-n 2` now (load, longest first, one test at a time)", ordered, "load", 1),
        ("`-n 2` now, ordered by the known costs (compacted)", by_known, "load", 1),
        ("`-n 2 --dist worksteal`, longest first", ordered, "worksteal", None),
        ("`-n 2`, longest first in pytest-xdist's default chunks (not used)", ordered, "load", None),
    ]
    rows = [["serial (sum of the tests)", f"{total:.1f}", f"{total / bound:.3f}", "1.00"]]
    for name, seconds, dist, chunk in variants:
        makespan = simulate(seconds, dist, 2, chunk)
        rows.append([name, f"{makespan:.1f}", f"{makespan / bound:.3f}", f"{total / makespan:.2f}"])
    rows.append(["lower bound max(sum / 2, longest)", f"{bound:.1f}", "1.000", f"{total / bound:.2f}"])
    return rows


# -- measurement --------------------------------------------------------------------------

MEASURED = [
    ("serial", []),
    ("`-n 2` (longest first, the default)", ["-n", "2"]),
    ("`-n 2 --dist worksteal` (longest first)", ["-n", "2", "--dist", "worksteal"]),
    ("`-n 2 --attrbench-schedule collection` (before)", ["-n", "2", "--attrbench-schedule", "collection"]),
    ("`-n 2 --dist worksteal --attrbench-schedule collection`",
     ["-n", "2", "--dist", "worksteal", "--attrbench-schedule", "collection"]),
]  # fmt: skip


def same_results(a: Path, b: Path) -> bool:
    """results.csv byte-identical and results.jsonl identical after its metadata line."""
    csv_same = (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    jsonl = [(d / "results.jsonl").read_bytes().split(b"\n", 1)[1] for d in (a, b)]
    return csv_same and jsonl[0] == jsonl[1]


def measure(scale: str, extra: list[str], tmp: Path, runs: list[int], keep: Path | None = None) -> list[list]:
    """Run ``MEASURED[i]`` for each i of ``runs`` (the first is the reference the others'
    results and speed-ups are compared with); with ``keep``, the leaderboard directory of
    the default ``-n 2`` run (1) replaces ``keep`` afterwards."""
    rows, first = [], None
    for i in runs:
        name, args = MEASURED[i]
        lb = tmp / f"lb{i}"
        command = [sys.executable, "-m", "pytest", str(ROOT / "suites"), "-q", "-p", "no:cacheprovider",
                   "--attrbench-scale", scale, "--leaderboard-dir", str(lb), *args, *extra]  # fmt: skip
        print("running:", shlex.join(command[3:]), flush=True)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1) or not (lb / "results.csv").exists():
            sys.exit(f"the run failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        first = first or (wall, lb)
        same = "–" if lb == first[1] else ("yes" if same_results(first[1], lb) else "**NO**")
        rows.append([name, f"{wall:.1f}", f"{first[0] / wall:.2f}", same, f"{load:.1f} / {os.getloadavg()[0]:.1f}"])
    if keep is not None and 1 in runs:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(tmp / "lb1", keep)
    return rows


HEADERS = ["schedule", "makespan s", "÷ lower bound ↓", "speed-up over serial ↑"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="standard", choices=("quick", "standard", "paper"))
    parser.add_argument("--durations", type=Path, help="durations-<scale>.json or `pytest --durations=0` output")
    parser.add_argument("--write-costs", action="store_true", help=f"write the durations to {KNOWN_COSTS.name}")
    parser.add_argument("--measure", action="store_true", help="measure the runs; pytest arguments follow --")
    parser.add_argument("--out", type=Path, help="default bench/results/parallel_<scale>[_schedules].md")
    parser.add_argument("--runs", default=",".join(map(str, range(len(MEASURED)))),
                        help="with --measure: which runs, by index (0 serial, 1 -n 2, 2 worksteal, 3 and 4 the "
                             "collection order without and with worksteal); default all")  # fmt: skip
    parser.add_argument("--keep-leaderboards", type=Path, metavar="DIR",
                        help="with --measure: the `-n 2` run's leaderboards replace DIR (e.g. leaderboards)")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    source = args.durations or durations_path(args.scale)
    if source.suffix == ".json":
        durations = read_durations(source)
    else:
        durations = read_log(source)
    if not durations:
        sys.exit(f"no durations in {source}: run the suites once at {args.scale} (they record them)")
    if args.write_costs:
        KNOWN_COSTS.write_text(json.dumps(compact(durations), indent=0) + "\n", encoding="utf-8")
        print(f"wrote {KNOWN_COSTS}")
    keys = collect(args.scale, [])
    out = args.out or BENCH / "results" / f"parallel_{args.scale}{'' if args.measure else '_schedules'}.md"
    timed = sum(1 for k in keys if k in durations)
    parts = [
        f"# `pytest suites/ -n 2` at the {args.scale} scale: longest first against pytest-xdist's scheduling",
        f"Machine: {harness.machine()}.",
        f"Generated by `python bench/parallel.py {shlex.join(sys.argv[1:])}`.",
        f"## Schedules of the recorded durations\n\n{len(keys)} tests collected, {timed} with a recorded duration "
        f"(the rest under pytest's 0.005 s report threshold count 0 s), from `{source.name}`. Each makespan is "
        "pytest-xdist's own scheduler (`LoadScheduling`, `WorkStealingScheduling`) driven by a simulation of two "
        "workers that run each test for its recorded time; no worker start-up or messaging cost.",
        tabulate(schedule_rows(keys, durations), tablefmt="github", headers=HEADERS),
    ]  # fmt: skip
    if extra:
        subset = collect(args.scale, extra)
        parts += [f"The same for `pytest suites/ {shlex.join(extra)}` ({len(subset)} tests):",
                  tabulate(schedule_rows(subset, durations), tablefmt="github", headers=HEADERS)]  # fmt: skip
    if args.measure:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [int(i) for i in args.runs.split(",")]
            rows = measure(args.scale, extra, Path(tmp), runs, args.keep_leaderboards)
        parts += [
            f"## Measured: `pytest suites/ {shlex.join(extra)}` at {args.scale}\n\nBack to back, fresh interpreters; "
            "the serial run first (it records the durations the longest-first runs order by). 'same results': "
            "results.csv byte-identical to the serial run's and results.jsonl identical after its first line "
            "(the run's metadata: date, platform). The load average (1 min) is read before and after each run; "
            "other jobs share the 2 cores.",
            tabulate(rows, headers=["run", "wall s", "speed-up ↑", "same results", "load before / after"],
                     tablefmt="github"),
        ]  # fmt: skip
    harness.publish(out, parts)


if __name__ == "__main__":
    main()
