"""The ``attrbench`` command line: ``attrbench list [methods|subjects]``."""

from __future__ import annotations

import argparse
import sys
import warnings

from tabulate import tabulate


def _list(args: argparse.Namespace) -> int:
    from attrbench.methods.registry import default_registry, load_spec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are printed below
        for spec in args.method or ():
            load_spec(spec)
        names = default_registry.available()
    sep = ", " if args.format in ("github", "pipe") else "\n"  # markdown cells hold one line
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attrbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser(
        "list", help="print every registered method (claims, kind, reference) and subject (tags)"
    )
    p_list.add_argument("what", nargs="?", choices=("methods", "subjects", "all"), default="all")
    p_list.add_argument("--method", action="append", metavar="MODULE:ATTR", help="also load this method spec")
    p_list.add_argument("--sources", action="store_true", help="show where each method was registered")
    p_list.add_argument("--format", default="simple", help="tabulate table format (default: simple)")
    p_list.set_defaults(run=_list)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as exc:
        from attrbench.errors import AttrbenchError

        if isinstance(exc, AttrbenchError):
            print(f"attrbench: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
