"""The pytest hooks of :mod:`attrbench.schedule`: durations recorded at the end of a run,
longest tests first in the next pytest-xdist run. Registered by the attrbench plugin."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from attrbench.schedule import ORDERED_DISTS, check_key, costs, durations_path, longest_first, record, report_key


class Scheduler:
    """The pytest side, registered by the plugin in every run. The controller (or a serial
    run) records the suite tests' durations; under pytest-xdist ``--dist load`` or
    ``worksteal`` it hands the costs to the workers (``workerinput``: read once, so every
    worker sorts alike, as pytest-xdist requires), the workers sort their collection
    longest first where it holds suite tests, and ``--dist load`` sends one test at a time
    (:func:`one_at_a_time`, unless ``--maxschedchunk`` is given) so whichever worker is
    free takes the longest test left. (pytest-xdist's default chunks would hand the first
    quarter of the sorted tests, the longest, to one worker.) ``--attrbench-schedule collection``
    keeps pytest's order and pytest-xdist's scheduling."""

    INPUT = "attrbench_costs"

    def __init__(self, config, suites: Iterable[str]) -> None:
        self.config = config
        self.suites = frozenset(suites)
        self.worker = hasattr(config, "workerinput")
        self.longest = config.getoption("attrbench_schedule") == "longest"
        self.scale = config.getoption("attrbench_scale")
        self.durations: dict[str, float] = {}
        self._costs: dict[str, float] | None = None

    def costs(self) -> dict[str, float]:
        if self._costs is None:
            self._costs = costs(self.scale)
        return self._costs

    # -- controller ---------------------------------------------------------------------

    def _ordered(self, config) -> bool:
        return self.longest and config.getvalue("dist") in ORDERED_DISTS

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
    def pytest_configure_node(self, node) -> None:
        if self._ordered(node.config):
            node.workerinput[self.INPUT] = self.costs()

    @pytest.hookimpl(optionalhook=True, tryfirst=True)  # before pytest-xdist's own
    def pytest_xdist_make_scheduler(self, config, log):
        if not self._ordered(config) or config.getvalue("dist") != "load":
            return None
        if config.getoption("maxschedchunk") is not None:  # the user's choice
            return None
        return one_at_a_time(config, log, self.costs())

    def pytest_runtest_logreport(self, report) -> None:
        if self.worker or report.when not in ("setup", "call", "teardown"):
            return
        if not self.suites.intersection(report.keywords):  # only suite tests are timed
            return
        key = report_key(report.nodeid)
        self.durations[key] = self.durations.get(key, 0.0) + report.duration

    def pytest_sessionfinish(self, session) -> None:
        if not self.worker:
            record(durations_path(self.scale), self.durations)

    # -- worker -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)  # after deselection
    def pytest_collection_modifyitems(self, items) -> None:
        given = getattr(self.config, "workerinput", {}).get(self.INPUT)
        if given is not None and any(self.suites.intersection(item.keywords) for item in items):
            items[:] = longest_first(items, given)


def one_at_a_time(config, log, costs: dict[str, float]):
    """pytest-xdist's ``LoadScheduling``, sending one test at a time (``--maxschedchunk 1``)
    where the collection holds a test with a cost (a suite run); any other run (the unit
    tests under ``-n``) keeps pytest-xdist's chunks."""
    from xdist.scheduler import LoadScheduling

    class OneAtATime(LoadScheduling):
        def schedule(self) -> None:
            if self.collection is None and self.node2collection:
                keys = (report_key(nodeid) for nodeid in next(iter(self.node2collection.values())))
                if any(k in costs or check_key(k) in costs for k in keys):
                    self.maxschedchunk = 1
            super().schedule()

    return OneAtATime(config, log)
