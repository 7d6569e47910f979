"""What every bench script shares: the machine line, interleaved timing, the output."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path
from collections.abc import Callable

import torch


def machine(*libraries: str) -> str:
    """Date (UTC), platform, CPU count, torch and its threads, ``libraries`` (e.g.
    "captum 0.9.0") and Python, separated by semicolons."""
    return "; ".join([
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}", platform.platform(),
        platform.processor() or platform.machine(), f"{os.cpu_count()} CPUs",
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)", *libraries,
        f"Python {platform.python_version()}",
    ])  # fmt: skip


def load() -> str:
    """The machine's load average now (1, 5 and 15 minutes): how busy the shared cores were."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def interleaved_medians(
    fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1, clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """Median seconds of each function over ``reps`` rounds after ``warmup`` untimed
    rounds; each round runs all of them, in reversed order every other round, so load
    on the machine hits every contender alike. ``clock``: wall time by default;
    ``time.process_time`` (this process's CPU time) where other jobs share the cores."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            start = clock()
            fns[name]()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def publish(path: Path, parts: list[str]) -> None:
    """Join ``parts`` as markdown paragraphs, write them to ``path`` and print them."""
    text = "\n\n".join(parts) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(text)
