"""The pytest hooks of :mod:`attrbench.schedule`: durations recorded at the end of a run,
longest tests first in the next pytest-xdist run. Registered by the attrbench plugin."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from attrbench.schedule import ORDERED_DISTS, costs, durations_path, longest_first, record, report_key


class Scheduler:
    """The pytest side, registered by the plugin in every run. The controller (or a serial
    run) records the suite tests' durations; under pytest-xdist ``--dist load`` or
    ``worksteal`` it hands the costs to the workers (``workerinput``: read once, so every
    worker sorts alike, as pytest-xdist requires), the workers sort their collection
    longest first, and ``--dist load`` sends one test at a time (``--maxschedchunk 1``,
    unless given) so the order is kept across workers. ``--attrbench-schedule collection``
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
        from xdist.scheduler import LoadScheduling

        scheduler = LoadScheduling(config, log)
        scheduler.maxschedchunk = 1
        return scheduler

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
        if given is not None:
            items[:] = longest_first(items, given)
