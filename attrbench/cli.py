"""The ``attrbench`` command line.

  attrbench list [methods|subjects|suites|all]   what is registered and what the suites run
  attrbench run [--method NAME] [--suite S] ...  run the installed suites (pytest), the gate
  attrbench leaderboard RESULTS_JSONL [--out DIR]     re-render the pages from results.jsonl
  attrbench verify RESULTS_JSONL [--tolerance ATOL]   re-run a results file and compare

Errors a user can cause (a bad file, an unknown suite, method or subject) print
``attrbench: error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from attrbench.errors import AttrbenchError

#: tabulate formats whose cells must stay on one line (markdown tables).
ONE_LINE_FORMATS = ("github", "pipe")
#: pytest exit codes after which ``verify`` can read the re-run's results
#: (0 all passed, 1 some test failed (a violated claim is a row too), 5 nothing collected).
RERUN_OK_CODES = (0, 1, 5)


class CLIError(AttrbenchError):
    """A command-line mistake (unknown suite, missing file, ...): exit status 2."""


# ------------------------------------------------------------------------------- list


def _cwd_on_path() -> None:
    """Let ``module:attr`` specs name modules in the current directory, as under
    ``python -m pytest`` (the console script does not put it on sys.path)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _list(args: argparse.Namespace) -> int:
    from attrbench.methods.registry import default_registry, load_spec

    if args.method:
        _cwd_on_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are printed below
        for spec in args.method or ():
            load_spec(spec)
        names = default_registry.available()
    sep = ", " if args.format in ONE_LINE_FORMATS else "\n"  # markdown cells hold one line
    rows = []
    for name in names:
        entry = default_registry.entries[name]
        rows.append(
            [
                name,
                entry.kind,
                sep.join(str(c) for c in entry.claims) or "-",
                "yes" if entry.needs_baseline else "no",
                "yes" if entry.differentiable else "no",
                entry.reference,
            ]
        )
        if args.sources:
            rows[-1].append(entry.source)
    headers = ["method", "kind", "claims", "baseline", "differentiable", "reference"]
    if args.sources:
        headers.append("source")
    problems = list(default_registry.problems)
    if args.what in ("methods", "all"):
        print(tabulate(rows, headers=headers, tablefmt=args.format))
    if args.what in ("subjects", "all"):
        if args.what == "all":
            print()
        problems += _list_subjects(args)
    if args.what in ("suites", "all"):
        if args.what == "all":
            print()
        _list_suites(args)
    for problem in problems:
        print(f"\nplugin failed to load: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _list_subjects(args: argparse.Namespace) -> list:
    """Print the subjects table (from registrations: nothing is built or trained)."""
    from attrbench.subjects.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = default_registry.available()
    rows = []
    for name in names:
        entry = default_registry.entries[name]
        rows.append([name, ", ".join(sorted(entry.tags)) or "-", entry.description])
        if args.sources:
            rows[-1].append(entry.source)
    headers = ["subject", "tags", "description"] + (["source"] if args.sources else [])
    print(tabulate(rows, headers=headers, tablefmt=args.format))
    return list(default_registry.problems)


def _list_suites(args: argparse.Namespace) -> None:
    """Print each suite (``attrbench.checks.SUITES``): its marker, title, summary score,
    the subjects each of its checks runs on, and its description."""
    from attrbench.checks import SUITES
    from attrbench.results import ARROWS

    one_line = args.format in ONE_LINE_FORMATS
    rows = []
    for suite in SUITES.values():
        checks = [f"{check}: {', '.join(globs)}" for check, globs in suite.subjects.items()]
        rows.append(
            [
                suite.name,
                suite.title,
                f"{suite.score_name} {ARROWS[suite.direction]}",
                "; ".join(checks) if one_line else "\n".join(checks),
                suite.description.replace("|", "\\|") if one_line else textwrap.fill(suite.description, 60),
            ]
        )
    headers = ["suite", "title", "score", "checks: subjects", "description"]
    print(tabulate(rows, headers=headers, tablefmt=args.format, disable_numparse=True))


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


# -------------------------------------------------------------------------------- run


def _checked_suites(suites) -> list[str]:
    from attrbench.checks import SUITES

    chosen = []
    for suite in suites or ():
        if suite not in SUITES:
            raise CLIError(f"unknown suite {suite!r}; the suites are {', '.join(SUITES)} (`attrbench list suites`).")
        if suite not in chosen:
            chosen.append(suite)
    return chosen


def _check_methods(names) -> None:
    """Resolve each method name or ``module:attr`` spec now, so a mistake is a CLI error."""
    from attrbench.methods.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugin problems show in the pytest header
        for name in names or ():
            default_registry.entry(name)


def _check_subjects(patterns) -> None:
    from attrbench.pytest_plugin import matches_generated
    from attrbench.subjects.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pattern in patterns or ():
            if not default_registry.available(pattern) and not matches_generated([pattern]):
                raise CLIError(f"--subject {pattern!r} matches no subject; `attrbench list subjects` shows them.")


def _check_workers(workers) -> None:
    if workers is None:
        return
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        raise CLIError("-n needs pytest-xdist: `pip install pytest-xdist` (or `attrbench[dev]`), or drop -n.")


def _workers(value: str) -> str:
    if value in ("auto", "logical") or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers (an integer, auto or logical)")


def pytest_args(
    *,
    methods=(),
    suites=(),
    subjects=(),
    scale: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    timeout: float | None = None,
    memory: float | None = None,
    leaderboard_dir: str | None = None,
    no_leaderboard: bool = False,
    workers: str | None = None,
    extra=(),
) -> list[str]:
    """The pytest command line (without ``pytest``) that runs the installed suites.

    The suites run with their own, empty pytest configuration (``-c os.devnull``, rootdir
    the suites directory): the caller's pytest.ini / ``[tool.pytest.ini_options]`` and
    conftest.py files (``filterwarnings = error``, ``-x``, ...) cannot change the gate."""
    root = str(suites_dir())
    args = [
        root, "-c", os.devnull, "--rootdir", root, "-p", "no:cacheprovider",
        # attrbench (the package holding the pytest plugin) is imported before pytest runs
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip
    for method in methods or ():
        args += ["--method", method]
    if suites:
        args += ["-m", " or ".join(suites)]
    for subject in subjects or ():
        args += ["--subject", subject]
    if scale is not None:
        args += ["--attrbench-scale", scale]
    if seed is not None:
        args += ["--attrbench-seed", str(seed)]
    if device is not None:
        args += ["--attrbench-device", device]
    if timeout is not None:
        args += ["--attrbench-timeout", repr(timeout)]
    if memory is not None:
        args += ["--attrbench-memory", repr(memory)]
    if no_leaderboard:
        args.append("--no-leaderboard")
    elif leaderboard_dir is not None:
        args += ["--leaderboard-dir", str(leaderboard_dir)]
    if workers is not None:
        args += ["-n", str(workers)]
    return args + list(extra)


def _run(args: argparse.Namespace) -> int:
    import pytest

    suites = _checked_suites(args.suite)
    _check_workers(args.workers)
    _cwd_on_path()
    _check_methods(args.method)
    _check_subjects(args.subject)
    argv = pytest_args(
        methods=args.method, suites=suites, subjects=args.subject, scale=args.scale, seed=args.seed,
        device=args.device, timeout=args.timeout, memory=args.memory, leaderboard_dir=args.leaderboard_dir,
        no_leaderboard=args.no_leaderboard, workers=args.workers,
        extra=[*(["--attrbench-progress"] if args.progress else []), *args.pytest_args],
    )  # fmt: skip
    print(f"attrbench run: pytest {shlex.join(argv)}", file=sys.stderr, flush=True)
    return int(pytest.main(argv))


# ------------------------------------------------------------------------ leaderboard


def _results_path(value: str) -> Path:
    path = Path(value)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.is_file():
        raise CLIError(f"no results file at {path}; give the results.jsonl a run wrote (or its directory).")
    return path


def _read(path: Path):
    from attrbench.leaderboard import read_results

    return read_results(path)  # CorruptResultsError (an AttrbenchError) names file and line


def _leaderboard(args: argparse.Namespace) -> int:
    from attrbench.leaderboard import write_leaderboard

    path = _results_path(args.results)
    metadata, records = _read(path)
    out = Path(args.out) if args.out else path.parent
    try:
        written = write_leaderboard(out, records, metadata)
    except OSError as exc:
        raise CLIError(f"cannot write the leaderboard to {out}: {exc}") from None
    print(f"{len(records)} rows from {path} rendered to {out}:")
    for file in written:
        print(f"  {file}")
    return 0


# ----------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Mismatch:
    """A row of the results file that the re-run did not reproduce."""

    record: object  # attrbench.results.Record (from the file)
    rerun: object | None  # the re-run's Record with the same key, None if missing
    problem: str


def _same_value(a: float | None, b: float | None, atol: float, rtol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(a)


def _short(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def compare_records(original, rerun, *, atol: float = 1e-6, rtol: float = 1e-6) -> list[Mismatch]:
    """The rows of ``original`` that ``rerun`` does not reproduce: missing, an error that
    appeared, vanished or changed, a changed verdict (holds) or claim, a value that differs
    by more than ``atol + rtol * |value|``, or a method whose source hash or plugin version
    is not the recorded one (matched by ``Record.key``; rows stored before source hashes
    were recorded are compared by value only)."""
    by_key = {r.key: r for r in rerun}
    found = []
    for record in original:
        new = by_key.get(record.key)
        problems = []
        if new is None:
            problems.append("missing from the re-run")
        else:
            if bool(record.error) != bool(new.error):
                problems.append(
                    f"errors in the re-run: {_short(new.error)}" if new.error else "no longer errors"
                )
            elif record.error != new.error:
                problems.append(f"another error: {_short(new.error)}")
            if record.holds != new.holds:
                problems.append(f"holds {record.holds} -> {new.holds}")
            if record.claimed != new.claimed:
                problems.append(f"claimed {record.claimed} -> {new.claimed}")
            if record.source_hash and record.source_hash != new.source_hash:
                problems.append(f"method source changed ({record.source_hash} -> {new.source_hash})")
            if record.source_hash and record.plugin != new.plugin:
                problems.append(f"plugin {record.plugin or 'built-in'} -> {new.plugin or 'built-in'}")
            if not record.error and not new.error and not _same_value(record.value, new.value, atol, rtol):
                if record.value is None or new.value is None:
                    problems.append("value differs")
                else:
                    problems.append(f"value differs by {abs(record.value - new.value):.3g}")
        if problems:
            found.append(Mismatch(record, new, "; ".join(problems)))
    return found


def _fmt_value(record) -> str:
    if record is None:
        return "–"
    if record.error:
        return "error"
    return "None" if record.value is None else f"{record.value:.10g}"


def mismatch_table(mismatches, tablefmt: str = "simple") -> str:
    rows = [
        [m.record.suite, m.record.check, m.record.metric, m.record.method, m.record.subject,
         _fmt_value(m.record), _fmt_value(m.rerun), m.problem]
        for m in mismatches
    ]  # fmt: skip
    headers = ["suite", "check", "metric", "method", "subject", "file", "re-run", "problem"]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def _verify(args: argparse.Namespace) -> int:
    from attrbench.checks import SUITES
    from attrbench.leaderboard import read_results
    from attrbench.methods.registry import default_registry, load_spec
    from attrbench.pytest_plugin import GENERATED, SCALE_NAMES
    from attrbench.subjects.registry import default_registry as subject_registry

    path = _results_path(args.results)
    metadata, records = _read(path)
    if args.only:
        present = {r.method for r in records}
        absent = [m for m in args.only if m not in present]
        if absent:
            raise CLIError(f"{path} has no rows of method(s) {', '.join(absent)}; it has {', '.join(sorted(present))}.")
        records = [r for r in records if r.method in args.only]
    if not records:
        print(f"{path} holds no rows; nothing to verify.")
        return 0
    runs = sorted({(r.scale, r.seed) for r in records})
    if len(runs) > 1:
        raise CLIError(f"{path} mixes runs ({runs}); verify needs rows of one scale and seed.")
    [(scale, seed)] = runs
    if scale not in SCALE_NAMES:
        raise CLIError(f"{path}: rows of unknown scale {scale!r}; the scales are {', '.join(SCALE_NAMES)}.")
    device = args.device or metadata.get("device") or "cpu"

    # Methods as the file names them; a --method spec stands in for the method it registers.
    _cwd_on_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec_for = {load_spec(spec): spec for spec in args.method or ()}
        file_methods = sorted({r.method for r in records})
        for name in file_methods:
            if name not in spec_for and name not in default_registry.available() and ":" not in name:
                raise CLIError(
                    f"method {name!r} of {path} is not registered here: install the package that "
                    "registers it, or pass --method module:attr for it."
                )
        file_subjects = sorted({r.subject for r in records})
        unknown = [s for s in file_subjects if s not in subject_registry.available() and s != GENERATED]
    if unknown:
        raise CLIError(f"subject(s) {', '.join(unknown)} of {path} are not registered here.")
    suites = [s for s in SUITES if s in {r.suite for r in records}]
    if args.rerun_dir and (Path(args.rerun_dir) / "results.jsonl").exists():
        raise CLIError(f"--rerun-dir {args.rerun_dir} already holds results; give a new or empty directory.")

    rerun: list = []
    with tempfile.TemporaryDirectory(prefix="attrbench-verify-") as tmp:
        out = Path(args.rerun_dir) if args.rerun_dir else Path(tmp)
        if suites:
            argv = pytest_args(
                methods=[spec_for.get(m, m) for m in file_methods], suites=suites,
                subjects=[glob.escape(s) for s in file_subjects], scale=scale, seed=seed, device=device,
                timeout=args.timeout, memory=args.memory, leaderboard_dir=str(out), workers=args.workers,
            ) + ["-q"]  # fmt: skip
            _check_workers(args.workers)
            print(
                f"re-running {len(records)} rows of {path} (scale {scale}, seed {seed}, device {device}): "
                f"{len(file_methods)} method(s), {len(file_subjects)} subject(s), suites {', '.join(suites)}",
                flush=True,
            )
            if not args.verbose:
                argv.append("--attrbench-progress")  # a bar on the terminal (stderr) while pytest's output is kept
            done = subprocess.run(
                [sys.executable, "-m", "pytest", *argv], cwd=os.getcwd(), stdout=subprocess.PIPE,
                stderr=None if sys.stderr.isatty() else subprocess.STDOUT, text=True, check=False,
            )  # fmt: skip
            if args.verbose:
                print(done.stdout)
            if done.returncode not in RERUN_OK_CODES:
                tail = "\n".join(done.stdout.strip().splitlines()[-20:])
                raise CLIError(f"the re-run failed (pytest exit code {done.returncode}):\n{tail}")
            _, rerun = read_results(out / "results.jsonl")

    mismatches = compare_records(records, rerun, atol=args.tolerance, rtol=args.rtol)
    tolerance = f"atol {args.tolerance:g}, rtol {args.rtol:g}"
    if not mismatches:
        print(f"all {len(records)} rows of {path} reproduce ({tolerance}).")
        return 0
    print(f"{len(mismatches)} of {len(records)} rows of {path} do not reproduce ({tolerance}):\n")
    print(mismatch_table(mismatches))
    return 1


# ------------------------------------------------------------------------------- main


def _nonnegative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    from attrbench.pytest_plugin import SCALE_NAMES, _gib, _seed, _timeout

    parser = argparse.ArgumentParser(
        prog="attrbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser(
        "list", help="print the registered methods (claims, kind, reference), subjects (tags) and suites"
    )
    p_list.add_argument("what", nargs="?", choices=("methods", "subjects", "suites", "all"), default="all")
    p_list.add_argument("--method", action="append", metavar="MODULE:ATTR", help="also load this method spec")
    p_list.add_argument("--sources", action="store_true", help="show where each method was registered")
    p_list.add_argument("--format", default="simple", help="tabulate table format (default: simple)")
    p_list.set_defaults(run=_list)

    p_run = sub.add_parser(
        "run",
        help="run the installed suites through pytest (exit code: pytest's)",
        description="Run the installed benchmark suites in pytest. The exit code is pytest's: "
        "non-zero when a claimed axiom is violated or a method errors. "
        "Extra pytest arguments go after `--`, e.g. `attrbench run --method m -- -x -q`.",
    )
    p_run.add_argument("--method", action="append", metavar="NAME|MODULE:ATTR",
                       help="benchmark only this method (repeatable; default: every registered method)")
    p_run.add_argument("--suite", action="append", metavar="SUITE",
                       help="run only this suite (repeatable): axioms, sensitivity_n, fragility, boolean")
    p_run.add_argument("--subject", action="append", metavar="PATTERN",
                       help="only subjects whose name matches this glob (repeatable)")
    p_run.add_argument("--scale", choices=SCALE_NAMES, help="scale preset (default: standard)")
    p_run.add_argument("--seed", type=_seed, help="seed of every random draw (default 0)")
    p_run.add_argument("--device", choices=("cpu", "cuda"), help="device for models and inputs (default cpu)")
    p_run.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="time limit of one method call")
    p_run.add_argument("--memory", type=_gib, metavar="GIB", help="memory one method call may allocate (GiB)")
    where = p_run.add_mutually_exclusive_group()
    where.add_argument("--leaderboard-dir", metavar="DIR", help="where leaderboards are written (default leaderboards/)")
    where.add_argument("--no-leaderboard", action="store_true", help="do not write leaderboard files")
    p_run.add_argument("-n", dest="workers", type=_workers, metavar="N",
                       help="pytest-xdist workers (an integer, auto or logical)")
    p_run.add_argument("--progress", action="store_true",
                       help="a progress bar in place of pytest's per-test letters (on a terminal)")
    p_run.set_defaults(run=_run)

    p_lb = sub.add_parser("leaderboard", help="re-render the leaderboard pages from a results.jsonl")
    p_lb.add_argument("results", metavar="RESULTS_JSONL", help="a results.jsonl (or the directory holding it)")
    p_lb.add_argument("--out", metavar="DIR", help="where to write (default: the results file's directory)")
    p_lb.set_defaults(run=_leaderboard)

    p_verify = sub.add_parser(
        "verify",
        help="re-run the rows of a results.jsonl and list those that do not reproduce (exit 1)",
        description="Re-run the methods, subjects and suites of a results file at its scale and "
        "seed, and compare row by row. Exit 0 when every row reproduces, 1 otherwise.",
    )
    p_verify.add_argument("results", metavar="RESULTS_JSONL", help="a results.jsonl (or the directory holding it)")
    p_verify.add_argument("--tolerance", type=_nonnegative, default=1e-6, metavar="ATOL",
                          help="absolute tolerance on a value (default 1e-6)")
    p_verify.add_argument("--rtol", type=_nonnegative, default=1e-6,
                          help="relative tolerance on a value (default 1e-6): |a - b| <= ATOL + RTOL*|a|")
    p_verify.add_argument("--method", action="append", metavar="MODULE:ATTR",
                          help="load this spec; the rows of the method it registers are re-run through it")
    p_verify.add_argument("--only", action="append", metavar="METHOD",
                          help="verify only the rows of this method (repeatable; default: every row)")
    p_verify.add_argument("--device", choices=("cpu", "cuda"), help="device (default: the file's)")
    p_verify.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="time limit of one method call")
    p_verify.add_argument("--memory", type=_gib, metavar="GIB", help="memory one method call may allocate (GiB)")
    p_verify.add_argument("-n", dest="workers", type=_workers, metavar="N", help="pytest-xdist workers")
    p_verify.add_argument("--rerun-dir", metavar="DIR", help="keep the re-run's leaderboard here (default: discarded)")
    p_verify.add_argument("-v", "--verbose", action="store_true", help="print the re-run's pytest output")
    p_verify.set_defaults(run=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after `--` goes to pytest (attrbench run only)
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if extra and args.command != "run":
        parser.error(f"arguments after -- are passed to pytest by `attrbench run` only: {shlex.join(extra)}")
    args.pytest_args = extra
    try:
        return args.run(args)
    except AttrbenchError as exc:
        print(f"attrbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
