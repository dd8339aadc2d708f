"""The chest X-ray folder: any letter case, any image format and bit depth, aligned labels, honest errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shallowdeep.data import DataError, DataWarning, load_chest_xray, patient_id
from shallowdeep.data.folder import carve_validation
from shallowdeep.experiments import load_experiment
from shallowdeep.prepare import load_images

# Each generated image is flat grey at a level that encodes its class, so a label can be
# checked against the pixels it came with.
LEVEL = {0: 40, 1: 210}


def write_image(path, label, mode="L", size=(50, 40), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = LEVEL[label] if mode == "L" else (LEVEL[label],) * 3
    Image.new(mode, size, colour).save(path, format=fmt)


@pytest.fixture
def messy_tree(tmp_path):
    """Mixed-case folders, grayscale and RGB JPEGs of two sizes, a PNG, and junk files."""
    root = tmp_path / "xray"
    for index in range(6):
        write_image(root / "Train" / "normal" / f"IM-{index:04d}-0001.jpeg", 0)
        write_image(root / "Train" / "PNEUMONIA" / f"person{index}_bacteria_{index}.jpeg", 1, mode="RGB", size=(64, 80))
    write_image(root / "Train" / "PNEUMONIA" / "person9_virus_1.png", 1, fmt="PNG")
    for index in range(3):
        write_image(root / "TEST" / "Normal" / f"IM-{100 + index:04d}-0001.jpg", 0)
        write_image(root / "TEST" / "pneumonia" / f"person{100 + index}_virus_1.JPEG", 1, mode="RGB")
    (root / "Train" / "normal" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / "TEST" / "pneumonia" / "Thumbs.db").write_bytes(b"junk")
    return root


def assert_aligned(images, labels):
    means = images.reshape(len(images), -1).mean(axis=1)
    expected = np.array([LEVEL[int(label)] for label in labels])
    assert np.all(np.abs(means - expected) < 3), "an image came out with another image's label"


def test_messy_tree_loads_every_image_with_its_own_label(messy_tree):
    with pytest.warns(DataWarning, match=r"skipped 2 non-image file\(s\)") as record:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_chest_xray(
            messy_tree, image_size=(32, 24), val_fraction=0.25, seed=1, progress=False
        )
    assert len([w for w in record if "non-image" in str(w.message)]) == 1
    assert x_train.shape[1:] == (32, 24) and x_train.dtype == np.uint8
    assert len(x_train) + len(x_val) == 13 and len(x_test) == 6
    assert np.bincount(y_test).tolist() == [3, 3]
    # Stratified: both classes are in validation.
    assert sorted(set(y_val.tolist())) == [0, 1]
    for images, labels in ((x_train, y_train), (x_val, y_val), (x_test, y_test)):
        assert_aligned(images, labels)


@pytest.mark.filterwarnings("ignore:skipped 2 non-image")
def test_loading_twice_gives_identical_arrays_in_the_same_order(messy_tree):
    first = load_chest_xray(messy_tree, image_size=(16, 16), progress=False)
    second = load_chest_xray(messy_tree, image_size=(16, 16), progress=False, cache=False)
    for (x1, y1), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


@pytest.mark.filterwarnings("ignore:the val folder")
def test_a_16_bit_image_loads_as_its_8_bit_version_does(tmp_path):
    # The same scans twice: in 16 bits, and in 8 bits as an image editor saves them (nearest level, v / 257).
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for class_name in ("NORMAL", "PNEUMONIA"):
            ramp = np.linspace(0, 60_000, 60)[:, None]  # a vertical ramp with noise in every bit
            wide = (ramp + rng.integers(0, 5_000, (60, 50))).astype(np.uint16)
            for depth, pixels in (("16", wide), ("8", np.round(wide / 257).astype(np.uint8))):
                path = tmp_path / f"xray-{depth}" / split / class_name / f"person1_virus_{split}.png"
                path.parent.mkdir(parents=True)
                Image.fromarray(pixels).save(path)
    assert Image.open(tmp_path / "xray-16" / "test" / "NORMAL" / "person1_virus_test.png").mode == "I;16"
    sixteen, eight = (load_chest_xray(tmp_path / f"xray-{depth}", image_size=(32, 24), cache=False, progress=False)
                      for depth in ("16", "8"))
    for (x16, y16), (x8, y8) in zip(sixteen, eight):
        np.testing.assert_array_equal(y16, y8)
        assert np.abs(x16.astype(int) - x8).max() <= 1  # the two roundings to 8 bits differ by a level at most
        assert 100 < x16.mean() < 150  # clipped, it was almost all white


@pytest.mark.filterwarnings("ignore:skipped 2 non-image")
def test_a_broken_image_is_named_by_its_path(messy_tree):
    broken = messy_tree / "Train" / "normal" / "IM-0002-0001.jpeg"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DataError) as caught:
        load_chest_xray(messy_tree, image_size=(16, 16), progress=False)
    assert str(broken) in str(caught.value)
    assert "skip_unreadable" in str(caught.value)


@pytest.mark.filterwarnings("ignore:skipped 2 non-image")
def test_a_broken_image_can_be_skipped_together_with_its_label(messy_tree):
    broken = messy_tree / "TEST" / "Normal" / "IM-0101-0001.jpg"
    broken.write_bytes(b"not an image at all")
    with pytest.warns(DataWarning, match="IM-0101-0001.jpg"):
        _, _, (x_test, y_test) = load_chest_xray(
            messy_tree, image_size=(16, 16), skip_unreadable=True, progress=False
        )
    assert np.bincount(y_test).tolist() == [2, 3]
    assert_aligned(x_test, y_test)


@pytest.mark.filterwarnings("ignore:skipped 2 non-image")
def test_a_val_folder_is_used_as_is_and_a_tiny_one_is_flagged(messy_tree):
    write_image(messy_tree / "Val" / "NORMAL" / "IM-0200-0001.jpeg", 0)
    write_image(messy_tree / "Val" / "PNEUMONIA" / "person200_virus_1.jpeg", 1)
    with pytest.warns(DataWarning, match="only 2 images"):
        (x_train, _), (x_val, y_val), _ = load_chest_xray(messy_tree, image_size=(8, 8), progress=False)
    assert len(x_train) == 13 and y_val.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("remove", "message"),
    [("TEST", "has no 'test' folder"), ("Train/normal", "has no 'NORMAL' folder")],
)
def test_missing_folders_are_named(messy_tree, remove, message):
    import shutil

    shutil.rmtree(messy_tree / remove)
    with pytest.raises(DataError, match=message):
        load_chest_xray(messy_tree, progress=False)


def test_an_empty_class_folder_is_an_error(messy_tree):
    for path in (messy_tree / "TEST" / "Normal").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"Normal holds no image"):
        load_chest_xray(messy_tree, progress=False)


def test_no_folder_in_the_data_directory_says_how_to_get_one(tmp_path):
    with pytest.raises(DataError, match="data.mendeley.com"):
        load_chest_xray(data_dir=tmp_path)


def test_patient_ids_follow_kermany_file_names():
    assert patient_id("person1000_bacteria_2931.jpeg") == "person1000"
    assert patient_id("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert patient_id("IM-0117-0001-0002.jpeg") == "IM-0117"
    assert patient_id("scan.png") == "scan"


def test_carved_validation_is_stratified_and_keeps_patients_together():
    labels = np.array([0] * 40 + [1] * 60)
    groups = [f"p{i // 2}" for i in range(100)]  # two images per patient
    mask = carve_validation(labels, groups, fraction=0.2, seed=0)
    assert mask[:40].sum() == 8 and mask[40:].sum() == 12
    for patient in set(groups):
        members = [mask[i] for i, g in enumerate(groups) if g == patient]
        assert len(set(members)) == 1
    np.testing.assert_array_equal(mask, carve_validation(labels, groups, 0.2, seed=0))
    assert not np.array_equal(mask, carve_validation(labels, groups, 0.2, seed=1))


def test_real_chest_xray_has_official_counts(real_chest_xray):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_chest_xray(
        real_chest_xray, image_size=(64, 64), progress=False
    )
    assert x_test.shape == (624, 64, 64)
    assert np.bincount(y_test).tolist() == [234, 390]
    assert (np.bincount(y_train) + np.bincount(y_val)).tolist() == [1341, 3875]
    assert 0.09 < len(y_val) / 5216 < 0.11


def test_runs_that_share_a_split_seed_share_their_validation_patients(real_data_dir, real_chest_xray):
    """``dataset.split_seed`` fixes the carved validation whatever ``training.seed``: the members of
    a seed ensemble can be judged on one split that none of them trained on."""
    def validation(*settings):
        experiment = load_experiment("xray-1", ["dataset.image_size=[64, 64]", *settings])
        return load_images(experiment, real_data_dir, progress=False).val

    first = validation("training.seed=0", "dataset.split_seed=0")
    second = validation("training.seed=1", "dataset.split_seed=0")
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    own = validation("training.seed=1")
    assert own[0].shape != first[0].shape or not np.array_equal(own[0], first[0])
