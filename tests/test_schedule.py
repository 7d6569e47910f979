"""Longest tests first under pytest-xdist (attrbench/schedule.py, schedule_plugin.py).

The ordering is checked on hand-made costs (the expected orders are written out by hand
below); the recording and the reordering end to end on a tiny suite run with pytester in
a subprocess, as tests/test_harness_plugin.py runs the plugin, with ``ATTRBENCH_CACHE``
in the test's folder so the user's recorded durations are left alone.
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest

from attrbench.pytest_plugin import _test_seed
from attrbench.schedule import (
    check_medians,
    compact,
    estimate,
    item_key,
    longest_first,
    read_durations,
    record,
    report_key,
)


def fake_item(module: str, name: str):
    return SimpleNamespace(module=SimpleNamespace(__name__=module), name=name)


# -- the order ----------------------------------------------------------------------------


def test_longest_first_unknown_tests_take_their_checks_median_ties_keep_collection_order():
    """Costs by hand: a[1]=5, a[2]=1, a[3]=3 (check a's median 3), b[1]=2; a[4] is not
    timed, so it costs a's median, 3, and ties with a[3], which was collected first; c is
    a check never timed: cost 0, after every timed test, c[1] before c[2] as collected."""
    costs = {"m::a[1]": 5.0, "m::a[2]": 1.0, "m::a[3]": 3.0, "m::b[1]": 2.0}
    names = ["c[1]", "a[1]", "a[2]", "b[1]", "a[3]", "c[2]", "a[4]"]
    items = [fake_item("pkg.m", n) for n in names]
    ordered = [i.name for i in longest_first(items, costs)]
    assert ordered == ["a[1]", "a[3]", "a[4]", "b[1]", "a[2]", "c[1]", "c[2]"]
    assert check_medians(costs) == {"m::a": 3.0, "m::b": 2.0}
    assert estimate(["m::a[4]", "m::c[1]"], costs) == [3.0, 0.0]


def test_known_costs_keep_each_checks_median_and_the_tests_far_from_it():
    """Durations by hand: check a has 1.0, 1.2, 4.0 s (median 1.2), check b 0.1 s alone.
    Compacted within 0.5 s: a's median, a[3] (2.8 s off it) and b's median; a[1] and a[2]
    are then estimated at 1.2 s (0.2 s and 0 s off), a new a[9] too, a[3] at its own 4.0 s."""
    durations = {"m::a[1]": 1.0, "m::a[2]": 1.2, "m::a[3]": 4.0, "m::b[1]": 0.1}
    known = compact(durations, within=0.5)
    assert known == {"m::a": 1.2, "m::a[3]": 4.0, "m::b": 0.1}
    assert estimate(["m::a[1]", "m::a[2]", "m::a[3]", "m::a[9]", "m::b[1]"], known) == [1.2, 1.2, 4.0, 1.2, 0.1]
    recorded = {"m::a[1]": 0.5}  # a recorded duration wins over the known check cost
    assert estimate(["m::a[1]", "m::a[2]"], {**known, **recorded}) == [0.5, 1.2]


def test_no_costs_keep_collection_order():
    items = [fake_item("m", n) for n in ("t[2]", "t[1]", "u")]
    assert longest_first(items, {}) == items


def test_a_report_and_its_item_have_one_key_whatever_the_rootdir():
    """The key recorded from a report's node id is the key an item is ordered by (and the
    name its seed comes from): ``pytest suites/`` names the module ``test_axioms`` or
    ``attrbench.suites.test_axioms`` and the node id ``suites/test_axioms.py::...`` or
    ``test_axioms.py::...`` (``--pyargs``, rootdir the suites)."""
    name = "test_lipschitz[nonmonotone_path-generated]"
    keys = {
        item_key(fake_item("attrbench.suites.test_axioms", name)),
        item_key(fake_item("test_axioms", name)),
        report_key(f"suites/test_axioms.py::{name}"),
        report_key(f"test_axioms.py::{name}"),
    }
    assert keys == {f"test_axioms::{name}"}


def test_the_seed_depends_on_the_test_name_not_its_place():
    """``_test_seed`` is the first 15 hex digits of SHA-256 over "seed:module::name"
    (computed here with hashlib directly), for the same item wherever the order puts it."""
    items = [fake_item("attrbench.suites.test_axioms", f"test_completeness[m{i}-s]") for i in range(4)]
    expected = {i.name: int(hashlib.sha256(f"7:test_axioms::{i.name}".encode()).hexdigest()[:15], 16) for i in items}
    costs = {item_key(i): float(n) for n, i in enumerate(items)}  # reverses the order
    reordered = longest_first(items, costs)
    assert [i.name for i in reordered] == [i.name for i in reversed(items)]
    assert {i.name: _test_seed(7, i) for i in reordered} == expected


def test_record_merges_replaces_and_ignores_a_bad_file(tmp_path):
    path = tmp_path / "sub" / "durations-quick.json"
    record(path, {"m::a": 1.0, "m::b": 2.0})
    record(path, {"m::b": 4.0, "m::c": 0.5})  # a -m run: b re-timed, a kept
    assert read_durations(path) == {"m::a": 1.0, "m::b": 4.0, "m::c": 0.5}
    path.write_text("{not json", encoding="utf-8")
    assert read_durations(path) == {}
    record(path, {"m::d": 1.5})
    assert read_durations(path) == {"m::d": 1.5}


class FakeWorker:
    """A pytest-xdist worker as ``LoadScheduling`` sees it: it is sent test indices."""

    def __init__(self, number: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{number}")
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


@pytest.mark.parametrize(("directory", "first_batch"), [("suites", 2), ("tests", 5)])
def test_load_scheduling_sends_one_test_at_a_time_only_to_a_suite_run(directory, first_batch):
    """pytest-xdist's ``LoadScheduling`` starts each of 2 workers on 40 tests with a chunk
    of max(2, 40 / 2 / 4) = 5 consecutive tests (xdist/scheduler/load.py, ``schedule``),
    and with ``maxschedchunk`` 1 on the minimum, 2 (one running, one next). A collection
    holding a test with a cost (here the check test_axioms::test_asi) gets 2, a unit-test
    run (test_cli, no cost) xdist's 5."""
    pytest.importorskip("xdist")
    from attrbench.schedule_plugin import one_at_a_time

    options = {"maxschedchunk": None, "tx": ["2*popen"]}
    config = SimpleNamespace(getoption=options.get, getvalue=options.get)
    module = "test_axioms.py::test_asi" if directory == "suites" else "test_cli.py::test_run"
    collection = [f"{directory}/{module}[m{i}-s]" for i in range(40)]
    scheduler = one_at_a_time(config, SimpleNamespace(loadsched=lambda *a: None), {"test_axioms::test_asi": 1.0})
    workers = [FakeWorker(0), FakeWorker(1)]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    assert [w.sent for w in workers] == [list(range(first_batch)), list(range(first_batch, 2 * first_batch))]


