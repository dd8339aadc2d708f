"""A small on-disk cache of NumPy arrays, keyed by everything that determines them.

Each entry is one ``.npz`` file named by the SHA-256 of its key (a JSON-able mapping that must
include the version of the code that computed it). The key is stored inside the file too, so a
hash collision or a file copied by hand is recognised as stale. A file that cannot be read back
whole (zip CRC error, missing array, wrong key) is recomputed and replaced, never used. Entries are
written atomically, so an interrupted run leaves either the old entry or the new one.
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
from shallowdeep.paths import resolve_cache_dir
from shallowdeep.storage import atomic_path

_KEY_ARRAY = "__cache_key__"


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
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        return None
    stored_key = arrays.pop(_KEY_ARRAY, None)
    if stored_key is None or str(stored_key) != _canonical(key):
        return None
    return arrays


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
