"""attrbench.heap: freed chunk buffers stay in the heap, so the next chunk does not fault
its pages in again.

The expectation is counted, not timed: in a fresh process, a 3×3 convolution to 32
channels of 512 images of 28×28 writes a 512·32·784·4 B = 49 MiB output, about 12544
pages of 4 KiB. With glibc's defaults that buffer is mmap-ed and unmapped on free, so
every pass faults its pages in again; with the freed memory kept, the third pass reuses
the pages of the earlier ones and faults almost none.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from attrbench.heap import keep_freed_memory

CHILD = """
import json, resource, sys, torch
from attrbench.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.set_num_threads(1)
conv, x = torch.nn.Conv2d(1, 32, 3, padding=1), torch.rand(512, 1, 28, 28)
faults = []
with torch.no_grad():
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        conv(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"kept": kept, "faults": faults}))
"""


def run_child(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_memory_is_reused_without_page_faults():
    pages = 512 * 32 * 784 * 4 // 4096
    default, kept = run_child("default"), run_child("keep")
    assert kept["kept"] is True
    assert default["faults"][2] >= 0.9 * pages  # glibc's default: unmapped on free, faulted in again
    assert kept["faults"][2] <= 0.05 * pages  # kept: the same pages again


def test_a_users_malloc_settings_win(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert keep_freed_memory() is False
