"""Every numeric setting is checked before anything trains: one clear line naming the key and the
value, no run folder, no traceback. The test walks every numeric key the schema, the optimizers and
the model builders know, so a new key without a range fails here."""

from __future__ import annotations

import inspect

import pytest

from shallowdeep.backend import keras
from shallowdeep.cli import main
from shallowdeep.experiments import OPTIMIZERS, SCHEMA
from shallowdeep.experiments.schema import OPTIMIZER_ARGUMENT_CHECKS
from shallowdeep.models import ARGUMENT_CHECKS, list_models, model_arguments

#: An out-of-range value for every numeric key of the schema, and a preset it applies to.
SCHEMA_CASES = {
    "dataset.image_size": ("xray-1", "[4, 4]"),
    "dataset.val_fraction": ("xray-1", "1.5"),
    "dataset.train_limit": ("raw-1", "-1"),
    "dataset.test_limit": ("raw-1", "-5"),
    "dataset.split_seed": ("xray-1", "-2"),
    "dataset.classes": ("raw-1", '["a", "a"]'),
    "features.divide_by": ("raw-1", "0.0"),
    "features.clahe": ("xray-best", "1.5"),
    "features.hog.orientations": ("hog-1", "0"),
    "features.hog.pixels_per_cell": ("hog-1", "0"),
    "features.hog.cells_per_block": ("hog-1", "0"),
    "training.batch_size": ("raw-1", "0"),
    "training.epochs": ("raw-1", "0"),
    "training.validation": ("raw-1", "1.0"),
    "training.seed": ("raw-1", "-1"),
    "training.steps_per_execution": ("raw-1", "0"),
    "training.warmup_epochs": ("mnist-fast", "-1.0"),
    "training.label_smoothing": ("mnist-fast", "1.0"),
    "training.mixup": ("xray-best", "-0.2"),
    "training.augmentation.rotation": ("mnist-best", "180.0"),
    "training.augmentation.zoom": ("mnist-best", "1.0"),
    "training.augmentation.shift": ("mnist-best", "-0.1"),
    "training.augmentation.shear": ("mnist-best", "60.0"),
    "training.augmentation.thickness": ("mnist-best", "3.5"),
    "training.augmentation.blur": ("mnist-best", "-1.0"),
    "training.augmentation.low_resolution": ("mnist-best", "2"),
    "training.augmentation.elastic": ("mnist-best", "101.0"),
    "training.augmentation.elastic_sigma": ("mnist-best", "0.0"),
    "training.augmentation.contrast": ("xray-best", "1.5"),
    "training.augmentation.brightness": ("xray-best", "-0.1"),
    "training.augmentation.gamma": ("xray-best", "3.0"),
    "evaluation.threshold": ("xray-1", "1.5"),
}
#: An out-of-range value for every argument the builders' checks know, and a preset using it.
BUILDER_CASES = {
    "hidden": ("raw-1", "[0]"),
    "filters": ("cnn-1", "[]"),
    "dense": ("cnn-1", "[-3]"),
    "blocks": ("mnist-fast", "[[32], []]"),
    "kernel_size": ("cnn-1", "0"),
    "pool_size": ("cnn-1", "0"),
    "stride": ("mnist-fast", "0"),
    "dropout": ("raw-2", "1.0"),
    "block_dropout": ("mnist-fast", "-0.5"),
}
#: An out-of-range value for every numeric argument of the optimizers, and an optimizer that has it.
OPTIMIZER_CASES = {
    "learning_rate": ("rmsprop", "-1.0"),
    "rho": ("rmsprop", "1.0"),
    "beta_1": ("adam", "1.5"),
    "beta_2": ("adam", "-0.1"),
    "ema_momentum": ("adam", "1.0"),
    "epsilon": ("adam", "0.0"),
    "momentum": ("sgd", "-0.9"),
    "weight_decay": ("adamw", "-0.01"),
    "clipnorm": ("adam", "0.0"),
    "clipvalue": ("adam", "-1.0"),
    "global_clipnorm": ("adam", "0.0"),
    "loss_scale_factor": ("adam", "0.0"),
    "ema_overwrite_frequency": ("adam", "0"),
    "gradient_accumulation_steps": ("adam", "0"),
}


def _numeric_schema_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, spec in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, dict):
            keys |= _numeric_schema_keys(spec, path)
        elif any(kind in (int, float, list) for kind in (spec.kind if isinstance(spec.kind, tuple) else (spec.kind,))):
            keys.add(path)
    return keys


def test_every_numeric_key_of_the_schema_has_a_case_here():
    assert _numeric_schema_keys(SCHEMA) == set(SCHEMA_CASES)


def test_every_numeric_argument_of_every_builder_has_a_range_and_a_case_here():
    numeric = {name for builder in list_models() for name, default in model_arguments(builder).items()
               if isinstance(default, (int, float, list, tuple)) and not isinstance(default, bool)}
    assert numeric == set(ARGUMENT_CHECKS) == set(BUILDER_CASES)


def test_every_numeric_argument_of_every_optimizer_has_a_range_and_a_case_here():
    numeric = set()
    for class_name in OPTIMIZERS.values():
        for parameter in inspect.signature(getattr(keras.optimizers, class_name)).parameters.values():
            if parameter.name not in ("name", "kwargs") and not isinstance(parameter.default, (bool, str)):
                numeric.add(parameter.name)
    assert numeric <= set(OPTIMIZER_ARGUMENT_CHECKS)
    assert numeric == set(OPTIMIZER_CASES)


def _refused(capsys, tmp_path, preset: str, assignments: list[str], key: str, value: str) -> None:
    overrides = [part for assignment in assignments for part in ("--set", assignment)]
    assert main(["train", preset, *overrides, "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("shallowdeep: error: ") and "\n" not in err and "Traceback" not in err
    assert f"{key} = " in err and "is not allowed; expected" in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("key", "case"), SCHEMA_CASES.items(), ids=list(SCHEMA_CASES))
def test_an_out_of_range_setting_is_refused_before_training(key, case, capsys, tmp_path):
    preset, value = case
    _refused(capsys, tmp_path, preset, [f"{key}={value}"], key, value)


@pytest.mark.parametrize(("argument", "case"), BUILDER_CASES.items(), ids=list(BUILDER_CASES))
def test_an_out_of_range_builder_argument_is_refused_before_training(argument, case, capsys, tmp_path):
    preset, value = case
    _refused(capsys, tmp_path, preset, [f"model.args.{argument}={value}"], f"model.args.{argument}", value)


@pytest.mark.parametrize(("argument", "case"), OPTIMIZER_CASES.items(), ids=list(OPTIMIZER_CASES))
def test_an_out_of_range_optimizer_argument_is_refused_before_training(argument, case, capsys, tmp_path):
    optimizer, value = case
    assignments = [f"training.optimizer={optimizer}", f"training.optimizer_args={{ {argument} = {value} }}"]
    _refused(capsys, tmp_path, "raw-1", assignments, f"training.optimizer_args.{argument}", value)
