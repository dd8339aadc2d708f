"""The dataset registry: every dataset answers every hook the rest of the package asks, an unknown
name is one clear error, and no module outside a dataset's own tells datasets apart by name."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from PIL import Image

from shallowdeep.data import DATASETS, Dataset, DataError, check_datasets, dataset_names, get_dataset
from shallowdeep.data.files import FileCheck
from shallowdeep.experiments import ConfigError, load_experiment, quick_overrides
from shallowdeep.experiments.schema import SCHEMA

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "shallowdeep"
#: The flags a dataset sets, and the values each may take.
#: Where a dataset's name is also an ordinary word of the code, and what it names there.
THE_SAME_WORD = {("sweeps/results.py", "folder"): "a sweep result's folder field, left out of its JSON"}
FLAGS = {"digits": {True, False}, "xrays": {True, False}, "lab_part": {"digits", "xrays", None},
         "reads_folder": {True, False}, "own_validation": {True, False}}


def test_every_dataset_with_facts_is_registered_and_only_those():
    assert dataset_names() == list(DATASETS)
    assert all(get_dataset(name).info is DATASETS[name] for name in DATASETS)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_registered_dataset_answers_every_hook(name, tmp_path):
    dataset = get_dataset(name)
    assert isinstance(dataset, Dataset) and dataset.name == name
    for flag, allowed in FLAGS.items():
        assert getattr(dataset, flag) in allowed, f"{name}.{flag} = {getattr(dataset, flag)!r}"
    assert dataset.how_to_get
    assert all(isinstance(check, FileCheck) for check in dataset.check(None, download=False, progress=False))
    if not dataset.trainable:
        with pytest.raises(DataError, match="for evaluation only"):
            dataset.load({}, 0, None, progress=False, own_validation=False)
        return
    default_size = SCHEMA["dataset"]["image_size"].default
    folder = {}
    if name == "folder":  # the one dataset that needs a folder named
        for split, kind in itertools.product(("train", "test"), ("a", "b")):
            (tmp_path / split / kind).mkdir(parents=True)
            for index in range(10):
                Image.new("L", (8, 8)).save(tmp_path / split / kind / f"{index}.png")
        folder = {"dataset.path": str(tmp_path)}
    problem = dataset.image_size_problem([3, 5])
    assert problem is None or (isinstance(problem, str) and problem)
    experiment = load_experiment("raw-1", **{"dataset.name": name, "dataset.image_size": _a_size(dataset, default_size),
                                             "training.loss": "sparse_categorical_crossentropy", **folder})
    assert quick_overrides(name) and experiment.with_overrides(quick_overrides(name))["training"]["epochs"] == 1
    train, validation = dataset.validation_sizes(experiment["dataset"])
    assert train > 0 and validation >= 0 and (validation > 0) == dataset.own_validation


def _a_size(dataset: Dataset, default: list[int]) -> list[int]:
    for size in (default, [28, 28], [64, 64], [128, 128]):
        if dataset.image_size_problem(size) is None:
            return size
    raise AssertionError(f"{dataset.name} accepts none of the usual image sizes")


def test_an_unknown_dataset_is_one_clear_error_naming_the_known_ones():
    with pytest.raises(DataError, match=r"unknown dataset 'cifar10'; known: mnist, pneumoniamnist, chest_xray"):
        get_dataset("cifar10")
    with pytest.raises(DataError, match=r"unknown dataset\(s\) cifar10; known: mnist"):
        check_datasets(["cifar10"])


def _compared_names(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """Dataset names a module compares with (``==``, ``!=``, ``in``) or looks up by (``X["mnist"]``)."""
    found = []
    for node in ast.walk(tree):
        operands = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Subscript):
            operands = [node.slice]
        for operand in operands:
            for leaf in (operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]):
                if isinstance(leaf, ast.Constant) and leaf.value in names:
                    found.append((node.lineno, leaf.value))
    return found


def test_no_module_outside_a_dataset_s_own_tells_datasets_apart_by_name():
    names = set(DATASETS)
    own = {PACKAGE / "data" / file for file in ("info.py", "mnist.py", "medmnist.py", "chest_xray.py", "folder.py",
                                                  "synthdigits.py", "make_synthdigits.py")}
    compared = [f"{path.relative_to(PACKAGE)}:{line} {name!r}" for path in sorted(PACKAGE.rglob("*.py"))
                if path not in own for line, name in _compared_names(ast.parse(path.read_text("utf-8")), names)
                if (path.relative_to(PACKAGE).as_posix(), name) not in THE_SAME_WORD]
    assert compared == [], "ask the dataset (shallowdeep.data.get_dataset) instead of comparing its name"


def test_the_name_check_sees_comparisons_and_lookups():
    tree = ast.parse('a == "mnist"\nb in ("chest_xray", "x")\nQUICK["pneumoniamnist"]\nc = "mnist"')
    assert _compared_names(tree, set(DATASETS)) == [(1, "mnist"), (2, "chest_xray"), (3, "pneumoniamnist")]


@pytest.fixture
def inverted_mnist(real_data_dir):
    """A dataset added as ARCHITECTURE.md's recipe says: MNIST's digits, light paper and dark ink."""
    from shallowdeep.data import load_mnist
    from shallowdeep.data.info import MNIST, DatasetInfo
    from shallowdeep.data.registry import _REGISTRY, register

    @register
    class InvertedMnist(Dataset):
        info = DatasetInfo(name="mnist-inverted", title="MNIST, dark ink on light paper", citation=MNIST.citation,
                           license=MNIST.license, homepage=MNIST.homepage, folder=MNIST.folder, classes=MNIST.classes,
                           n_samples=MNIST.n_samples)
        quick = {"dataset.train_limit": 1000, "dataset.test_limit": 200, "training.epochs": 1}

        def image_size_problem(self, size):
            return None if list(size) == [28, 28] else "[28, 28], MNIST's size"

        def load(self, section, seed, data_dir, progress, own_validation):
            (x_train, y_train), (x_test, y_test) = load_mnist(data_dir, progress=progress)
            return (255 - x_train, y_train), None, (255 - x_test, y_test)

        def check(self, data_dir, download, progress):
            return get_dataset("mnist").check(data_dir, download, progress)

    yield InvertedMnist
    _REGISTRY.pop("mnist-inverted")


@pytest.mark.slow
def test_a_dataset_added_by_the_recipe_trains_with_every_preset_s_settings(inverted_mnist, real_data_dir, tmp_path):
    import shallowdeep as sd

    assert "mnist-inverted" in dataset_names(trainable=True)
    settings = {"dataset.name": "mnist-inverted", **quick_overrides("mnist-inverted")}
    run = sd.train("hog-1", runs_dir=tmp_path, data_dir=real_data_dir, progress=False, **settings)
    assert run.experiment.dataset == "mnist-inverted" and len(run.predictions.test_labels) == 200
    assert run.metrics["test"]["accuracy"] > 0.3  # ten classes: chance is 0.1 (0.49 on the Zen 4); HOG reads edges, not ink
    with pytest.raises(ConfigError, match=r"dataset.image_size.*\[28, 28\], MNIST's size"):
        load_experiment("raw-1", **{"dataset.name": "mnist-inverted", "dataset.image_size": [32, 32]})
