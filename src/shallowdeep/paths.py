"""Where shallowdeep reads datasets from and where it keeps what it derives from them.

The data directory holds downloaded files only and may be read-only; derived caches (decoded
images, features) go to a separate cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_ENV = "SHALLOWDEEP_DATA"
CACHE_ENV = "SHALLOWDEEP_CACHE"
#: A base URL tried before the official ones, e.g. a lab-wide copy: ``$SHALLOWDEEP_MIRROR/mnist/<file>``.
MIRROR_ENV = "SHALLOWDEEP_MIRROR"


def _user_cache() -> Path:
    return platformdirs.user_cache_path("shallowdeep", appauthor=False)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$SHALLOWDEEP_DATA``, else the user cache."""
    return Path(data_dir or os.environ.get(DATA_ENV) or _user_cache() / "data").expanduser().absolute()


def describe_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    """Where :func:`resolve_data_dir` took its answer from, for messages."""
    if data_dir:
        return "given explicitly"
    if os.environ.get(DATA_ENV):
        return f"from ${DATA_ENV}"
    return f"default; set ${DATA_ENV} or pass --data-dir to change it"


def resolve_cache_dir() -> Path:
    """The directory for derived caches: ``$SHALLOWDEEP_CACHE``, else ``<user cache>/derived``."""
    return Path(os.environ.get(CACHE_ENV) or _user_cache() / "derived").expanduser()