# -- end to end: recorded, then used by -n 2 -------------------------------------------------

HELPERS = '''
import time

import torch

from attrbench import register_method
from attrbench.checks.context import check
from attrbench.results import Outcome


@register_method("sched_fast")
def sched_fast(model, x, target, baseline):
    return torch.ones_like(x)


@register_method("sched_sleepy")
def sched_sleepy(model, x, target, baseline):
    time.sleep(0.3)
    return torch.ones_like(x)


def make_check(name):
    @check(suite="sensitivity_n", check=name, metric="mean_draw", direction="higher")
    def drawn(method, subject, ctx):
        """Attributes once and draws from the test's seeded generator."""
        x, t, b = ctx.samples(subject)
        attr = ctx.attribute(method, subject.model, x, t, b, where=name)
        draw = torch.rand(len(x), generator=ctx.generator, dtype=attr.dtype)
        return Outcome(value=float((attr.sum(1) * draw).mean()), holds=None)

    return drawn


drawn, drawn_again = make_check("drawn"), make_check("drawn_again")  # one row per (check, method, subject)
'''

CONFTEST = '''
import json
import os
from pathlib import Path

import schedhelpers  # noqa: F401  (registers the sched_* methods)


def pytest_collection_finish(session):
    """Each process writes the order it will run its tests in."""
    # (not PYTEST_XDIST_WORKER: an outer pytest-xdist run running this test sets it too)
    name = getattr(session.config, "workerinput", {}).get("workerid", "serial")
    Path(os.environ["SCHED_ORDER_DIR"], name + ".json").write_text(json.dumps([i.nodeid for i in session.items]))
'''

