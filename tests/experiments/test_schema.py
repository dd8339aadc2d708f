"""Experiment files: every default visible, every mistake refused before training, by name."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from shallowdeep.experiments import OPTIMIZERS, ConfigError, list_presets, load_experiment, parse_assignment
from shallowdeep.experiments.schema import OPTIMIZER_DEFAULTS, OPTIMIZER_OPTIONAL_ARGUMENTS

SEED = ["raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3", "cnn-1", "cnn-2", "cnn-3", "xray-1"]
HANDOUT = ["handout-raw", "handout-hog", "handout-cnn"]
POOLED = ["cnn-1-pooled", "cnn-2-pooled", "cnn-3-pooled"]
BEST = ["mnist-fast", "mnist-best", "mnist-robust", "xray-best", "pneumoniamnist-best"]
#: Kept to compare with a member of a suite, trained by no suite.
COMPARED = ["xray-best-v1"]


def test_the_presets_are_the_lab_s_experiments_and_the_best_suite():
    assert sorted(list_presets()) == sorted(SEED + HANDOUT + POOLED + BEST + COMPARED)
    assert all(load_experiment(name)["suite"] == "" for name in COMPARED)
    suites = {name: load_experiment(name)["suite"] for name in list_presets()}
    assert [n for n in SEED if suites[n] == "seed"] == SEED
    assert all(suites[n] == "handout" for n in HANDOUT) and all(suites[n] == "pooled" for n in POOLED)
    assert all(suites[n] == "best" for n in BEST)


def test_the_best_suite_chooses_binary_thresholds_on_validation_only():
    binary = [name for name in BEST if load_experiment(name).binary]
    assert binary == ["xray-best", "pneumoniamnist-best"]
    for name in binary:
        experiment = load_experiment(name)
        assert experiment["evaluation"]["threshold"] == "validation"
        assert experiment["training"]["validation"] == "dataset"  # a split of train, never the test set


def test_the_resolved_experiment_shows_every_default():
    resolved = load_experiment("cnn-3").config
    assert resolved["training"]["optimizer_args"] == {
        "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
        "centered": False, "use_ema": False, "ema_momentum": 0.99,
    }
    assert resolved["training"]["seed"] == 0 and resolved["training"]["precision"] == "auto"
    assert resolved["model"]["args"]["pool"] == "last" and resolved["model"]["args"]["pool_size"] == 2
    assert resolved["features"]["hog"]["block_norm"] == "L2-Hys"


def test_the_optimizers_arguments_kept_as_data_are_those_of_the_installed_keras():
    """An experiment is checked without a backend, so the optimizers' arguments are kept as data:
    each default an experiment shows, of the same type and in the same order as in Keras' signature,
    and every other argument it may set."""
    from shallowdeep.backend import keras

    for key, class_name in OPTIMIZERS.items():
        parameters = [p for p in inspect.signature(getattr(keras.optimizers, class_name)).parameters.values()
                      if p.name not in ("name", "kwargs")]
        shown = [(p.name, type(p.default), p.default) for p in parameters if p.default is not None]
        assert shown == [(name, type(value), value) for name, value in OPTIMIZER_DEFAULTS[key].items()], key
        assert {p.name for p in parameters if p.default is None} == set(OPTIMIZER_OPTIONAL_ARGUMENTS) - set(
            OPTIMIZER_DEFAULTS[key]), key


def test_checking_every_preset_and_listing_them_start_no_backend():
    """What a sweep's driver and ``shallowdeep list`` do: Keras and its backend load only to train."""
    script = ("import sys\n"
              "from shallowdeep.api import preset_summaries\n"
              "from shallowdeep.experiments import list_presets, load_experiment\n"
              "[load_experiment(name) for name in list_presets()]\n"
              "preset_summaries()\n"
              "print(sorted({'keras', 'tensorflow', 'torch', 'jax'} & set(sys.modules)))\n")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["[]"]


@pytest.mark.parametrize("name", SEED + HANDOUT + POOLED + BEST)
def test_the_resolved_toml_reads_back_to_the_same_experiment(name, tmp_path):
    experiment = load_experiment(name)
    assert tomllib.loads(experiment.to_toml()) == experiment.config
    (tmp_path / "copy.toml").write_text(experiment.to_toml())
    again = load_experiment(tmp_path / "copy.toml")
    assert again.config == experiment.config and again.digest() == experiment.digest()


def test_overrides_are_read_as_toml_values():
    assert parse_assignment("training.epochs=2") == ("training.epochs", 2)
    assert parse_assignment("train.epochs=2") == ("training.epochs", 2)
    assert parse_assignment("model.args.dense=[64, 32]") == ("model.args.dense", [64, 32])
    assert parse_assignment("training.optimizer=adam") == ("training.optimizer", "adam")
    experiment = load_experiment(
        "cnn-3", ["training.epochs=2", "training.optimizer=adam", "training.optimizer_args={learning_rate = 0.01}"]
    )
    assert experiment["training"]["epochs"] == 2
    # Another optimizer brings its own defaults beside the value set.
    assert experiment["training"]["optimizer_args"]["beta_1"] == 0.9
    assert experiment["training"]["optimizer_args"]["learning_rate"] == 0.01


def test_arguments_of_another_optimizer_are_refused():
    with pytest.raises(ConfigError, match="unknown key training.optimizer_args.momentum; allowed: amsgrad"):
        load_experiment("cnn-3", ["training.optimizer=adam"])


