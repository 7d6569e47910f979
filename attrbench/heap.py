"""Keep freed memory in the heap: no page faults for every chunk's activations.

glibc's ``malloc`` serves an allocation above its mmap threshold (128 KiB, raised
adaptively up to 32 MiB) by a fresh ``mmap`` and returns it to the kernel on ``free``, and
it trims the heap's top beyond 128 KiB. A forward pass of a CNN on a chunk of 28×28 or
32×32 images allocates activations of tens to hundreds of MiB, so every chunk of every
stream faulted its pages in again (and the kernel zeroed them): on the 28×28 CNN, 2048
images in chunks of 256 or 1024 took 0.6–0.9 s of CPU time, half of it in the kernel,
against 0.35 s with the freed memory kept (bench/efficiency_at_scale.py, README).

:func:`keep_freed_memory` raises both thresholds once per process (``mallopt``), so a
chunk's buffers are reused by the next chunk. Memory is still bounded by the largest
chunk (the heap keeps what the peak needed). Arithmetic is unchanged: only where the
bytes live. A no-op off glibc, and where ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` is set (the user's choice wins).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: mallopt parameters (glibc malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Allocations up to this many bytes come from the heap, and up to this much free memory
#: at the heap's top is kept.
KEEP_BYTES = 1 << 30


def keep_freed_memory(limit: int = KEEP_BYTES) -> bool:
    """Raise glibc's mmap and trim thresholds to ``limit`` bytes; True when both were set
    (module docstring)."""
    if platform.libc_ver()[0] != "glibc" or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, limit)) and bool(libc.mallopt(M_TRIM_THRESHOLD, limit))
