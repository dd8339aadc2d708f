"""Arrays in memory that a backend reads in place, freed memory handed back to the system, two
allocation arenas per core, and a garbage collector that skips what the imports left.

TensorFlow copies a NumPy array it converts to a tensor, unless the array's memory is C-contiguous
and starts on a 64-byte boundary (what its CPU kernels require): then it reads it in place
(:func:`shallowdeep.epochs.to_device`), and a training set is held once, not twice. NumPy's own
large arrays start 16 bytes into a page, so the arrays a run trains on are made here.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Where the memory of an array that TensorFlow reads in place must start (its CPU kernels'
#: ``EIGEN_MAX_ALIGN_BYTES``).
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array whose memory starts on an :data:`ALIGNMENT` boundary."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + size].view(dtype).reshape(shape)


def is_aligned(array: np.ndarray) -> bool:
    """Whether ``array``'s memory is C-contiguous and starts on an :data:`ALIGNMENT` boundary."""
    return array.flags.c_contiguous and array.ctypes.data % ALIGNMENT == 0


def aligned(array: np.ndarray) -> np.ndarray:
    """``array`` itself where :func:`is_aligned`, else an aligned copy."""
    if is_aligned(array):
        return array
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


@functools.cache
def _libc_function(name: str):
    """glibc's function ``name``, or None where the C library has none (musl, macOS, Windows)."""
    library = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(library), name, None) if library else None


#: glibc's ``mallopt`` parameter for the most allocation arenas (malloc.h).
_M_ARENA_MAX = -8


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def limit_allocation_arenas() -> bool:
    """Let glibc's allocator keep at most two arenas per core, not eight, unless
    ``MALLOC_ARENA_MAX`` says otherwise; True where the limit was set.

    glibc gives each thread that allocates an arena of its own, up to eight per core, and what a
    thread frees stays in its arena: TensorFlow's thread pools and the HOG workers spread the
    lab's large temporary arrays over many arenas, resident long after they are freed. The lab's
    MNIST experiments (raw-1, hog-1, hog-2, hog-3, from an empty cache) peaked at 1.44 GiB with
    glibc's default, 1.24 with two arenas per core and 1.21 with one (2-core AMD EPYC Zen 3).
    raw-2's steps took 7-14 % longer with one (2-core AMD EPYC Zen 3, alternating runs: threads
    waiting for an arena's lock), within 3 % with two (2-core AMD EPYC Zen 3). It applies to the
    threads that allocate after it, so it is called before the backend loads.
    """
    if "MALLOC_ARENA_MAX" in os.environ:  # glibc read it when the process started
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, 2 * usable_cores()))


def release_freed_memory() -> None:
    """Hand the memory freed inside the C allocator's pools back to the system (glibc's
    ``malloc_trim``; nothing elsewhere). A finished experiment's tensors go back to those pools,
    where they stayed resident: trimming after each experiment lowered the seed lab's resident
    memory between experiments by 70-240 MiB (2-core Intel Xeon, TensorFlow 2.21)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


_frozen = {"depth": 0, "ours": False}
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def collecting_new_objects_only() -> Iterator[None]:
    """Within it, Python's garbage collector skips the objects that existed when it began.

    A full collection walks every object the process tracks, and TensorFlow and Keras leave
    about 445,000 behind once imported: 0.24 s a collection on a 2-core AMD EPYC Zen 3. A run or
    a lab makes dozens of them (its own between experiments, Python's as allocations pile up):
    the quick lab spent 6.8 s of its 55 s in them (2-core AMD EPYC Zen 3). Those objects outlive the run
    anyway, so they are frozen (:func:`gc.freeze`) on entering, and unfrozen on leaving
    (:func:`gc.unfreeze`): any garbage among them is collected then, never leaked. Nested
    blocks freeze once, at the outermost; a heap the caller froze is left as the caller froze it.
    Usable as a decorator.
    """
    with _frozen_lock:
        if _frozen["depth"] == 0:
            _frozen["ours"] = gc.get_freeze_count() == 0
            if _frozen["ours"]:
                gc.freeze()
        _frozen["depth"] += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen["depth"] -= 1
            if _frozen["depth"] == 0 and _frozen["ours"]:
                gc.unfreeze()
                _frozen["ours"] = False