def test_an_override_changes_the_digest_a_description_does_not():
    base = load_experiment("cnn-3")
    assert load_experiment("cnn-3", ["training.epochs=5"]).digest() != base.digest()
    assert load_experiment("cnn-3", ['description="mine"']).digest() == base.digest()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.epochs=-1"], "training.epochs = -1 is not allowed; expected a value of at least 1"),
        (["training.epochs=2.5"], "training.epochs = 2.5 is not allowed; expected an integer"),
        (["training.epoch=3"], "unknown key training.epoch in [training]; allowed: optimizer"),
        (["trainig.epochs=3"], "unknown key trainig at the top level"),
        (["training.optimizer=adagrad"], "training.optimizer = \"adagrad\" is not allowed; expected one of 'rmsprop'"),
        (["training.optimizer_args.lr=0.1"], "unknown key training.optimizer_args.lr; allowed:"),
        (["model.args.units=3"], "unknown key model.args.units; allowed: activation, batch_norm"),
        (["model.builder=resnet"], "model.builder = \"resnet\" is not allowed; expected one of 'cnn', 'convnet', 'mlp'"),
        (["training.validation=1.5"], "training.validation = 1.5 is not allowed"),
        (['training.validation="dataset"'], "MNIST handwritten digits has no val split"),
        (["training.loss=binary_crossentropy"], "mnist has 10 classes"),
        (["dataset.image_size=[32, 32]"], "[28, 28] for MNIST"),
        (["features.kind=hog", "features.hog.pixels_per_cell=20", "features.hog.cells_per_block=2"],
         "features.hog.cells_per_block = 2 is not allowed; expected at most 1"),
        (["training.class_weight=heavy"], "\"none\", \"balanced\" or a table"),
        (["training.precision=fp8"], "one of 'auto', 'fp32', 'bf16', 'fp16'"),
        (["training.schedule=step"], "training.schedule = \"step\" is not allowed; expected one of 'constant', 'cosine'"),
        (["training.warmup_epochs=5"], "training.warmup_epochs = 5.0 is not allowed; expected at most training.epochs = 4"),
        (["training.label_smoothing=1.0"], "expected a number in [0, 1)"),
        (["training.loss=sparse_categorical_crossentropy", "training.label_smoothing=0.1"],
         "0 with sparse_categorical_crossentropy"),
        (["training.augmentation.rotation=200"], "training.augmentation.rotation = 200.0 is not allowed"),
        (["training.augmentation.flip=1"], "training.augmentation.flip = 1 is not allowed; expected true or false"),
        (["features.kind=raw", "training.augmentation.shift=0.1"],
         "training.augmentation.shift = 0.1 is not allowed; expected 0: augmentation warps images"),
        (["features.kind=hog", "training.augmentation.elastic=34"],
         "training.augmentation.elastic = 34.0 is not allowed; expected 0: augmentation warps images"),
        (["training.augmentation.thickness=4"], "training.augmentation.thickness = 4.0 is not allowed; expected a number in [0, 3]"),
        (["training.augmentation.blur=-1"], "training.augmentation.blur = -1.0 is not allowed; expected a number in [0, 3]"),
        (["training.augmentation.shear=75"], "training.augmentation.shear = 75.0 is not allowed; expected a number in [0, 60)"),
        (["training.augmentation.low_resolution=2"], "expected 0 (off) or a side of at least 4 pixels"),
        (["training.augmentation.low_resolution=28"],
         "training.augmentation.low_resolution = 28 is not allowed; expected 0 or a side below the image's (28x28)"),
        (["training.augmentation.elastic_sigma=0.1"], "elastic_sigma = 0.1 is not allowed; expected a number in [0.5, 20]"),
        (["features.divide_by=1", "training.augmentation.gamma=0.3"],
         "training.augmentation.gamma = 0.3 is not allowed; expected 0 unless features.divide_by = 255"),
        (['dataset.name="synthdigits"'], "dataset.name = \"synthdigits\" is not allowed; expected one of 'mnist', "
                                         "'pneumoniamnist', 'chest_xray', 'folder' (synthdigits is for evaluation only: "
                                         "`shallowdeep evaluate RUN --dataset synthdigits`)"),
    ],
)
def test_impossible_values_are_refused_naming_the_source_key_and_value(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_experiment("cnn-3", overrides)
    assert str(caught.value).startswith("preset cnn-3 (with --set")
    assert message in str(caught.value)


def test_a_user_file_is_named_in_its_errors(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[training]\nepochs = 0\n')
    with pytest.raises(ConfigError, match=f"{path}: training.epochs = 0 is not allowed"):
        load_experiment(path)


def test_a_user_file_takes_its_name_from_the_file_and_defaults_from_the_schema(tmp_path):
    path = tmp_path / "tiny-mlp.toml"
    path.write_text('[model]\nargs = { hidden = [16] }\n[training]\nepochs = 1\n')
    experiment = load_experiment(path)
    assert experiment.name == "tiny-mlp"
    assert experiment["dataset"]["name"] == "mnist" and experiment["features"]["kind"] == "raw"


def test_broken_toml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[training\nepochs = 1\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load_experiment(path)


def test_an_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="no preset named 'cnn-9'.*cnn-1, cnn-1-pooled"):
        load_experiment("cnn-9")
