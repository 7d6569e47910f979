"""The ``attrbench`` command line.

  attrbench list [methods|subjects|suites|all]      what is registered and what the suites run
  attrbench run [--method NAME] [--suite S] ...     run the installed suites (pytest), the gate
  attrbench leaderboard RESULTS_JSONL [--out DIR] [--html DIR]
                                                    re-render the pages and the site from results.jsonl
  attrbench verify RESULTS_JSONL [--tolerance ATOL] re-run a results file and compare
  attrbench stability A B ... | --seeds 0 1 [...]   Kendall tau between rankings of files or seeds
  attrbench train [PATTERN ...]                     build (train and cache) the matching subjects

Errors a user can cause (a bad file, an unknown suite, method or subject) print
``attrbench: error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import textwrap
import warnings
from pathlib import Path

from tabulate import tabulate

from attrbench import options
from attrbench.errors import AttrbenchError, CLIError

#: tabulate formats whose cells must stay on one line (markdown tables).
ONE_LINE_FORMATS = ("github", "pipe")

# ------------------------------------------------------------------------------- list


def _cwd_on_path() -> None:
    """Let ``module:attr`` specs name modules in the current directory, as under
    ``python -m pytest`` (the console script does not put it on sys.path)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _list(args: argparse.Namespace) -> int:
    from attrbench.methods.registry import default_registry

    if args.method:
        _cwd_on_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are printed below
        selected = default_registry.select(args.method or ())
        names = default_registry.available() + [n for n in selected if n not in default_registry.entries]
    sep = ", " if args.format in ONE_LINE_FORMATS else "\n"  # markdown cells hold one line
    rows = []
    for name in names:
        entry = default_registry.entry(name)
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
        entry = default_registry.entry(name)
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
    """Resolve each method name, glob, variant or ``module:attr`` spec now, so a mistake is a CLI error."""
    from attrbench.methods.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugin problems show in the pytest header
        default_registry.select(names or ())


def _check_subjects(patterns) -> None:
    from attrbench.checks.generated import matches_generated
    from attrbench.subjects.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pattern in patterns or ():
            if not default_registry.available(pattern) and not matches_generated([pattern]):
                raise CLIError(f"--subject {pattern!r} matches no subject; `attrbench list subjects` shows them.")


def _run(args: argparse.Namespace) -> int:
    import pytest

    suites = _checked_suites(args.suite)
    options.check_workers(args.workers)
    _cwd_on_path()
    _check_methods(args.method)
    _check_subjects(args.subject)
    argv = options.pytest_args(**{**options.given(args), "suite": suites}, extra=args.pytest_args)
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
        written = write_leaderboard(out, records, metadata, args.html)
    except OSError as exc:
        raise CLIError(f"cannot write the leaderboard to {out}: {exc}") from None
    print(f"{len(records)} rows from {path} rendered to {out}:")
    for file in written:
        print(f"  {file}")
    return 0


# ----------------------------------------------------------------------------- verify


def _verify(args: argparse.Namespace) -> int:
    from attrbench.verify import mismatch_table, verify

    path = _results_path(args.results)
    _cwd_on_path()
    found = verify(
        path, method=args.method, only=args.only, device=args.device, timeout=args.timeout, memory=args.memory,
        workers=args.workers, rerun_dir=args.rerun_dir, verbose=args.verbose, atol=args.tolerance, rtol=args.rtol,
    )  # fmt: skip
    if not found.rows:
        print(f"{path} holds no rows; nothing to verify.")
        return 0
    tolerance = f"atol {args.tolerance:g}, rtol {args.rtol:g}"
    if not found.mismatches:
        print(f"all {found.rows} rows of {path} reproduce ({tolerance}).")
        return 0
    print(f"{len(found.mismatches)} of {found.rows} rows of {path} do not reproduce ({tolerance}):\n")
    print(mismatch_table(found.mismatches))
    return 1


# -------------------------------------------------------------------------- stability


#: The run options (by dest) that ``attrbench stability --seeds`` passes on to each run.
STABILITY_RUN_OPTIONS = ("method", "suite", "subject", "scale", "device", "timeout", "memory", "workers")


def _stability(args: argparse.Namespace) -> int:
    from attrbench.stability import compare_files, run_seeds

    run = {dest: getattr(args, dest) for dest in STABILITY_RUN_OPTIONS}
    if args.seeds is None:
        given = [o.cli_flag for o in options.RUN_OPTIONS if run.get(o.dest)]
        if given:
            raise CLIError(f"{', '.join(given)} apply to the runs of --seeds; files are compared as they are.")
        files = args.results
    else:
        if args.results:
            raise CLIError("give results files to compare or --seeds to run, not both.")
        _cwd_on_path()
        _check_methods(args.method)
        _check_subjects(args.subject)
        run["suite"] = _checked_suites(args.suite)
        files = run_seeds(args.seeds, args.out, verbose=args.verbose, **run)
    print(compare_files(files).to_markdown(), end="")
    return 0


# ------------------------------------------------------------------------------- train


