"""Memory the process keeps: the garbage collector skips what existed before a run and loses nothing
after; glibc keeps two allocation arenas per core, not eight."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

from shallowdeep.memory import _libc_function, collecting_new_objects_only, limit_allocation_arenas


class _Cycle:
    """An object that only a full collection frees: it refers to itself."""

    def __init__(self) -> None:
        self.itself = self


@pytest.fixture
def unfrozen_heap():
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()


def test_within_a_collection_skips_the_objects_from_before_and_after_it_they_are_collected_again(unfrozen_heap):
    before = _Cycle()
    before_alive = weakref.ref(before)
    with collecting_new_objects_only():
        assert gc.get_freeze_count() > 0
        during = _Cycle()
        during_alive = weakref.ref(during)
        del before, during
        gc.collect()
        assert before_alive() is not None  # frozen: not even looked at
        assert during_alive() is None  # made within: collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before_alive() is None  # nothing leaked


def _dropped_cycle():
    """A weak reference to a cycle of objects that nothing else refers to: only a collection frees it."""
    return weakref.ref(_Cycle())


def test_nested_blocks_freeze_once_and_unfreeze_at_the_outermost(unfrozen_heap):
    with collecting_new_objects_only():
        before_inner = _dropped_cycle()
        with collecting_new_objects_only():
            pass
        gc.collect()
        assert before_inner() is None  # the inner block froze nothing more, and left the outer's freeze on
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_heap_the_caller_froze_stays_frozen(unfrozen_heap):
    frozen_by_the_caller = _dropped_cycle()
    gc.freeze()
    with collecting_new_objects_only():
        pass
    gc.collect()
    assert frozen_by_the_caller() is not None and gc.get_freeze_count() > 0


def test_as_a_decorator_it_unfreezes_when_the_function_raises(unfrozen_heap):
    @collecting_new_objects_only()
    def fails() -> None:
        assert gc.get_freeze_count() > 0
        raise ValueError("stopped")

    with pytest.raises(ValueError):
        fails()
    assert gc.get_freeze_count() == 0


_COUNT_ARENAS = """
import ctypes, ctypes.util, os, sys, tempfile, threading
if sys.argv[1] == "shallowdeep":
    import shallowdeep.backend  # noqa: F401 (what a user's process does first)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
threads = int(sys.argv[2])
together = threading.Barrier(threads + 1)
kept = []

def allocate():
    kept.append([bytearray(64 << 10) for _ in range(4)])  # below the mmap threshold: from an arena
    together.wait()

started = [threading.Thread(target=allocate) for _ in range(threads)]
for thread in started:
    thread.start()
together.wait()
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r", suffix=".xml") as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(report.read().count("<heap nr="))
"""


def _arenas(how: str, threads: int, **environment: str) -> int:
    done = subprocess.run([sys.executable, "-c", _COUNT_ARENAS, how, str(threads)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **environment})
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.skipif(_libc_function("malloc_info") is None, reason="glibc's allocator only")
def test_once_the_backend_is_imported_threads_share_two_arenas_per_core():
    """Threads that allocate get an arena each, up to eight per core, without the limit; with it,
    two per core. A user's MALLOC_ARENA_MAX wins."""
    limit = 2 * len(os.sched_getaffinity(0))
    threads = limit + 6
    assert _arenas("plain", threads) > limit
    assert _arenas("shallowdeep", threads) <= limit
    assert _arenas("shallowdeep", threads, MALLOC_ARENA_MAX=str(limit + 4)) > limit


def test_a_limit_the_user_set_is_left_to_glibc(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_allocation_arenas() is False
