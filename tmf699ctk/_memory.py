"""Keep the kit's process from hoarding memory it has freed.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so after the
first large response body, every later one comes from a per-thread heap that never shrinks: four
workers reading 15 MiB bodies then hold ~200 MiB they no longer use. A fixed threshold keeps
large buffers in their own mappings, returned to the system when freed.
"""

from __future__ import annotations

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # mallopt parameter (glibc's malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default, made fixed


def release_large_buffers() -> bool:
    """Fix glibc's mmap threshold for this process; False where that is not glibc (nothing done)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # the process's own symbols, which include the C library's: no ctypes.util.find_library,
        # which runs `ldconfig -p` in a subprocess on every start
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
