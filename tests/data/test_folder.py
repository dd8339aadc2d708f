"""Your own image folder as a dataset: one subfolder per class, any size, greyscale or colour; any
preset trains on it, the run keeps the class names, and the chest X-ray folder read as a plain image
folder gives the chest X-ray loader's test images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shallowdeep.cli import main
from shallowdeep.data import DataError
from shallowdeep.data.folder import folder_classes, load_image_folder
from shallowdeep.experiments import ConfigError, load_experiment
from shallowdeep.prepare import load_images
from shallowdeep.runs import Run

CLASSES = ("Circles", "bars", "dots")  # label order: case-insensitive


def _picture(kind: str, index: int, rng: np.random.Generator) -> Image.Image:
    """A picture of its class at a size, mode and bit depth that change from file to file."""
    side = 40 + 7 * (index % 4)
    y, x = np.mgrid[:side, :side] / side
    if kind == "Circles":
        ink = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1 + 0.02 * rng.random()).astype(float)
    elif kind == "bars":
        ink = (np.sin(x * (8 + 4 * rng.random()) * np.pi) > 0).astype(float)
    else:
        ink = (rng.random((side, side)) > 0.9).astype(float)
    if index % 3 == 0:
        return Image.fromarray((ink * 65535).astype(np.uint16))  # 16-bit grey
    grey = (ink * 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, grey // 2, grey], axis=-1)) if index % 3 == 1 else Image.fromarray(grey)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    for split, count in (("train", 40), ("test", 12)):
        for kind in CLASSES:
            folder = root / split / kind
            folder.mkdir(parents=True)
            for index in range(count):
                jpeg = index % 5 == 4 and index % 3 != 0  # JPEG holds 8 bits only
                _picture(kind, index, rng).save(folder / f"{kind}-{index:03d}.{'jpg' if jpeg else 'png'}")
    (root / "train" / "bars" / "notes.txt").write_text("not an image")
    return root


def test_the_class_names_are_the_train_folder_s_subfolders_in_case_insensitive_order(image_folder):
    assert folder_classes(image_folder) == ("bars", "Circles", "dots")
    experiment = load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(image_folder)})
    assert experiment.class_names == ("bars", "Circles", "dots") and experiment["dataset"]["classes"] == list(
        experiment.class_names)


def test_images_of_any_size_mode_and_depth_become_grey_levels_of_the_image_size(image_folder):
    with pytest.warns(UserWarning, match=r"skipped 1 non-image file.*\*\.txt x1"):
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_image_folder(
            image_folder, ("bars", "Circles", "dots"), (24, 24), 0.25, seed=0, cache=False, progress=False)
    assert x_train.shape[1:] == (24, 24) and x_train.dtype == np.uint8
    assert len(y_train) + len(y_val) == 120 and len(y_test) == 36
    assert sorted(np.bincount(y_val)) == [10, 10, 10]  # stratified: a quarter of each class
    sixteen_bit = x_test[y_test == 1][0]  # Circles-000.png, 16-bit: scaled, not clipped to white
    assert sixteen_bit.min() < 50 and sixteen_bit.max() > 200


def test_the_training_images_come_shuffled_so_a_validation_fraction_holds_every_class(image_folder):
    experiment = load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(image_folder),
                                             "training.validation": 0.25})
    with pytest.warns(UserWarning, match="skipped 1 non-image file"):
        splits = load_images(experiment, progress=False)
    assert splits.val is None and len(splits.train[1]) == 120  # nothing carved: cnn-1 cuts its own 25 %
    assert set(np.unique(splits.train[1][-30:])) == {0, 1, 2}


@pytest.mark.slow
def test_shallowdeep_train_runs_any_preset_on_a_folder_and_the_run_keeps_its_classes(image_folder, tmp_path, capsys):
    mine, runs = tmp_path / "mine", tmp_path / "runs"
    shutil.copytree(image_folder, mine)
    assert main(["train", "cnn-1", "--set", "dataset.name=folder", "--set", f"dataset.path={mine}",
                 "--set", "dataset.image_size=[32, 32]", "--set", "training.epochs=1", "--runs-dir", str(runs),
                 "--no-progress"]) == 0
    assert "folder, image 32x32" in capsys.readouterr().out
    shutil.rmtree(mine)  # the run keeps what it needs: the class names are in its config.toml
    run = Run.open(next(runs.glob("cnn-1/*")))
    assert run.experiment.class_names == ("bars", "Circles", "dots")
    assert run.metrics["test"]["samples"] == 36 and len(run.metrics["test"]["confusion_matrix"]) == 3
    assert main(["predict", str(run.path), str(image_folder / "test" / "dots" / "dots-001.png")]) == 0
    predicted = capsys.readouterr().out
    assert all(name in predicted for name in ("bars", "Circles", "dots")), predicted


def test_a_folder_experiment_says_which_key_and_what_is_wrong(image_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.path is empty: name your folder: --set dataset\.path=DIR"):
        load_experiment("cnn-1", **{"dataset.name": "folder"})
    with pytest.raises(ConfigError, match=r"dataset\.path = '.*nowhere': image folder .*nowhere does not exist"):
        load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(tmp_path / "nowhere")})
    (tmp_path / "one" / "train" / "only").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"holds 1 class folder\(s\) \(only\); .* at least two"):
        load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(tmp_path / "one")})
    with pytest.raises(ConfigError, match=r"dataset\.classes = \[\"a\", \"a\"\] is not allowed; expected a list of distinct"):
        load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(image_folder),
                                    "dataset.classes": ["a", "a"]})
    partial = tmp_path / "partial"
    shutil.copytree(image_folder / "train", partial / "train")
    shutil.copytree(image_folder / "test" / "bars", partial / "test" / "bars")
    experiment = load_experiment("cnn-1", **{"dataset.name": "folder", "dataset.path": str(partial)})
    with pytest.raises(DataError, match=r"test has no 'Circles' folder \(found: \['bars'\]\)"):
        load_images(experiment, progress=False)


@pytest.mark.slow
def test_the_chest_x_ray_folder_read_as_any_image_folder_gives_the_chest_x_ray_loader_s_test_images(real_chest_xray):
    settings = {"dataset.image_size": [32, 32], "dataset.test_limit": 100}
    as_folder = load_experiment("xray-1", **{"dataset.name": "folder", "dataset.path": str(real_chest_xray),
                                             **settings})
    assert as_folder.class_names == ("NORMAL", "PNEUMONIA")
    folder_test = load_images(as_folder, progress=False).test
    xray_test = load_images(load_experiment("xray-1", **{"dataset.path": str(real_chest_xray), **settings}),
                            progress=False).test
    assert np.array_equal(folder_test[0], xray_test[0]) and np.array_equal(folder_test[1], xray_test[1])
