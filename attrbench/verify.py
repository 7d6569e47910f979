"""``attrbench verify``: re-run the rows of a results file at their scale and seed and
compare the re-run with the file row by row (:func:`verify`, :func:`compare_records`)."""

from __future__ import annotations

import glob
import math
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from attrbench.errors import CLIError
from attrbench.options import check_workers, pytest_args
from attrbench.scales import SCALE_NAMES

#: pytest exit codes after which ``verify`` can read the re-run's results
#: (0 all passed, 1 some test failed (a violated claim is a row too), 5 nothing collected).
RERUN_OK_CODES = (0, 1, 5)


@dataclass(frozen=True)
class Mismatch:
    """A row of the results file that the re-run did not reproduce."""

    record: object  # attrbench.results.Record (from the file)
    rerun: object | None  # the re-run's Record with the same key, None if missing
    problem: str


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found: how many rows it re-ran and those that did not reproduce."""

    rows: int
    mismatches: list[Mismatch]


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


def _rebuilt(name: str, records, registry) -> bool:
    """Whether ``name`` resolves here: registered, a ``module:attr`` spec or a variant
    ``base[opt=value]`` (rebuilt from its name), or a named variant whose rows carry its base
    method and options (re-registered from them)."""
    from attrbench.errors import AttrbenchError
    from attrbench.methods.variants import make_variant

    if ":" in name:
        return True
    try:
        registry.entry(name)
        return True
    except AttrbenchError:
        pass
    row = next((r for r in records if r.method == name and r.base_method and r.base_method != name), None)
    if row is None:
        return False
    try:
        registry.add(make_variant(registry.entry(row.base_method), dict(row.options or {}), name, registry))
    except AttrbenchError:
        return False
    return True


def verify(
    path: Path,
    *,
    method=(),
    only=(),
    device: str | None = None,
    timeout: float | None = None,
    memory: float | None = None,
    workers: str | None = None,
    rerun_dir: str | None = None,
    verbose: bool = False,
    atol: float = 1e-6,
    rtol: float = 1e-6,
) -> Verification:
    """Re-run the rows of the results file at ``path`` (those of the methods in ``only``,
    default all) in a pytest subprocess at their scale and seed, on ``device`` (default:
    the file's), and compare with :func:`compare_records`. ``method``: ``module:attr``
    specs to load; the rows of the method a spec registers are re-run through it.
    ``rerun_dir`` keeps the re-run's leaderboard (default: a discarded temporary
    directory); ``verbose`` prints the re-run's pytest output. Raises CLIError for a file
    it cannot re-run (mixed runs, an unknown scale, method or subject) or a failed re-run."""
    from attrbench.leaderboard import read_results
    from attrbench.methods.registry import default_registry, load_spec
    from attrbench.checks import SUITES
    from attrbench.checks.generated import GENERATED
    from attrbench.subjects.registry import default_registry as subject_registry

    metadata, records = read_results(path)  # CorruptResultsError (an AttrbenchError) names file and line
    if only:
        present = {r.method for r in records}
        absent = [m for m in only if m not in present]
        if absent:
            raise CLIError(f"{path} has no rows of method(s) {', '.join(absent)}; it has {', '.join(sorted(present))}.")
        records = [r for r in records if r.method in only]
    if not records:
        return Verification(0, [])
    runs = sorted({(r.scale, r.seed) for r in records})
    if len(runs) > 1:
        raise CLIError(f"{path} mixes runs ({runs}); verify needs rows of one scale and seed.")
    [(scale, seed)] = runs
    if scale not in SCALE_NAMES:
        raise CLIError(f"{path}: rows of unknown scale {scale!r}; the scales are {', '.join(SCALE_NAMES)}.")
    device = device or metadata.get("device") or "cpu"

    # Methods as the file names them; a --method spec stands in for the method it registers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec_for = {load_spec(spec): spec for spec in method or ()}
        file_methods = sorted({r.method for r in records})
        for name in file_methods:
            if name not in spec_for and not _rebuilt(name, records, default_registry):
                raise CLIError(
                    f"method {name!r} of {path} is not registered here: install the package that "
                    "registers it, or pass --method module:attr for it."
                )
        file_subjects = sorted({r.subject for r in records})
        unknown = [s for s in file_subjects if s not in subject_registry.available() and s != GENERATED]
    if unknown:
        raise CLIError(f"subject(s) {', '.join(unknown)} of {path} are not registered here.")
    suites = [s for s in SUITES if s in {r.suite for r in records}]
    if rerun_dir and (Path(rerun_dir) / "results.jsonl").exists():
        raise CLIError(f"--rerun-dir {rerun_dir} already holds results; give a new or empty directory.")

    rerun: list = []
    with tempfile.TemporaryDirectory(prefix="attrbench-verify-") as tmp:
        out = Path(rerun_dir) if rerun_dir else Path(tmp)
        if suites:
            argv = pytest_args(
                method=[spec_for.get(m, m) for m in file_methods], suite=suites,
                subject=[glob.escape(s) for s in file_subjects], scale=scale, seed=seed, device=device,
                timeout=timeout, memory=memory, leaderboard_dir=str(out), workers=workers,
                progress=not verbose,  # a bar on the terminal (stderr) while pytest's output is kept
                extra=["-q"],
            )  # fmt: skip
            check_workers(workers)
            print(
                f"re-running {len(records)} rows of {path} (scale {scale}, seed {seed}, device {device}): "
                f"{len(file_methods)} method(s), {len(file_subjects)} subject(s), suites {', '.join(suites)}",
                flush=True,
            )
            done = subprocess.run(
                [sys.executable, "-m", "pytest", *argv], cwd=os.getcwd(), stdout=subprocess.PIPE,
                stderr=None if sys.stderr.isatty() else subprocess.STDOUT, text=True, check=False,
            )  # fmt: skip
            if verbose:
                print(done.stdout)
            if done.returncode not in RERUN_OK_CODES:
                tail = "\n".join(done.stdout.strip().splitlines()[-20:])
                raise CLIError(f"the re-run failed (pytest exit code {done.returncode}):\n{tail}")
            _, rerun = read_results(out / "results.jsonl")

    return Verification(len(records), compare_records(records, rerun, atol=atol, rtol=rtol))
