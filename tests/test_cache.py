"""The array cache: a hit returns what was stored; anything doubtful is recomputed, never used."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from shallowdeep.cache import cache_path, cached_arrays
from shallowdeep.errors import DataWarning
from shallowdeep.memory import is_aligned

KEY = {"dataset": "demo", "version": 1}


@pytest.fixture(autouse=True)
def _every_test_starts_with_an_empty_cache(empty_cache):
    pass


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"values": np.arange(1000, dtype=np.float32)}


def test_the_second_call_is_served_from_disk():
    compute = Counter()
    first = cached_arrays("demo", KEY, compute)
    second = cached_arrays("demo", KEY, compute)
    assert compute.calls == 1
    np.testing.assert_array_equal(first["values"], second["values"])


def test_a_hit_is_read_into_memory_that_the_training_loop_reads_in_place():
    """np.load's arrays start 16 bytes into a page: a backend reading one in place needs it copied
    to a 64-byte boundary first, twice its memory for a moment."""
    features = np.random.default_rng(0).random((3000, 392), dtype=np.float32)
    cached_arrays("demo", KEY, lambda: {"features": features, "labels": np.arange(3000)})
    hit = cached_arrays("demo", KEY, Counter())
    assert is_aligned(hit["features"]) and is_aligned(hit["labels"])
    np.testing.assert_array_equal(hit["features"], features)
    np.testing.assert_array_equal(hit["labels"], np.arange(3000))


def test_another_key_is_another_entry():
    compute = Counter()
    cached_arrays("demo", KEY, compute)
    cached_arrays("demo", {**KEY, "version": 2}, compute)
    assert compute.calls == 2


def _flipped_in_the_middle(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0xFF
    return bytes(changed)


def _array_cut_short(data: bytes) -> bytes:
    """The values' bytes of the array, then nothing: the zip's directory is gone too."""
    return data[:len(data) // 2]


def _fewer_values_than_its_header_says(data: bytes) -> bytes:
    """A whole zip whose array's header promises 2000 values, and 1000 follow."""
    with zipfile.ZipFile(io.BytesIO(data)) as original:
        members = {name: original.read(name) for name in original.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2000,)})
    members["values.npy"] = header.getvalue() + np.arange(1000, dtype=np.float32).tobytes()
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return rewritten.getvalue()


@pytest.mark.parametrize("damage", [_flipped_in_the_middle, _array_cut_short, _fewer_values_than_its_header_says])
def test_a_corrupt_entry_is_recomputed_and_replaced(damage):
    compute = Counter()
    cached_arrays("demo", KEY, compute)
    path = cache_path("demo", KEY)
    path.write_bytes(damage(path.read_bytes()))
    again = cached_arrays("demo", KEY, compute)
    assert compute.calls == 2
    np.testing.assert_array_equal(again["values"], np.arange(1000, dtype=np.float32))
    cached_arrays("demo", KEY, compute)
    assert compute.calls == 2


def test_an_entry_written_for_another_key_is_not_used():
    compute = Counter()
    cached_arrays("demo", {"other": True}, compute)
    # Put the other key's file where KEY's entry belongs, as a stale copy would be.
    cache_path("demo", KEY).parent.mkdir(parents=True, exist_ok=True)
    cache_path("demo", KEY).write_bytes(cache_path("demo", {"other": True}).read_bytes())
    cached_arrays("demo", KEY, compute)
    assert compute.calls == 2


def test_an_unwritable_cache_still_returns_the_result_and_says_why(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SHALLOWDEEP_CACHE", str(blocker))
    with pytest.warns(DataWarning, match="could not write the cache file"):
        result = cached_arrays("demo", KEY, Counter())
    assert len(result["values"]) == 1000
