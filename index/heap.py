"""Handing freed heap memory back to the system before a step that needs much of it.

glibc keeps memory a program has freed inside its heaps for reuse, and a heap's free pages below
a live allocation are never returned by themselves: after embedding, the encoder's buffers, a
large document's units and the segmenters' queues leave resident memory the publish step (the
FAISS build) then adds to. ``malloc_trim`` returns those pages; on another C library this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def release_free_heap() -> bool:
    """Return the heap's free pages to the system; False where the C library has no
    ``malloc_trim`` (nothing is done)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
