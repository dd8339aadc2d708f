"""MNIST: the official IDX files load exactly; anything else is refused with a clear reason."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from shallowdeep.data import DataError, load_mnist, read_idx
from shallowdeep.data.info import MNIST
from shallowdeep.data.mnist import IMAGES_MAGIC, LABELS_MAGIC, mnist_source


@pytest.fixture
def mnist_copy(real_data_dir, tmp_path):
    """A writable data directory holding a copy of the real MNIST files."""
    shutil.copytree(real_data_dir / "mnist", tmp_path / "mnist")
    for path in (tmp_path / "mnist").iterdir():
        path.chmod(0o644)
    return tmp_path


def test_real_mnist_has_official_shapes_and_label_counts(real_data_dir):
    (x_train, y_train), (x_test, y_test) = load_mnist(real_data_dir, download=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # Pixels span the full byte range and the first training digit is the famous 5.
    assert x_train.max() == 255 and x_train.min() == 0
    assert y_train[0] == 5


def test_truncated_gz_is_refused_with_its_path_and_reason(mnist_copy):
    target = mnist_copy / "mnist" / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:500_000])
    with pytest.raises(DataError) as caught:
        load_mnist(mnist_copy, download=False)
    message = str(caught.value)
    assert str(target) in message
    assert "md5" in message and "9fb629c4189551a2d022fa330f9573f3" in message
    assert "truncated" in message
    assert "Fix:" in message


def test_one_flipped_byte_is_refused(mnist_copy):
    target = mnist_copy / "mnist" / "train-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not the official train-labels-idx1-ubyte.gz") as caught:
        load_mnist(mnist_copy, download=False)
    assert str(target) in str(caught.value)


def test_images_and_labels_swapped_are_diagnosed_by_magic_number(mnist_copy):
    folder = mnist_copy / "mnist"
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=f"magic number is {LABELS_MAGIC}, expected {IMAGES_MAGIC}"):
        load_mnist(mnist_copy, download=False)


def test_missing_file_without_download_says_where_and_from_where(tmp_path):
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert MNIST.files["train_images"].urls[0] in message


def _write_idx(path, magic: int, shape: tuple[int, ...], data: bytes, compress: bool = False):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as stream:
        stream.write(header + data)


def test_read_idx_parses_the_header_and_data(tmp_path):
    path = tmp_path / "tiny-images.gz"
    _write_idx(path, IMAGES_MAGIC, (2, 3, 4), bytes(range(24)), compress=True)
    array = read_idx(path, magic=IMAGES_MAGIC)
    assert array.shape == (2, 3, 4) and array.dtype == np.uint8
    assert array[1, 2, 3] == 23


def test_read_idx_refuses_wrong_magic(tmp_path):
    path = tmp_path / "labels"
    _write_idx(path, LABELS_MAGIC, (3,), b"\x01\x02\x03")
    with pytest.raises(DataError, match="magic number is 2049, expected 2051"):
        read_idx(path, magic=IMAGES_MAGIC)


@pytest.mark.parametrize(
    ("data", "reason"), [(bytes(23), "truncated"), (bytes(25), "trailing bytes")]
)
def test_read_idx_refuses_data_that_disagrees_with_the_header(tmp_path, data, reason):
    path = tmp_path / "images"
    _write_idx(path, IMAGES_MAGIC, (2, 3, 4), data)
    with pytest.raises(DataError, match=reason) as caught:
        read_idx(path)
    assert "(2, 3, 4)" in str(caught.value) and str(path) in str(caught.value)


def test_read_idx_refuses_a_cut_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(IMAGES_MAGIC.to_bytes(4, "big") + b"\x00\x00")
    with pytest.raises(DataError, match="header is cut short"):
        read_idx(path)


def test_a_keras_npz_is_used_only_when_no_idx_file_is_there(mnist_copy, tmp_path):
    assert mnist_source(mnist_copy) == "idx"
    npz_dir = tmp_path / "npz"
    (npz_dir / "mnist").mkdir(parents=True)
    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_copy, download=False)
    # Same arrays, but written by NumPy here, so not byte-identical to Keras' official file.
    np.savez(npz_dir / "mnist" / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert mnist_source(npz_dir) == "npz"
    with pytest.raises(DataError, match="not the official mnist.npz: sha256"):
        load_mnist(npz_dir, download=False)
