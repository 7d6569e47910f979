"""The line every bench result starts with: when, on what, with which versions."""

from __future__ import annotations

import datetime as dt
import os
import platform

import torch


def describe(*libraries: str) -> str:
    """Date (UTC), platform, CPU count, torch and its threads, ``libraries`` (e.g.
    "captum 0.9.0") and Python, separated by semicolons."""
    return "; ".join([
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}", platform.platform(),
        platform.processor() or platform.machine(), f"{os.cpu_count()} CPUs",
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)", *libraries,
        f"Python {platform.python_version()}",
    ])  # fmt: skip