SUITE = """
import pytest

from schedhelpers import drawn, drawn_again


@pytest.mark.sensitivity_n
@pytest.mark.attrbench_subjects("analytic/linear", "analytic/linear_nobias")
def test_drawn(bench):
    bench.run(drawn)


@pytest.mark.sensitivity_n
@pytest.mark.attrbench_subjects("analytic/linear")
def test_again(bench):
    bench.run(drawn_again)
"""


def test_durations_are_recorded_then_order_the_next_xdist_run_and_results_keep_their_bytes(
    pytester, monkeypatch, tmp_path
):
    """A serial run records every suite test's setup + call + teardown in
    ``durations-quick.json`` under ATTRBENCH_CACHE; the sched_sleepy tests sleep 0.3 s in
    their one method call, so each lasts at least that. Given durations that grow with the
    collection order, both workers of a ``-n 2`` run take the tests in reverse;
    ``--attrbench-schedule collection`` keeps the serial order; every run writes the same
    results.csv and records (seeds come from the test names, and the drawn check uses one).
    The durations file is replaced by hand-made ones between runs, so the worker order
    tested does not depend on how long each test happened to take."""
    cache, orders = tmp_path / "cache", tmp_path / "orders"
    orders.mkdir()
    monkeypatch.setenv("ATTRBENCH_CACHE", str(cache))
    monkeypatch.setenv("SCHED_ORDER_DIR", str(orders))
    pytester.makepyfile(schedhelpers=HELPERS, test_sched=SUITE)
    pytester.makeconftest(CONFTEST)

    def run(lb, *extra):
        options = ["--method", "sched_fast", "--method", "sched_sleepy", "--attrbench-scale", "quick",
                   "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]  # fmt: skip
        options += ["--leaderboard-dir", str(pytester.path / lb)]
        result = pytester.runpytest_subprocess(*options, *extra)
        assert result.ret == 0, "\n".join(result.outlines + result.errlines)
        return {p.stem: [report_key(n) for n in json.loads(p.read_text())] for p in orders.iterdir()}

    collected = run("serial")["serial"]
    assert len(collected) == 6  # test_drawn: 2 methods × 2 subjects; test_again: 2 methods
    durations = read_durations(cache / "durations-quick.json")
    assert set(durations) == set(collected)
    sleepy = [k for k in collected if "sched_sleepy" in k]
    assert all(durations[k] >= 0.3 for k in sleepy), durations

    # hand-made durations, the later collected the longer: the order must come out reversed
    (cache / "durations-quick.json").write_text(json.dumps({k: float(i) for i, k in enumerate(collected)}))
    for p in orders.iterdir():
        p.unlink()
    by_worker = run("longest", "-n", "2")
    assert by_worker == {"gw0": collected[::-1], "gw1": collected[::-1]}

    for p in orders.iterdir():
        p.unlink()
    assert run("collection", "-n", "2", "--attrbench-schedule", "collection") == {"gw0": collected, "gw1": collected}

    serial = pytester.path / "serial"
    for lb in ("longest", "collection"):
        assert (pytester.path / lb / "results.csv").read_bytes() == (serial / "results.csv").read_bytes(), lb
        records = [(pytester.path / d / "results.jsonl").read_text().splitlines()[1:] for d in ("serial", lb)]
        assert records[0] == records[1], lb  # line 0 is the run's metadata (its date)


def test_the_option_is_listed_and_a_bad_value_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--attrbench-schedule*"])
    result = pytester.runpytest_subprocess("--attrbench-schedule", "shortest", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--attrbench-schedule: invalid choice: 'shortest'*"])
