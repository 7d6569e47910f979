"""attrbench's pytest plugin (registered under the ``pytest11`` entry point).

Options (group ``attrbench``, built from attrbench.options), markers (one per suite), the
parametrisation of suite tests over methods × subjects, the ``bench`` fixture that runs a
check and records its outcome, and the controller-side collection that writes the
leaderboards.

Records travel on each test report as ``user_properties`` (built-in types only) and are
read back in ``pytest_runtest_logreport`` — on the controller under pytest-xdist — so only
the controller writes files. Importing this module must not import torch: pytest loads it
in every run where attrbench is installed, so everything heavy is imported inside hooks.
"""

from __future__ import annotations

import gc
import hashlib
import os
import platform
import sys
import warnings
from datetime import datetime, timezone

import pytest

from attrbench.heap import keep_freed_memory
from attrbench.options import add_pytest_options
from attrbench.schedule import item_key
from attrbench.schedule_plugin import Scheduler

_STATE = pytest.StashKey["BenchSession"]()


# -- options ------------------------------------------------------------------------------


def pytest_addoption(parser) -> None:
    add_pytest_options(parser)


class BenchSession:
    """The run's settings (resolved once) and, on the controller, its records."""

    def __init__(self, config) -> None:
        from attrbench import methods, subjects
        from attrbench.checks.generated import matches_generated
        from attrbench.errors import AttrbenchError
        from attrbench.guard import default_memory_limit
        from attrbench.scales import get_scale

        self.config = config
        self.threads = pin_threads()
        keep_freed_memory()  # no page faults for every chunk's activations (attrbench/heap.py)
        self.scale = get_scale(config.getoption("attrbench_scale"))
        self.seed = config.getoption("attrbench_seed")
        self.device = config.getoption("attrbench_device")
        self.timeout = config.getoption("attrbench_timeout")
        memory = config.getoption("attrbench_memory")
        self.memory = memory * 2**30 if memory else default_memory_limit()
        self.explicit_subjects = bool(config.getoption("subject"))
        self.subject_patterns = config.getoption("subject") or ["*"]
        self.leaderboard_dir = config.getoption("leaderboard_dir")
        self.write = not config.getoption("no_leaderboard")
        self.html_dir = config.getoption("leaderboard_html")
        self.worker = hasattr(config, "workerinput")
        self.records: list[dict] = []
        self.crashed: list[str] = []  # test ids whose pytest-xdist worker died
        self._provenance: dict[str, tuple[str, str]] = {}
        self.write_error: str | None = None
        self.partial = ""
        self.written: list[str] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # problems are reported in the header
            try:
                names = methods.default_registry.select(config.getoption("method") or ())
            except AttrbenchError as exc:
                raise pytest.UsageError(f"--method: {exc}") from None
            self.methods = names or methods.available()
            self.subjects = subjects.default_registry
            self.subjects.discover()
        if not self.subjects.available(self.subject_patterns) and not matches_generated(self.subject_patterns):
            raise pytest.UsageError(
                f"--subject {' '.join(self.subject_patterns)} matches no subject; "
                "`attrbench list subjects` shows them."
            )
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise pytest.UsageError("--attrbench-device cuda: torch sees no CUDA device here; use cpu.")
            # Full float32 on the GPU, as on the CPU: TF32 (cuDNN's default for
            # convolutions) keeps 10 mantissa bits, ~1e-3 relative, coarser than the
            # checks' tolerances (ATOL 1e-4 of the output scale, RTOL_EQUAL 1e-4).
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    def provenance(self, method_name: str) -> tuple[str, str]:
        """(source hash, plugin version) of a method, computed once per run."""
        if method_name not in self._provenance:
            from attrbench.methods import default_registry as method_registry
            from attrbench.provenance import method_provenance

            self._provenance[method_name] = method_provenance(method_registry.entry(method_name).obj)
        return self._provenance[method_name]

    def pairs(self, patterns: tuple[str, ...], order: int = 1, where: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(method, subject) pairs for a suite test: its subjects ∩ --subject, and only the
        subjects carrying every tag a method ``requires``; only methods of ``order`` (1: the
        first-order checks; 2: interaction checks, marked ``attrbench_order(2)``). The pseudo-subject ``generated``
        (hypothesis-drawn cases, attrbench.checks.generated) comes last where both the
        test's patterns and --subject match it, for methods that require no tag.

        A subject tagged ``large`` runs only where the scale's ``large_subjects`` match it in
        the test's suite or check (``where``; ``Scale.runs_subject``), unless --subject is
        given: then the subjects its patterns match run at any scale, as the user named
        them (docs/cli.md)."""
        from attrbench.checks.generated import GENERATED, matches_generated
        from attrbench.methods import default_registry as method_registry

        allowed = set(self.subjects.available(self.subject_patterns))
        chosen = [s for s in self.subjects.available(patterns) if s in allowed]
        if not self.explicit_subjects:
            chosen = [s for s in chosen if self.scale.runs_subject(s, self.subjects.entries[s].tags, where)]
        names = [m for m in self.methods if method_registry.entry(m).order == order]
        found = [
            (m, s)
            for m in names
            for s in chosen
            if method_registry.entry(m).applies_to(self.subjects.entries[s].tags)
        ]
        if matches_generated(patterns) and matches_generated(self.subject_patterns):
            found += [(m, GENERATED) for m in names if not method_registry.entry(m).requires]
        return found


def pytest_configure(config) -> None:
    from attrbench.checks import SUITES

    for suite in SUITES.values():
        config.addinivalue_line("markers", f"{suite.name}: {suite.marker_help}")
    config.addinivalue_line("markers", "attrbench_subjects(*patterns): the subjects a suite test runs on")
    config.addinivalue_line("markers", "attrbench_order(k): the test scores methods of order k (default 1)")
    config.pluginmanager.register(Collector(config), "attrbench-collector")
    config.pluginmanager.register(Scheduler(config, SUITES), "attrbench-schedule")
    if config.getoption("attrbench_progress") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Progress(), "attrbench-progress")
    if not gc.get_freeze_count():  # once per process
        # The modules just imported (torch, scipy, pandas: about a million objects) live as
        # long as the process; moved out of the collector's sight, they no longer cost each
        # full collection 0.15 s (pytest alone runs six at the end of every session).
        gc.freeze()


#: torch intra-op threads of every process that runs suite tests (a serial run, each
#: pytest-xdist worker) where ``OMP_NUM_THREADS`` is not set.
THREADS = 1


def pin_threads() -> int:
    """Give torch :data:`THREADS` intra-op threads, or leave the count ``OMP_NUM_THREADS``
    set; return the count. The same count serially and in every worker of ``-n N``, on any
    number of cores, so no result can depend on how a run was spread (measured on 2 cores:
    1 and 2 threads give byte-identical rows at the quick scale). One thread is also the
    faster setting here: the suites' tensors are small and parallelism comes from ``-n``
    (timings in docs/cli.md, Spreading a run)."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(THREADS)
    return torch.get_num_threads()


class Progress:
    """``--attrbench-progress``: a tqdm bar of finished tests on stderr (shown only on a
    terminal); while it shows, pytest's per-test letters are left out so the two do not
    interleave. Under pytest-xdist the controller counts the workers' reports."""

    def __init__(self) -> None:
        self.bar = None

    def _start(self, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, desc="attrbench", unit="test", file=sys.stderr, disable=None, dynamic_ncols=True
            )

    def pytest_collection_finish(self, session) -> None:
        if session.items:
            self._start(len(session.items))

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: the controller collects nothing
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        self._start(len(ids))

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "teardown" and self.bar is not None:
            self.bar.update(1)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_report_teststatus(self, report, config):
        outcome = yield
        status = outcome.get_result()
        if self.bar is not None and not self.bar.disable and isinstance(status, tuple) and len(status) == 3:
            category, _, word = status
            outcome.force_result((category, "", word))

    def pytest_sessionfinish(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _session(config) -> BenchSession:
    if _STATE not in config.stash:
        config.stash[_STATE] = BenchSession(config)
    return config.stash[_STATE]


def pytest_report_header(config) -> list[str]:
    """The attrbench version, methods and subjects registered, scale and seed, and any
    plugin that failed to load (so a broken plugin is visible in every run)."""
    from attrbench import __version__
    from attrbench.methods.registry import default_registry
    from attrbench.subjects.registry import default_registry as subject_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = default_registry.available()
        subject_names = subject_registry.available()
    lines = [
        f"attrbench {__version__}: {len(names)} attribution methods registered, {len(subject_names)} subjects; "
        f"scale {config.getoption('attrbench_scale')}, seed {config.getoption('attrbench_seed')}"
    ]
    problems = default_registry.problems + subject_registry.problems
    lines += [f"attrbench plugin problem: {p.source}: {p.message}" for p in problems]
    return lines


# -- parametrisation and fixtures ---------------------------------------------------------


def pytest_generate_tests(metafunc) -> None:
    if "method_name" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("attrbench_subjects")
    patterns = tuple(marker.args) if marker else ("*",)
    order = metafunc.definition.get_closest_marker("attrbench_order")
    pairs = _session(metafunc.config).pairs(patterns, order.args[0] if order else 1, _places(metafunc))
    metafunc.parametrize(("method_name", "subject_name"), pairs, ids=[f"{m}-{s}" for m, s in pairs])


def _places(metafunc) -> tuple[str, ...]:
    """Where a suite test runs, as ``Scale.large_subjects`` qualifies its entries: each suite
    marker's name and ``suite.check`` (the test function's name without ``test_``)."""
    from attrbench.checks import SUITES

    check = metafunc.function.__name__.removeprefix("test_")
    suites = [mark.name for mark in metafunc.definition.iter_markers() if mark.name in SUITES]
    return (*suites, *(f"{suite}.{check}" for suite in suites))


def _test_seed(seed: int, item) -> int:
    """A seed for one test from --attrbench-seed and the test's name (module basename and
    parameters), so it does not depend on the rootdir, how the suite was invoked, or the
    order the tests run in (attrbench.schedule reorders them under pytest-xdist)."""
    digest = hashlib.sha256(f"{seed}:{item_key(item)}".encode()).hexdigest()
    return int(digest[:15], 16)


class Bench:
    """The ``bench`` fixture: runs a check on the test's method and subject, records the
    outcome on the report, and fails the test where the gate says so."""

    def __init__(self, session: BenchSession, request, method_name: str, subject_name: str, generator) -> None:
        from attrbench import methods
        from attrbench.checks.context import CheckContext
        from attrbench.checks.generated import GENERATED
        from attrbench.guard import Guard

        self.session, self.request = session, request
        self.method_name, self.subject_name = method_name, subject_name
        self.method = methods.get(self.method_name)
        self.generated = subject_name == GENERATED
        self.subject = None if self.generated else session.subjects.get(self.subject_name).to(session.device)
        if self.subject is not None and self.method.baseline_kind:  # a variant method[baseline=KIND]
            from attrbench.subjects.baselines import with_baseline

            self.subject = with_baseline(self.subject, self.method.baseline_kind, seed=session.seed)
        guard = Guard(timeout=session.timeout, memory=session.memory, seed=generator.initial_seed())
        self.ctx = CheckContext(scale=session.scale, generator=generator, guard=guard, seed=session.seed)

    def run(self, check_fn):
        """Run ``check_fn(method, subject, ctx)``; record; fail if a claimed property is
        violated or the method failed."""
        from attrbench.guard import MethodFailure
        from attrbench.results import Record, jsonable

        info = check_fn.info
        if self.generated:
            if info.cases is None:
                raise pytest.UsageError(f"check {info.check!r} names no strategy (CheckInfo.cases) to draw cases from")
            from attrbench.checks.generated import generated

            check_fn = generated(check_fn, info.cases, device=self.session.device)
        self.ctx.guard.check = info.check
        tags = () if self.generated else self.subject.tags  # no tags: a claim on some subjects
        claimed = info.axiom is not None and self.method.claims_axiom(info.axiom, tags)
        source_hash, plugin = self.session.provenance(self.method_name)
        columns = dict(
            suite=info.suite, check=info.check, metric=info.metric, direction=info.direction,
            method=self.method_name, subject=self.subject_name,
            scale=self.session.scale.name, seed=self.session.seed,
            source_hash=source_hash, plugin=plugin, kind=self.method.kind,
            base_method=self.method.base, options=jsonable(self.method.options) or None,
        )  # fmt: skip
        failure = None
        try:
            with self.ctx.guard.scope():  # RNG states and model records saved once per test
                outcome = check_fn(self.method, self.subject, self.ctx)
        except MethodFailure as exc:
            failure = str(exc)
        if failure is not None:  # failed outside the except block: the message shows once
            self._record(Record.from_error(failure, claimed=claimed, **columns))
            pytest.fail(failure, pytrace=False)
        record = Record.from_outcome(outcome, claimed=claimed, **columns)
        self._record(record)
        if claimed and record.violated:
            pytest.fail(_violation_message(record, outcome), pytrace=False)
        return outcome

    def _record(self, record) -> None:
        from attrbench.results import REPORT_KEY

        self.request.node.user_properties.append((REPORT_KEY, record.to_dict()))


def _violation_message(record, outcome) -> str:
    """A claimed axiom's counterexample, readable: one line per detail."""
    from attrbench.results import jsonable

    lines = [
        f"{record.method} claims {record.check}, violated on {record.subject}: "
        f"{record.metric} = {record.value:.6g}"
    ]
    for key, value in jsonable(outcome.details).items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


@pytest.fixture
def attrbench_scale(request):
    """The scale preset (attrbench.scales.Scale) chosen with --attrbench-scale."""
    return _session(request.config).scale


@pytest.fixture
def attrbench_device(request) -> str:
    """The device chosen with --attrbench-device ("cpu" or "cuda")."""
    return _session(request.config).device


@pytest.fixture
def attrbench_methods(request) -> list[str]:
    """The selected method names (--method, default every registered method)."""
    return list(_session(request.config).methods)


@pytest.fixture
def attrbench_subjects(request) -> list[str]:
    """The subject names matching --subject (default every registered subject)."""
    session = _session(request.config)
    return session.subjects.available(session.subject_patterns)


@pytest.fixture
def attrbench_generator(request):
    """A CPU torch.Generator seeded from --attrbench-seed and this test's name."""
    import torch

    return torch.Generator(device="cpu").manual_seed(_test_seed(_session(request.config).seed, request.node))


@pytest.fixture
def bench(request, method_name: str, subject_name: str, attrbench_generator) -> Bench:
    """Runs a check on this test's (method, subject) pair; see :class:`Bench`."""
    return Bench(_session(request.config), request, method_name, subject_name, attrbench_generator)


# -- collection of records and leaderboards -------------------------------------------------


class Collector:
    """Registered per run: gathers records from reports and, on the controller, writes
    the leaderboards and prints the summary."""

    def __init__(self, config) -> None:
        self.config = config

    def pytest_sessionstart(self, session) -> None:
        """Validate explicitly given attrbench options before collection (UsageError)."""
        given = self.config.getoption("method") or self.config.getoption("subject")
        if given or self.config.getoption("attrbench_device") != "cpu":
            _session(self.config)

    def pytest_runtest_logreport(self, report) -> None:
        from attrbench.results import REPORT_KEY

        if report.when == "???" and report.failed:  # pytest-xdist: the worker running it crashed
            _session(self.config).crashed.append(report.nodeid)
            return
        if report.when != "call":
            return
        found = [value for key, value in report.user_properties if key == REPORT_KEY]
        if found:
            _session(self.config).records.extend(found)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        """On the controller: write (merge) the leaderboard files from the records."""
        bench = self.config.stash.get(_STATE, None)
        if bench is None or bench.worker or not bench.write or not bench.records:
            return
        from attrbench.errors import AttrbenchError
        from attrbench.leaderboard import update_leaderboard
        from attrbench.results import Record

        bench.partial = _partial_reason(session, exitstatus, bench)
        try:
            records = [Record.from_dict(r) for r in bench.records]
            metadata = {**_metadata(bench), "partial": bench.partial}
            written = update_leaderboard(bench.leaderboard_dir, records, metadata, bench.html_dir)
            bench.written = [str(p) for p in written]
        except AttrbenchError as exc:
            bench.write_error = str(exc)
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        bench = self.config.stash.get(_STATE, None)
        if bench is None or bench.worker or not bench.records:
            return
        from attrbench.leaderboard import overall_table
        from attrbench.results import Record

        records = [Record.from_dict(r) for r in bench.records]
        tr = terminalreporter
        tr.section("attrbench")
        tr.write_line(f"scale {bench.scale.name}, seed {bench.seed}: {len(records)} records from this run")
        tr.write_line(overall_table(records))
        violated = sum(1 for r in records if r.claimed and r.holds is False)
        errors = sum(1 for r in records if r.error)
        tr.write_line(f"claimed properties violated: {violated}; method errors: {errors}")
        if bench.write_error:
            tr.write_line(f"leaderboard NOT written: {bench.write_error}", red=True, bold=True)
        elif bench.written and bench.partial:
            tr.write_line(
                f"PARTIAL leaderboard written to {os.path.abspath(bench.leaderboard_dir)}: {bench.partial}",
                yellow=True, bold=True,
            )  # fmt: skip
        elif bench.written:
            tr.write_line(f"leaderboard written to {os.path.abspath(bench.leaderboard_dir)}")
        if bench.written and not bench.write_error:
            tr.write_line(f"leaderboard website written to {os.path.abspath(bench.written[-1])}/index.html")


def _partial_reason(session, exitstatus, bench: BenchSession) -> str:
    """Why this run did not run every test it collected ("" when it did)."""
    reasons = []
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        reasons.append("the run was interrupted")
    elif session.shouldfail or session.shouldstop:
        reasons.append(f"the run stopped early ({session.shouldfail or session.shouldstop})")
    if bench.crashed:
        shown = ", ".join(bench.crashed[:3]) + (f" and {len(bench.crashed) - 3} more" if len(bench.crashed) > 3 else "")
        reasons.append(f"a pytest-xdist worker crashed while running {shown}")
    return "; ".join(reasons)


def _metadata(bench: BenchSession) -> dict:
    from importlib import metadata as md

    import torch

    from attrbench import __version__

    plugins = sorted(
        {f"{ep.dist.name} {ep.dist.version}" for group in ("attrbench.methods", "attrbench.subjects")
         for ep in md.entry_points(group=group) if ep.dist is not None}
    )  # fmt: skip
    return {
        "attrbench": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        # what the bytes depend on besides the code and the seed (docs/cli.md, Reproducibility)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": bench.threads,
        "seed": bench.seed,
        "scale": bench.scale.name,
        "device": bench.device,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "plugins": plugins,
    }
