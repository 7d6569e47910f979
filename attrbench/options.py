"""The run options, defined once: each is a pytest option of the ``attrbench`` group
(``--attrbench-seed``), an option of ``attrbench run`` (``--seed``) and, for some,
of ``attrbench verify``. From :data:`RUN_OPTIONS` come the pytest option group
(:func:`add_pytest_options`), the argparse options of the two commands
(:func:`add_run_arguments`, :func:`add_verify_arguments`) and the pytest command line
they run (:func:`pytest_args`).

The commands' options default to None (not given): only the options a user gives are
passed on, and pytest's defaults (``default``) apply to the rest. Importing this module
must not import torch (the pytest plugin imports it in every run).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attrbench.errors import CLIError
from attrbench.scales import SCALE_NAMES
from attrbench.schedule import SCHEDULES

# -- value parsers (argparse ``type``: a bad value is a usage error naming it) -------------


def parse_seed(value: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer seed") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"seed must be >= 0, got {seed}")
    return seed


def positive(what: str, unit: str) -> Callable[[str], float]:
    """A parser of a number > 0 of ``unit`` (``what``: the option in messages)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of {unit}") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"{what} must be > 0 {unit}, got {value}")
        return number

    return parse


def nonnegative(value: str) -> float:
    """A number >= 0 (``attrbench verify``'s tolerances)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def parse_workers(value: str) -> str:
    if value in ("auto", "logical") or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers (an integer, auto or logical)")


# -- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOption:
    """One run option: its flag in pytest and in ``attrbench run``/``verify``, and how
    its value is parsed, defaulted and documented."""

    dest: str  # name in the commands' namespaces and keyword of pytest_args
    pytest_flag: str
    cli_flag: str
    help: str
    parser: Callable[[str], Any] | None = None
    default: Any = None  # pytest's default (the commands' is None: not given)
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    action: str | None = None  # "append" or "store_true"
    #: False where the pytest flag belongs to pytest or another plugin (``-m``, pytest-xdist's ``-n``)
    owned: bool = True
    #: an appended option whose values pytest takes as one argument joined by this (``-m "a or b"``)
    join: str | None = None
    #: options of one group exclude each other on the command line
    exclusive: str | None = None
    #: ``attrbench verify`` has this option too, with this help and metavar where they differ
    verify: bool = False
    verify_help: str | None = None
    verify_metavar: str | None = None

    def to_pytest(self, value) -> list[str]:
        """The pytest arguments that pass ``value`` on (none for an option not given)."""
        if value is None or value is False or value == [] or value == ():
            return []
        if self.action == "store_true":
            return [self.pytest_flag]
        if self.join is not None:
            return [self.pytest_flag, self.join.join(value)]
        if self.action == "append":
            return [arg for v in value for arg in (self.pytest_flag, str(v))]
        return [self.pytest_flag, str(value)]


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(
        "method", "--method", "--method", action="append", default=[], metavar="NAME|MODULE:ATTR",
        help="benchmark only this method (repeatable; default: every registered method)",
        verify=True, verify_metavar="MODULE:ATTR",
        verify_help="load this spec; the rows of the method it registers are re-run through it",
    ),
    RunOption(
        "suite", "-m", "--suite", action="append", metavar="SUITE", owned=False, join=" or ",
        help="run only this suite (repeatable): axioms, sensitivity_n, fragility, boolean",
    ),
    RunOption(
        "subject", "--subject", "--subject", action="append", default=[], metavar="PATTERN",
        help="only subjects whose name matches this glob (repeatable)",
    ),
    RunOption(
        "scale", "--attrbench-scale", "--scale", default="standard", choices=SCALE_NAMES,
        help="scale preset: quick (CI), standard (default, the committed leaderboards), paper",
    ),
    RunOption("seed", "--attrbench-seed", "--seed", parser=parse_seed, default=0, metavar="SEED",
              help="seed of every random draw (default 0)"),
    RunOption(
        "device", "--attrbench-device", "--device", default="cpu", choices=("cpu", "cuda"),
        help="device for models and inputs (default cpu)", verify=True, verify_help="device (default: the file's)",
    ),
    RunOption(
        "timeout", "--attrbench-timeout", "--timeout", parser=positive("timeout", "seconds"), metavar="SECONDS",
        help="time limit of one method call (default: none)", verify=True,
    ),
    RunOption(
        "memory", "--attrbench-memory", "--memory", parser=positive("memory limit", "GiB"), metavar="GIB",
        help="memory one method call may allocate, in GiB (default: half the machine's memory; CPU, Linux)",
        verify=True,
    ),
    RunOption(
        "leaderboard_dir", "--leaderboard-dir", "--leaderboard-dir", default="leaderboards", metavar="DIR",
        help="where leaderboards are written (default leaderboards/)", exclusive="leaderboard",
    ),
    RunOption("no_leaderboard", "--no-leaderboard", "--no-leaderboard", action="store_true",
              help="do not write leaderboard files", exclusive="leaderboard"),
    RunOption(
        "leaderboard_html", "--leaderboard-html", "--leaderboard-html", metavar="DIR",
        help="where the leaderboard's HTML site is written (default: site/ in the leaderboard directory)",
    ),
    RunOption("workers", "-n", "-n", parser=parse_workers, metavar="N", owned=False, verify=True,
              help="pytest-xdist workers (an integer, auto or logical)"),
    RunOption(
        "schedule", "--attrbench-schedule", "--schedule", default="longest", choices=SCHEDULES,
        help="under pytest-xdist: longest (default: the longest tests first, by the durations the last run "
        "recorded) or collection (pytest's order)",
    ),
    RunOption(
        "progress", "--attrbench-progress", "--progress", action="store_true",
        help="a progress bar (tqdm, on stderr, on a terminal) in place of pytest's per-test letters",
    ),
)  # fmt: skip
_BY_DEST: Mapping[str, RunOption] = {o.dest: o for o in RUN_OPTIONS}


def _keywords(option: RunOption, *, cli: bool, verify: bool = False) -> dict[str, Any]:
    kwargs = {
        "action": option.action,
        "type": option.parser,
        "choices": option.choices,
        "metavar": (option.verify_metavar if verify else None) or option.metavar,
        "help": (option.verify_help if verify else None) or option.help,
    }
    if cli:
        kwargs["dest"] = option.dest
    else:
        kwargs["default"] = option.default
    return {k: v for k, v in kwargs.items() if v is not None}


# -- what is built from it ----------------------------------------------------------------


def add_pytest_options(parser) -> None:
    """The ``attrbench`` option group of pytest (``pytest_addoption``)."""
    group = parser.getgroup("attrbench", "attrbench: benchmark attribution methods")
    for option in RUN_OPTIONS:
        if option.owned:
            group.addoption(option.pytest_flag, **_keywords(option, cli=False))


def _add_arguments(parser: argparse.ArgumentParser, options, *, verify: bool) -> None:
    groups: dict[str, Any] = {}  # exclusive group name -> argparse's mutually exclusive group
    for option in options:
        target = parser
        if option.exclusive is not None:
            if option.exclusive not in groups:
                groups[option.exclusive] = parser.add_mutually_exclusive_group()
            target = groups[option.exclusive]
        target.add_argument(option.cli_flag, **_keywords(option, cli=True, verify=verify))


def add_run_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Every run option (or those whose dest is in ``only``), as an option of ``attrbench run``."""
    _add_arguments(parser, [o for o in RUN_OPTIONS if only is None or o.dest in only], verify=False)


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """The run options ``attrbench verify`` takes (the rest come from the results file)."""
    _add_arguments(parser, [o for o in RUN_OPTIONS if o.verify], verify=True)


