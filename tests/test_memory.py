"""The garbage collector during a run: it skips what existed before, and loses nothing after."""

from __future__ import annotations

import gc
import weakref

import pytest

from shallowdeep.memory import collecting_new_objects_only


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
