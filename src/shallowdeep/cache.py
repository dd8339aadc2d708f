"""A small on-disk cache of NumPy arrays, keyed by everything that determines them.

Each entry is one ``.npz`` file named by the SHA-256 of its key (a JSON-able mapping that must
include the version of the code that computed it). The key is stored inside the file too, so a
hash collision or a file copied by hand is recognised as stale. A file that cannot be read back
whole (zip CRC error, missing array, wrong key) is recomputed and replaced, never used. Entries are
written atomically, so an interrupted run leaves either the old entry or the new one. Arrays are
read back into aligned memory (:func:`shallowdeep.memory.aligned_empty`), which the training
loop reads in place: ``np.load``'s own arrays would be copied to such memory, the largest held
twice for a moment (hog-2's 169 MB of training features, where the seed lab's memory peaked on a
2-core AMD EPYC Zen 4: preparing hog-2's data from the cache rose 379 MiB above what it started
from, now 270).
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from shallowdeep.errors import DataWarning
from shallowdeep.memory import aligned_empty
from shallowdeep.paths import resolve_cache_dir
from shallowdeep.storage import atomic_path

_KEY_ARRAY = "__cache_key__"
#: Bytes read from an entry at a time (what a read holds besides the array it fills).
_CHUNK_BYTES = 8 << 20
#: The ``.npy`` header readers of the format versions ``np.savez`` writes.
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def cache_key_digest(key: Mapping) -> str:
    """The SHA-256 of ``key`` serialised as canonical JSON."""
    return hashlib.sha256(_canonical(key).encode()).hexdigest()


def _canonical(key: Mapping) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def cache_path(namespace: str, key: Mapping) -> Path:
    """The file that holds (or would hold) the entry for ``key``."""
    return resolve_cache_dir() / namespace / f"{cache_key_digest(key)}.npz"


def read_entry(path: Path, key: Mapping) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` if it is a complete entry for ``key``, else ``None``."""
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {member.removesuffix(".npy"): _read_array(archive, member) for member in archive.namelist()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        return None
    stored_key = arrays.pop(_KEY_ARRAY, None)
    if stored_key is None or str(stored_key) != _canonical(key):
        return None
    return arrays


def _read_array(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    """The ``.npy`` array ``member`` of an entry, read into aligned memory; ValueError or EOFError
    where it is not one whole array of plain values in C order."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in _HEADER_READERS:
            raise ValueError(f"{member}: .npy format {version} is not one np.savez writes")
        shape, fortran_order, dtype = _HEADER_READERS[version](stream)
        if fortran_order or dtype.hasobject:
            raise ValueError(f"{member}: not an array of plain values in C order")
        array = aligned_empty(shape, dtype)
        view = memoryview(array.reshape(-1).view(np.uint8))
        for start in range(0, len(view), _CHUNK_BYTES):
            chunk = view[start:start + _CHUNK_BYTES]
            if stream.readinto(chunk) != len(chunk):
                raise EOFError(f"{member} ends before its {array.nbytes} bytes")
        if stream.read(1):  # also where the zip's CRC of the member is checked
            raise ValueError(f"{member}: bytes past its array")
    return array


def write_entry(path: Path, key: Mapping, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` under ``key`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez(temporary, **arrays, **{_KEY_ARRAY: np.array(_canonical(key))})


def cached_arrays(
    namespace: str,
    key: Mapping,
    compute: Callable[[], Mapping[str, np.ndarray]],
    *,
    enabled: bool = True,
) -> dict[str, np.ndarray]:
    """Return the arrays for ``key``: from the cache when a valid entry exists, else ``compute()``.

    A freshly computed result is stored for next time. When the cache directory cannot be
    written, the result is still returned and a :class:`DataWarning` says why it was not kept.
    """
    if not enabled:
        return dict(compute())
    path = cache_path(namespace, key)
    hit = read_entry(path, key)
    if hit is not None:
        return hit
    arrays = dict(compute())
    try:
        write_entry(path, key, arrays)
    except OSError as error:
        warnings.warn(
            f"could not write the cache file {path} ({error.strerror or error}); the result is "
            f"used but will be computed again next time. Set $SHALLOWDEEP_CACHE to a writable "
            f"folder to keep it.",
            DataWarning,
            stacklevel=2,
        )
    return arrays
