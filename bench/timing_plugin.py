"""A pytest plugin for bench/suite_timing.py: per-test wall time and per-process peak memory.

Loaded with ``-p timing_plugin`` (bench/ on PYTHONPATH). On the controller it adds up each
test's setup, call and teardown durations (pytest-xdist sends every report there) and, at
the end, writes them with each process's peak resident memory to the JSON file named by
``ATTRBENCH_TIMING_OUT``. Workers report their peak memory through ``workeroutput``.
"""

from __future__ import annotations

import json
import os
import resource
import sys

import pytest

from attrbench.checks import SUITES

OUT_ENV = "ATTRBENCH_TIMING_OUT"


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class Timing:
    def __init__(self, config) -> None:
        self.config = config
        self.tests: dict[str, dict] = {}
        self.workers: dict[str, float] = {}

    def pytest_runtest_logreport(self, report) -> None:
        entry = self.tests.setdefault(report.nodeid, {"duration": 0.0, "suite": "", "check": ""})
        entry["duration"] += report.duration
        entry["suite"] = next((s for s in SUITES if s in report.keywords), entry["suite"])
        entry["check"] = report.nodeid.split("::")[-1].split("[")[0]

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
    def pytest_testnodedown(self, node, error) -> None:
        peak = getattr(node, "workeroutput", {}).get("peak_rss_mib")
        if peak is not None:
            self.workers[node.gateway.id] = peak

    def pytest_sessionfinish(self, session) -> None:
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["peak_rss_mib"] = _peak_rss_mib()
            return
        path = os.environ.get(OUT_ENV)
        if path:
            data = {"tests": self.tests, "peak_rss_mib": {"controller": _peak_rss_mib(), **self.workers}}
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(data, fh)


def pytest_configure(config) -> None:
    config.pluginmanager.register(Timing(config), "attrbench-timing")
