"""attrbench's pytest plugin (registered under the ``pytest11`` entry point).

Importing this module must not import torch: pytest loads it for every run in an
environment where attrbench is installed. Everything heavy is imported inside hooks.
"""

from __future__ import annotations


def pytest_report_header(config) -> list[str]:
    """One header line: the attrbench version, how many methods are registered, and
    any plugin that failed to load (so a broken plugin is visible in every run)."""
    import warnings

    from attrbench import __version__
    from attrbench.methods.registry import default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are listed below instead
        names = default_registry.available()
    lines = [f"attrbench {__version__}: {len(names)} attribution methods registered"]
    lines += [f"attrbench plugin problem: {p.source}: {p.message}" for p in default_registry.problems]
    return lines
