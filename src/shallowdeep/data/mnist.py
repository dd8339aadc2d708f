"""MNIST from the official IDX files (or Keras' ``mnist.npz``).

IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <type> <ndim>`` followed by ``ndim``
big-endian uint32 dimensions, then the data in C order. MNIST uses type 0x08 (unsigned byte):
magic 2051 = 0x0803 for images (n, 28, 28) and 2049 = 0x0801 for labels (n,).
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from shallowdeep.data.files import FileCheck, check_file, ensure_file, local_path, verify_file
from shallowdeep.data.info import MNIST, MNIST_KERAS_NPZ
from shallowdeep.data.registry import Dataset, register
from shallowdeep.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08

MnistSplits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed if its name ends in ``.gz``).

    Checks the magic number (if ``magic`` is given), that the data type is unsigned byte, and
    that the data length equals the product of the header's dimensions. Every problem raises
    :class:`DataError` naming the file.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header (truncated?)")
    found_magic = int.from_bytes(raw[:4], "big")
    if magic is not None and found_magic != magic:
        raise DataError(
            f"{path}: IDX magic number is {found_magic}, expected {magic} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'}); is it the right file?"
        )
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != _UBYTE or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes (header bytes {raw[:4].hex()})"
        )
    header_length = 4 + 4 * ndim
    if len(raw) < header_length:
        raise DataError(f"{path}: the IDX header is cut short (truncated file)")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * axis: 8 + 4 * axis], "big") for axis in range(ndim)
    )
    expected = int(np.prod(shape))
    found = len(raw) - header_length
    if found != expected:
        raise DataError(
            f"{path}: the header announces shape {shape} ({expected:,} bytes of data) but the "
            f"file holds {found:,} ({'truncated' if found < expected else 'trailing bytes'})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_length).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except EOFError:
        raise DataError(
            f"{path}: the gzip stream ends early; the file is truncated (an interrupted download?)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{path}: corrupt gzip data ({error})") from None


def _diagnose_idx(magic: int):
    def diagnose(path: Path) -> str:
        try:
            read_idx(path, magic=magic)
        except DataError as error:
            return str(error).removeprefix(f"{path}: ")
        return "it is a well-formed IDX file, but its content differs from the official release"

    return diagnose


def _check_split(images: np.ndarray, labels: np.ndarray, split: str, source: Path) -> None:
    n = MNIST.n_samples[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DataError(
            f"{source}: MNIST {split} images have shape {images.shape} and labels {labels.shape}; "
            f"expected ({n}, 28, 28) and ({n},)"
        )
    if labels.max(initial=0) > 9:
        raise DataError(f"{source}: MNIST {split} labels go up to {labels.max()}, expected 0-9")


def mnist_source(data_dir: str | os.PathLike | None = None) -> str:
    """Which copy :func:`load_mnist` uses: ``"idx"`` when any official IDX file is present,
    else ``"npz"`` when Keras' ``mnist.npz`` is, else ``"idx"`` (to be downloaded)."""
    if any(local_path(MNIST, remote, data_dir).exists() for remote in MNIST.files.values()):
        return "idx"
    if local_path(MNIST, MNIST_KERAS_NPZ, data_dir).exists():
        return "npz"
    return "idx"


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool = True, progress: bool = True
) -> MnistSplits:
    """MNIST as ``((x_train, y_train), (x_test, y_test))``, like ``keras.datasets.mnist``.

    Images are uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), labels uint8 digits.
    The files are read from ``<data_dir>/mnist/``: the four official IDX ``.gz`` files (md5
    checked), or Keras' ``mnist.npz`` (sha256 checked) when no IDX file is there. Missing IDX
    files are downloaded (``download=False`` raises instead).
    """
    if mnist_source(data_dir) == "npz":
        return _load_keras_npz(local_path(MNIST, MNIST_KERAS_NPZ, data_dir))

    arrays = {}
    for role, remote in MNIST.files.items():
        magic = IMAGES_MAGIC if role.endswith("images") else LABELS_MAGIC
        path = ensure_file(
            MNIST, remote, data_dir,
            download=download, diagnose=_diagnose_idx(magic), progress=progress,
        )
        arrays[role] = read_idx(path, magic=magic)
    folder = local_path(MNIST, MNIST.files["train_images"], data_dir).parent
    for split in ("train", "test"):
        _check_split(arrays[f"{split}_images"], arrays[f"{split}_labels"], split, folder)
    return (
        (arrays["train_images"], arrays["train_labels"]),
        (arrays["test_images"], arrays["test_labels"]),
    )


def _load_keras_npz(path: Path) -> MnistSplits:
    verify_file(path, MNIST_KERAS_NPZ)
    try:
        with np.load(path, allow_pickle=False) as npz:
            splits = tuple((npz[f"x_{split}"], npz[f"y_{split}"]) for split in ("train", "test"))
    except KeyError:
        raise DataError(f"{path}: expected arrays x_train, y_train, x_test, y_test") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    for split, (images, labels) in zip(("train", "test"), splits):
        _check_split(images, labels, split, path)
    return splits


@register
class Mnist(Dataset):
    """MNIST: the lab's part 1, no validation split of its own (it is cut from train)."""

    info = MNIST
    digits = True
    lab_part = "digits"
    quick = {"dataset.train_limit": 2000, "dataset.test_limit": 1000, "training.epochs": 1,
             "training.warmup_epochs": 0.0}

    def image_size_problem(self, size):
        return None if list(size) == [28, 28] else "[28, 28] for MNIST"

    def load(self, section, seed, data_dir, progress, own_validation):
        train, test = load_mnist(data_dir, progress=progress)
        return train, None, test

    def check(self, data_dir, download, progress) -> list[FileCheck]:
        if mnist_source(data_dir) == "npz":
            return [check_file(MNIST, MNIST_KERAS_NPZ, data_dir, False, progress)]
        return [check_file(MNIST, remote, data_dir, download, progress) for remote in MNIST.files.values()]
