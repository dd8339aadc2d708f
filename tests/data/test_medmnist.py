"""PneumoniaMNIST: the official .npz loads with its split sizes; bad files are refused safely."""

from __future__ import annotations

import numpy as np
import pytest

from shallowdeep.data import DataError, load_pneumoniamnist
from shallowdeep.data.medmnist import read_medmnist_npz


def test_real_pneumoniamnist_has_official_splits(real_data_dir):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_pneumoniamnist(
        data_dir=real_data_dir, download=False
    )
    assert [len(x_train), len(x_val), len(x_test)] == [4708, 524, 624]
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (4708,)
    assert [np.bincount(y).tolist() for y in (y_train, y_val, y_test)] == [
        [1214, 3494], [135, 389], [234, 390],
    ]


def test_unknown_size_is_refused_with_the_sizes_that_exist():
    with pytest.raises(DataError, match=r"choose one of \(28, 64, 128, 224\)"):
        load_pneumoniamnist(size=32)


def test_truncated_copy_is_refused_with_the_reason(real_data_dir, tmp_path):
    folder = tmp_path / "pneumoniamnist"
    folder.mkdir()
    original = (real_data_dir / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes()
    (folder / "pneumoniamnist.npz").write_bytes(original[: len(original) // 3])
    with pytest.raises(DataError) as caught:
        load_pneumoniamnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(folder / "pneumoniamnist.npz") in message
    assert "28209eda62fecd6e6a2d98b1501bb15f" in message
    assert "not a readable .npz" in message


def test_missing_key_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, train_images=np.zeros((4708, 28, 28), np.uint8))
    with pytest.raises(DataError, match="no array train_labels, val_images"):
        read_medmnist_npz(path, 28)


def test_wrong_shape_is_named(real_data_dir, tmp_path):
    splits = read_medmnist_npz(real_data_dir / "pneumoniamnist" / "pneumoniamnist.npz", 28)
    arrays = {}
    for split, (images, labels) in zip(("train", "val", "test"), splits):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels[:, None]
    arrays["val_images"] = arrays["val_images"][:, :27]
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(DataError, match=r"val images have shape \(524, 27, 28\).*expected \(524, 28, 28\)"):
        read_medmnist_npz(tmp_path / "shape.npz", 28)


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "pickled.npz"
    arrays = {f"{split}_{kind}": np.zeros(1, np.uint8) for split in ("train", "val", "test") for kind in ("images", "labels")}
    arrays["train_images"] = np.array([{"payload": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="not a readable .npz"):
        read_medmnist_npz(path, 28)


def test_download_goes_through_the_mirror_and_is_verified(real_data_dir, tmp_path, local_server, monkeypatch):
    payload = (real_data_dir / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes()
    local_server.serve_bytes("/medmnist/pneumoniamnist/pneumoniamnist.npz", payload)
    monkeypatch.setenv("SHALLOWDEEP_MIRROR", local_server.url + "/medmnist")
    (x_train, _), _, _ = load_pneumoniamnist(data_dir=tmp_path, progress=False)
    assert len(x_train) == 4708
    assert sorted(p.name for p in (tmp_path / "pneumoniamnist").iterdir()) == ["pneumoniamnist.npz"]