def _train(args: argparse.Namespace) -> int:
    """Build every registered subject matching a glob (all without one), training and caching
    the trained ones now, and print name, accuracy, whether it came from the cache, seconds."""
    import time

    from attrbench.subjects.registry import default_registry
    from attrbench.subjects.training import cache_dir, cache_file

    patterns = args.patterns or ["*"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = default_registry.available(patterns)
    if not names:
        raise CLIError(f"no subject matches {' '.join(patterns)}; `attrbench list subjects` shows them.")
    # A model came from the cache when its file was there before and was not rewritten.
    before = {p: p.stat().st_mtime_ns for p in (cache_dir() / "models").glob("*.pt")}
    rows = []
    for name in names:
        start = time.perf_counter()
        subject = default_registry.get(name)
        seconds = time.perf_counter() - start
        key = subject.truth.get("key")
        if key is None:  # not a trained subject: nothing to cache
            rows.append([name, "-", "-", f"{seconds:.1f}"])
            continue
        path = cache_file(name, key)
        from_cache = path in before and path.stat().st_mtime_ns == before[path]
        rows.append([name, f"{subject.truth['accuracy']:.4f}", "yes" if from_cache else "no", f"{seconds:.1f}"])
        print(tabulate([rows[-1]], tablefmt="plain"), file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["subject", "accuracy", "from_cache", "seconds"], tablefmt=args.format))
    return 0


# ------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
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
    options.add_run_arguments(p_run)
    p_run.set_defaults(run=_run)

    p_lb = sub.add_parser("leaderboard", help="re-render the leaderboard pages from a results.jsonl")
    p_lb.add_argument("results", metavar="RESULTS_JSONL", help="a results.jsonl (or the directory holding it)")
    p_lb.add_argument("--out", metavar="DIR", help="where to write (default: the results file's directory)")
    p_lb.add_argument("--html", metavar="DIR",
                      help="where to write the HTML site (default: site/ in the --out directory)")
    p_lb.set_defaults(run=_leaderboard)

    p_verify = sub.add_parser(
        "verify",
        help="re-run the rows of a results.jsonl and list those that do not reproduce (exit 1)",
        description="Re-run the methods, subjects and suites of a results file at its scale and "
        "seed, and compare row by row. Exit 0 when every row reproduces, 1 otherwise.",
    )
    p_verify.add_argument("results", metavar="RESULTS_JSONL", help="a results.jsonl (or the directory holding it)")
    p_verify.add_argument("--tolerance", type=options.nonnegative, default=1e-6, metavar="ATOL",
                          help="absolute tolerance on a value (default 1e-6)")
    p_verify.add_argument("--rtol", type=options.nonnegative, default=1e-6,
                          help="relative tolerance on a value (default 1e-6): |a - b| <= ATOL + RTOL*|a|")
    options.add_verify_arguments(p_verify)
    p_verify.add_argument("--only", action="append", metavar="METHOD",
                          help="verify only the rows of this method (repeatable; default: every row)")
    p_verify.add_argument("--rerun-dir", metavar="DIR", help="keep the re-run's leaderboard here (default: discarded)")
    p_verify.add_argument("-v", "--verbose", action="store_true", help="print the re-run's pytest output")
    p_verify.set_defaults(run=_verify)

    p_stab = sub.add_parser(
        "stability",
        help="Kendall tau between the rankings of results files, or of runs at several seeds",
        description="Compare the rankings (each suite's summary scores and the overall mean rank, "
        "controls left out) of two or more results files, or run the suites at each of --seeds "
        "into OUT/seed_S and compare those: Kendall tau-b per ranking and the methods that moved.",
    )
    p_stab.add_argument("results", nargs="*", metavar="RESULTS_JSONL",
                        help="results files (or directories holding one) to compare")
    p_stab.add_argument("--seeds", nargs="+", type=options.parse_seed, metavar="SEED",
                        help="run the suites at each seed (two or more) and compare the runs")
    p_stab.add_argument("--out", default="stability", metavar="DIR",
                        help="where --seeds writes each run, as DIR/seed_S (default stability/)")
    options.add_run_arguments(p_stab, only=STABILITY_RUN_OPTIONS)
    p_stab.add_argument("-v", "--verbose", action="store_true", help="print the runs' pytest output")
    p_stab.set_defaults(run=_stability)

    p_train = sub.add_parser(
        "train",
        help="build the subjects matching the globs now: train and cache the trained ones (for CI)",
        description="Build every registered subject matching a PATTERN (glob; all without one), "
        "so that trained subjects are trained and cached (ATTRBENCH_CACHE) before the tests or "
        "suites need them. Prints each subject's held-out accuracy, whether it came from the "
        "cache, and the seconds its build took.",
    )
    p_train.add_argument("patterns", nargs="*", metavar="PATTERN", help='subject glob, e.g. "digits28/*"')
    p_train.add_argument("--format", default="simple", help="tabulate table format (default: simple)")
    p_train.set_defaults(run=_train)
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
