"""Verified, atomic downloads of dataset files, and checksum checks of files already on disk.

A download streams into a temporary file beside its destination while hashing it, checks the
size and checksum, and only then renames it into place. Whatever goes wrong (HTTP error, dropped
connection, checksum mismatch, Ctrl-C) the temporary file is removed: the destination either
holds the verified file or does not exist.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from shallowdeep.version import __version__
from shallowdeep.data.info import RemoteFile
from shallowdeep.errors import DataError
from shallowdeep.paths import DATA_ENV, MIRROR_ENV
from shallowdeep.storage import atomic_path

_CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of the file at ``path`` (``algorithm``: any name :mod:`hashlib` knows)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_mismatch(path: Path, remote: RemoteFile) -> str | None:
    """``None`` if ``path`` has the checksum recorded for ``remote``, else what differs."""
    algorithm, expected = remote.checksum
    actual = file_digest(path, algorithm)
    if actual == expected:
        return None
    return f"{algorithm} is {actual}, the official file's is {expected}"


def candidate_urls(remote: RemoteFile, folder: str) -> list[str]:
    """The URLs to try for ``remote``: ``$SHALLOWDEEP_MIRROR/<folder>/<name>`` first if set."""
    mirror = os.environ.get(MIRROR_ENV)
    urls = [f"{mirror.rstrip('/')}/{folder}/{remote.name}"] if mirror else []
    return urls + list(remote.urls)


def fetch(
    remote: RemoteFile,
    destination: Path,
    *,
    urls: list[str] | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``remote`` to ``destination``, trying each URL in turn until one gives the right file.

    Raises :class:`DataError` naming the file, every URL tried and why it failed, the expected
    checksum and where to put a copy by hand. Nothing is left at ``destination`` on failure.
    """
    urls = list(remote.urls) if urls is None else urls
    algorithm, expected = remote.checksum
    failures = []
    try:
        with atomic_path(destination) as partial:
            for url in urls:
                try:
                    _download(url, partial, remote, progress=progress, timeout=timeout)
                    break
                except _DownloadFailed as failure:
                    failures.append(f"  {url}: {failure}")
            else:
                raise _EveryUrlFailed
    except _EveryUrlFailed:
        raise DataError(
            f"could not download {destination.name} ({algorithm} {expected}):\n"
            + "\n".join(failures)
            + f"\nFix: when you have a network connection, run again; or download the file by hand "
            f"from one of the URLs above and save it as\n     {destination}\n"
            f"     (or set ${DATA_ENV} / --data-dir to a folder that already has it)."
        ) from None
    except OSError as error:
        raise DataError(
            f"{destination} is missing and cannot be downloaded: its folder is not writable "
            f"({error.strerror or error}).\n"
            f"Fix: download it by hand from {urls[0]}\n"
            f"     ({algorithm} {expected}) and save it as {destination},\n"
            f"     or set ${DATA_ENV} (or --data-dir) to a writable folder."
        ) from None
    return destination


class _EveryUrlFailed(Exception):
    pass


class _DownloadFailed(Exception):
    pass


def _download(url: str, target: Path, remote: RemoteFile, *, progress: bool, timeout: float):
    """One attempt: stream ``url`` into ``target`` (truncated first) and verify it."""
    algorithm, expected = remote.checksum
    digest = hashlib.new(algorithm)
    request = urllib.request.Request(url, headers={"User-Agent": f"shallowdeep/{__version__}"})
    received, total = 0, None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced and announced.isdigit() else remote.size
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=remote.name, disable=None if progress else True, leave=False,
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise _DownloadFailed(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _DownloadFailed(f"cannot connect ({error.reason})") from None
    except http.client.IncompleteRead as error:
        received += len(error.partial)
        raise _DownloadFailed(f"connection dropped after {received:,} of {total:,} bytes") from None
    except (OSError, http.client.HTTPException) as error:
        raise _DownloadFailed(f"transfer failed after {received:,} bytes ({error})") from None

    if total is not None and received < total:
        raise _DownloadFailed(f"connection dropped after {received:,} of {total:,} bytes")
    if remote.size is not None and received != remote.size:
        raise _DownloadFailed(f"got {received:,} bytes, the official file has {remote.size:,}")
    if digest.hexdigest() != expected:
        raise _DownloadFailed(
            f"checksum mismatch: {algorithm} {digest.hexdigest()}, expected {expected}"
        )