def given(namespace: argparse.Namespace) -> dict[str, Any]:
    """The run options' values in a parsed ``attrbench run`` namespace, by dest."""
    return {o.dest: getattr(namespace, o.dest) for o in RUN_OPTIONS}


def suites_dir() -> Path:
    """The directory of the installed ``attrbench.suites`` package (``suites/`` in an
    editable install)."""
    from importlib.resources import files

    try:
        root = files("attrbench.suites")
    except ModuleNotFoundError:
        raise CLIError("the attrbench.suites package is not installed; reinstall attrbench.") from None
    path = Path(str(root))
    if not path.is_dir():
        raise CLIError(f"attrbench.suites is not a directory on disk ({root}); install attrbench unzipped.")
    return path


def check_workers(workers) -> None:
    """``-n`` needs pytest-xdist installed."""
    if workers is None:
        return
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        raise CLIError("-n needs pytest-xdist: `pip install pytest-xdist` (or `attrbench[dev]`), or drop -n.")


def pytest_args(*, extra=(), **values) -> list[str]:
    """The pytest command line (without ``pytest``) that runs the installed suites with
    the run options in ``values`` (by dest; None or empty: not given), then ``extra``.

    The suites run with their own, empty pytest configuration (``-c os.devnull``, rootdir
    the suites directory): the caller's pytest.ini / ``[tool.pytest.ini_options]`` and
    conftest.py files (``filterwarnings = error``, ``-x``, ...) cannot change the gate."""
    unknown = set(values) - set(_BY_DEST)
    if unknown:
        raise TypeError(f"pytest_args() got unknown run options {sorted(unknown)}; they are {list(_BY_DEST)}")
    root = str(suites_dir())
    args = [
        root, "-c", os.devnull, "--rootdir", root, "-p", "no:cacheprovider",
        # attrbench (the package holding the pytest plugin) is imported before pytest runs
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip
    for option in RUN_OPTIONS:
        args += option.to_pytest(values.get(option.dest))
    return args + list(extra)
