"""What an experiment file may say: every key, its default, its type and its allowed values.

An experiment file has the sections ``[dataset]``, ``[features]``, ``[model]``, ``[training]`` and
``[evaluation]``. Everything it leaves out takes the default below; :func:`validate` fills in
every default and checks every value, so the *resolved* experiment shows the whole. Every problem
is reported before anything is trained, as one :class:`ConfigError` naming the file (or the
override), the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shallowdeep.data import DataError, dataset_names, get_dataset
from shallowdeep.experiments.files import ConfigError, toml_value
from shallowdeep.features import BLOCK_NORMS, hog_feature_size

OPTIMIZERS = {"rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "nadam": "Nadam"}
_EMA = {"use_ema": False, "ema_momentum": 0.99}
#: The arguments of each optimizer's Keras class, the same from Keras 3.5 to 3.15, kept as data so
#: that checking an experiment loads no backend (tests/experiments/test_schema.py compares them
#: with the installed Keras): the defaults an experiment file shows, in Keras' order, ...
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": False, **_EMA},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False, **_EMA},
    "adamw": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
              "amsgrad": False, **_EMA},
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, **_EMA},
    "nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, **_EMA},
}
#: ... and those every one of them takes whose default (None) a TOML file cannot show.
OPTIMIZER_OPTIONAL_ARGUMENTS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "ema_overwrite_frequency",
                                "loss_scale_factor", "gradient_accumulation_steps")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SUITES = ("seed", "handout", "pooled", "best")
#: Datasets an experiment may train on: every one but those kept for evaluation only.


@dataclass(frozen=True)
class Field:
    """One key of the schema: its default, accepted type(s) and an optional check.

    ``check`` returns ``None`` when the value is fine, else what is allowed.
    """

    default: Any
    kind: type | tuple[type, ...]
    check: Callable[[Any], str | None] | None = None
    help: str = ""
    #: A table whose keys an override sets one by one (``model.args.hidden``) rather than as a whole.
    merge: bool = False


def _one_of(*choices) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"one of {', '.join(map(repr, choices))}"


def _at_least(minimum) -> Callable[[Any], str | None]:
    return lambda value: None if value >= minimum else f"a value of at least {minimum}"


def _class_names(value) -> str | None:
    if all(isinstance(name, str) and name for name in value) and len(set(value)) == len(value):
        return None
    return "a list of distinct folder names, such as [\"cats\", \"dogs\"] (or [] to read them from the folder)"


def _trainable(value) -> str | None:
    trainable = dataset_names(trainable=True)
    if value in trainable:
        return None
    kept = dataset_names(trainable=False)
    return (f"one of {', '.join(map(repr, trainable))} ({', '.join(kept)} is for evaluation only: "
            f"`shallowdeep evaluate RUN --dataset {kept[0]}`)")


def _fraction(value) -> str | None:
    return None if 0.0 < value < 1.0 else "a number strictly between 0 and 1"


def _image_size(value) -> str | None:
    ok = len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= MAX_IMAGE_SIDE
                                 for v in value)
    return None if ok else f"two integers [height, width] from 8 to {MAX_IMAGE_SIDE}"


def _validation(value) -> str | None:
    if value == "dataset" or (isinstance(value, float) and 0.0 < value < 1.0):
        return None
    return "a fraction of train strictly between 0 and 1, or \"dataset\" (the dataset's own val split)"


def _class_weight(value) -> str | None:
    if value in ("none", "balanced"):
        return None
    if isinstance(value, dict) and value and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in value.values()
    ):
        return None
    return "\"none\", \"balanced\" or a table {class = positive weight}"


def _non_negative(value) -> str | None:
    return None if value >= 0 else "a number of at least 0"


def _below(upper) -> Callable[[Any], str | None]:
    return lambda value: None if 0 <= value < upper else f"a number in [0, {upper:g})"


def _optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else check(value)


def _number(condition: Callable[[float], bool], allowed: str) -> Callable[[Any], str | None]:
    def check(value) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and condition(value)
        return None if ok else allowed
    return check


def _boolean(value) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _whole(minimum: int) -> Callable[[Any], str | None]:
    return lambda value: None if isinstance(value, int) and not isinstance(value, bool) and value >= minimum \
        else f"an integer of at least {minimum}"


#: What the Keras optimizers' arguments allow (Keras itself checks some of them only once training
#: starts, with a traceback). ``learning_rate`` is the peak of a cosine schedule.
OPTIMIZER_ARGUMENT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "learning_rate": _number(lambda v: v > 0, "a number greater than 0"),
    "rho": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta_1": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta_2": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "ema_momentum": _number(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "epsilon": _number(lambda v: v > 0, "a number greater than 0"),
    "momentum": _number(lambda v: v >= 0, "a number of at least 0"),
    "weight_decay": _optional(_number(lambda v: v >= 0, "a number of at least 0")),
    "clipnorm": _optional(_number(lambda v: v > 0, "a number greater than 0")),
    "clipvalue": _optional(_number(lambda v: v > 0, "a number greater than 0")),
    "global_clipnorm": _optional(_number(lambda v: v > 0, "a number greater than 0")),
    "loss_scale_factor": _optional(_number(lambda v: v > 0, "a number greater than 0")),
    "ema_overwrite_frequency": _optional(_whole(1)),
    "gradient_accumulation_steps": _optional(_whole(1)),
    "centered": _boolean, "amsgrad": _boolean, "nesterov": _boolean, "use_ema": _boolean,
}
#: The largest side of an image the chest X-ray loader makes (the arrays of 5,840 images at 512 x 512
#: take 6 GiB as float32).
MAX_IMAGE_SIDE = 512


def _at_most(upper) -> Callable[[Any], str | None]:
    return lambda value: None if 0 <= value <= upper else f"a number in [0, {upper:g}]"


def _between(lower, upper) -> Callable[[Any], str | None]:
    return lambda value: None if lower <= value <= upper else f"a number in [{lower:g}, {upper:g}]"


def _low_resolution(value) -> str | None:
    return None if value == 0 or value >= 4 else "0 (off) or a side of at least 4 pixels"


def active_augmentations(augmentation: dict[str, Any]) -> list[str]:
    """The keys of ``[training.augmentation]`` that make training images random (``elastic_sigma``
    only shapes the elastic distortion, which ``elastic`` turns on)."""
    return [key for key, value in augmentation.items() if value and key != "elastic_sigma"]


def _threshold(value) -> str | None:
    if value == "validation" or (isinstance(value, float) and 0.0 < value < 1.0):
        return None
    return "\"validation\" (chosen on the validation split) or a probability between 0 and 1"


#: The schema: sections of Fields; ``model.args`` and ``training.optimizer_args`` are checked
#: against the chosen builder's and optimizer's own arguments instead.
SCHEMA: dict[str, Any] = {
    "name": Field("", str, help="the experiment's name (default: the file name)"),
    "description": Field("", str),
    "suite": Field("", str, lambda v: None if v in ("",) + SUITES else f"one of {SUITES} or \"\""),
    "reference": Field({}, dict, help="published figures to show beside ours (report)"),
    "dataset": {
        "name": Field("mnist", str, _trainable, "the dataset trained and tested on"),
        "image_size": Field([28, 28], list, _image_size,
                            "image size; MNIST is 28x28, PneumoniaMNIST 28/64/128/224 square"),
        "val_fraction": Field(0.1, float, _fraction,
                              "chest_xray without a val folder: share of train carved out for validation"),
        "path": Field("", str, help="chest_xray: the folder (default: found in the data directory); "
                                    "folder: your images, DIR/{train,val,test}/<class>/"),
        "classes": Field([], list, _class_names,
                         "folder: the class folders' names, label 0 first (default: read from DIR/train)"),
        "train_limit": Field(0, int, _at_least(0), "train on a seeded random subset of this size (0: all)"),
        "test_limit": Field(0, int, _at_least(0), "evaluate on a seeded random subset of this size (0: all)"),
        "split_seed": Field(-1, int, lambda v: None if -1 <= v < 2**31 else "-1 or an integer from 0 to 2**31 - 1",
                            "seed of the carved validation split and of the train_limit/test_limit subsets "
                            "(-1: training.seed); runs that differ only in training.seed share one split with it"),
    },
    "features": {
        "kind": Field("raw", str, _one_of("raw", "hog", "image"),
                      "raw: flat pixel vector; hog: HOG vector; image: (height, width, 1)"),
        "divide_by": Field(255.0, float, lambda v: None if v > 0 else "a positive number",
                           "pixels are divided by this (1.0 keeps 0-255)"),
        "clahe": Field(0.0, float, _at_most(1.0),
                       "contrast-limited adaptive histogram equalisation first (Zuiderveld 1994; 8 x 8 tiles): "
                       "no grey level of a tile's histogram holds more than this share of its pixels "
                       "(0: off; 0.01-0.03 usual)"),
        "hog": {
            "orientations": Field(8, int, _at_least(1)),
            "pixels_per_cell": Field(4, int, _at_least(1)),
            "cells_per_block": Field(1, int, _at_least(1)),
            "block_norm": Field("L2-Hys", str, _one_of(*BLOCK_NORMS)),
        },
    },
    "model": {
        "builder": Field("mlp", str, help="a registered builder: `shallowdeep.models.list_models()`"),
        "args": Field({}, dict, help="the builder's own arguments", merge=True),
    },
    "training": {
        "optimizer": Field("rmsprop", str, _one_of(*OPTIMIZERS)),
        "optimizer_args": Field({}, dict, help="arguments of the Keras optimizer", merge=True),
        "loss": Field("categorical_crossentropy", str, _one_of(*LOSSES)),
        "batch_size": Field(128, int, _at_least(1)),
        "epochs": Field(10, int, _at_least(1)),
        "validation": Field(0.1, (float, str), _validation),
        "class_weight": Field("none", (str, dict), _class_weight),
        "seed": Field(0, int, lambda v: None if 0 <= v < 2**31 else "an integer from 0 to 2**31 - 1"),
        "precision": Field("auto", str, _one_of(*PRECISIONS),
                           "auto: mixed bfloat16 where the hardware computes it natively (CPUs with AMX or "
                           "AVX512_BF16, GPUs from compute capability 8.0), float16 on older GPUs, else fp32"),
        "steps_per_execution": Field(128, int, _at_least(1),
                                     "batches run per call into the backend: same updates, less "
                                     "overhead per batch (raw-2 on a 2-core Intel Xeon with AMX: 1.5x faster at 32 than "
                                     "at 1, another 13 % at 128, slower again at 1024); the progress bar moves in such steps; "
                                     "PyTorch runs 1 whatever is set (its Keras trainer allows no more)"),
        "schedule": Field("constant", str, _one_of("constant", "cosine"),
                          "learning rate: constant (the optimizer's learning_rate), or cosine: a linear "
                          "warm-up from 0 over warmup_epochs, then a cosine decay to 0 at the last step"),
        "warmup_epochs": Field(0.0, float, _non_negative, "cosine schedule: epochs of linear warm-up"),
        "label_smoothing": Field(0.0, float, _below(1.0),
                                 "categorical/binary cross-entropy against targets (1 - e) y + e / classes"),
        "mixup": Field(0.0, float, _at_most(10.0),
                       "mixup (Zhang et al. 2018): each training image and its target blended with another's, "
                       "x = l x1 + (1 - l) x2, l ~ Beta(mixup, mixup) (0: off; 0.2-0.4 usual)"),
        "augmentation": {
            "rotation": Field(0.0, float, _below(180.0), "images: random rotation in [-r, r] degrees"),
            "zoom": Field(0.0, float, _below(1.0), "images: random zoom in [1 - z, 1 + z]"),
            "shift": Field(0.0, float, _below(1.0), "images: random shift of up to this fraction of the side"),
            "flip": Field(False, bool, help="images: mirror left-right half of the time"),
            "shear": Field(0.0, float, _below(60.0), "images: random horizontal shear (slant) in [-s, s] degrees"),
            "thickness": Field(0.0, float, _at_most(3.0),
                               "images: strokes thickened or thinned by up to this many pixels a side "
                               "(grey dilation or erosion)"),
            "blur": Field(0.0, float, _at_most(3.0), "images: Gaussian blur, sigma uniform in [0, blur] pixels"),
            "low_resolution": Field(0, int, _low_resolution,
                                    "images: shrunk to a side drawn from [this, image side] and enlarged "
                                    "back (0: off)"),
            "elastic": Field(0.0, float, _at_most(100.0),
                             "images: elastic distortion of strength alpha (Simard et al. 2003 use 34; 0: off)"),
            "elastic_sigma": Field(4.0, float, _between(0.5, 20.0),
                                   "elastic distortion: smoothness of the displacement field, in pixels"),
            "contrast": Field(0.0, float, _at_most(1.0),
                              "images: grey levels spread about the image mean by a factor in [1 - c, 1 + c]"),
            "brightness": Field(0.0, float, _at_most(1.0),
                                "images: a level in [-b, b] added (images scaled to [0, 1])"),
            "gamma": Field(0.0, float, _at_most(2.0),
                           "images: x ** g with log g uniform in [-log(1 + gamma), log(1 + gamma)]"),
        },
    },
    "evaluation": {
        "threshold": Field("validation", (str, float), _threshold,
                           "binary tasks: decision threshold on P(positive)"),
    },
}


# -- resolution and validation ---------------------------------------------------------------------

def _problem(source: str, key: str, value: Any, allowed: str) -> ConfigError:
    shown = toml_value(value) if value is not None else "nothing"
    return ConfigError(f"{source}: {key} = {shown} is not allowed; expected {allowed}")


def _coerce(source: str, key: str, value: Any, field: Field) -> Any:
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    type_ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not type_ok:
        names = " or ".join({"str": "a string", "int": "an integer", "float": "a number",
                             "list": "a list", "dict": "a table", "bool": "true or false"}[k.__name__] for k in kinds)
        raise _problem(source, key, value, names)
    if field.check:
        allowed = field.check(value)
        if allowed:
            raise _problem(source, key, value, allowed)
    return value


def _resolve_section(source: str, prefix: str, schema: dict, given: dict) -> dict:
    unknown = sorted(set(given) - set(schema))
    if unknown:
        where = f"in [{prefix}]" if prefix else "at the top level"
        raise ConfigError(
            f"{source}: unknown key {prefix + '.' if prefix else ''}{unknown[0]} {where}; "
            f"allowed: {', '.join(schema)}"
        )
    resolved = {}
    for key, spec in schema.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, dict):
            section = given.get(key, {})
            if not isinstance(section, dict):
                raise _problem(source, dotted, section, f"a table [{dotted}]")
            resolved[key] = _resolve_section(source, dotted, spec, section)
        else:
            value = given.get(key, copy.deepcopy(spec.default))
            resolved[key] = _coerce(source, dotted, value, spec)
    return resolved


def _resolve_callable_args(source: str, key: str, given: dict, defaults: dict, accepted: Iterable[str],
                           problem: Callable[[str, Any], str | None]) -> dict:
    """``given`` arguments of a builder or optimizer: known names only, each value checked by
    ``problem(name, value)``, defaults filled in."""
    accepted = set(accepted)
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise ConfigError(f"{source}: unknown key {key}.{unknown[0]}; allowed: {', '.join(sorted(accepted))}")
    for name, value in given.items():
        allowed = problem(name, value)
        if allowed:
            raise _problem(source, f"{key}.{name}", value, allowed)
    return {**defaults, **given}


def _optimizer_problem(name: str, value: Any) -> str | None:
    check = OPTIMIZER_ARGUMENT_CHECKS.get(name)
    return check(value) if check else None


def _check_consistency(source: str, config: dict) -> None:
    dataset, features, training = config["dataset"], config["features"], config["training"]
    name, size = dataset["name"], dataset["image_size"]
    dataset_hooks = get_dataset(name)
    try:
        config["dataset"] = dataset = dataset_hooks.resolve(dataset)
    except DataError as error:
        raise ConfigError(f"{source}: [dataset] {error}") from None
    fixed = dataset_hooks.class_names(dataset)
    if dataset["classes"] and tuple(dataset["classes"]) != fixed:
        raise _problem(source, "dataset.classes", dataset["classes"],
                       f"[] or {list(fixed)}: the classes of {name} are its own")
    size_problem = dataset_hooks.image_size_problem(size)
    if size_problem:
        raise _problem(source, "dataset.image_size", size, size_problem)
    if training["validation"] == "dataset" and not dataset_hooks.own_validation:
        raise _problem(source, "training.validation", "dataset",
                       f"a fraction such as 0.1: {dataset_hooks.info.title} has no val split")
    classes = len(dataset_hooks.class_names(dataset))
    if training["loss"] == "binary_crossentropy" and classes != 2:
        raise _problem(source, "training.loss", "binary_crossentropy",
                       f"a categorical loss: {name} has {classes} classes")
    augmentation = training["augmentation"]
    active = active_augmentations(augmentation)
    if active and features["kind"] != "image":
        raise _problem(source, f"training.augmentation.{active[0]}", augmentation[active[0]],
                       f"0: augmentation warps images, and features.kind = {features['kind']!r} is not \"image\"")
    # Grey-level changes and equalisation read pixels as fractions of white.
    on_unit_scale = [(f"training.augmentation.{key}", augmentation[key], "0")
                     for key in ("contrast", "brightness", "gamma") if augmentation[key]]
    if config["model"]["args"].get("equalize"):
        on_unit_scale.append(("model.args.equalize", True, "false"))
    if on_unit_scale and features["divide_by"] != 255.0:
        key, value, off = on_unit_scale[0]
        raise _problem(source, key, value, f"{off} unless features.divide_by = 255: it works on images scaled to "
                       f"[0, 1], and divide_by = {features['divide_by']:g} does not scale them so")
    if features["clahe"] and features["kind"] == "hog":
        raise _problem(source, "features.clahe", features["clahe"],
                       '0 with features.kind = "hog": HOG reads the images as they are')
    if training["mixup"]:
        why = (f"with training.mixup = {training['mixup']:g}: mixed images have mixed targets, which class "
               "indices and class weights cannot express")
        if training["loss"] == "sparse_categorical_crossentropy":
            raise _problem(source, "training.loss", training["loss"],
                           f"categorical_crossentropy or binary_crossentropy {why}")
        if training["class_weight"] != "none":
            raise _problem(source, "training.class_weight", training["class_weight"], f'"none" {why}')
    if augmentation["low_resolution"] >= min(size):
        raise _problem(source, "training.augmentation.low_resolution", augmentation["low_resolution"],
                       f"0 or a side below the image's ({size[0]}x{size[1]})")
    if training["label_smoothing"] and training["loss"] == "sparse_categorical_crossentropy":
        raise _problem(source, "training.label_smoothing", training["label_smoothing"],
                       "0 with sparse_categorical_crossentropy (Keras smooths one-hot targets only)")
    if training["warmup_epochs"] > training["epochs"]:
        raise _problem(source, "training.warmup_epochs", training["warmup_epochs"],
                       f"at most training.epochs = {training['epochs']}")
    weights = training["class_weight"]
    if isinstance(weights, dict):
        allowed = {str(i) for i in range(classes)} | set(dataset_hooks.class_names(dataset))
        wrong = sorted(set(weights) - allowed)
        if wrong:
            raise _problem(source, f"training.class_weight.{wrong[0]}", weights[wrong[0]],
                           f"class keys among {', '.join(sorted(allowed))}")
    if features["kind"] == "hog":
        hog_settings = features["hog"]
        try:
            hog_feature_size(tuple(size), hog_settings["orientations"], hog_settings["pixels_per_cell"],
                             hog_settings["cells_per_block"])
        except ValueError as error:
            raise ConfigError(f"{source}: [features.hog] {error}") from None
        cells = size[0] // hog_settings["pixels_per_cell"]
        if hog_settings["cells_per_block"] > cells:
            raise _problem(source, "features.hog.cells_per_block", hog_settings["cells_per_block"],
                           f"at most {cells} (the image has {cells}x{cells} cells)")


def validate(table: dict, source: str) -> dict[str, Any]:
    """``table`` with every default filled in and every value checked; raises :class:`ConfigError`
    on the first problem, naming ``source``."""
    from shallowdeep import models

    config = _resolve_section(source, "", SCHEMA, table)
    builder = config["model"]["builder"]
    if builder not in models.list_models():
        raise _problem(source, "model.builder", builder, f"one of {', '.join(map(repr, models.list_models()))}")
    builder_defaults = models.model_arguments(builder)

    def builder_problem(name: str, value: Any) -> str | None:
        # A switch (batch_norm, standardize) is a switch whatever the builder.
        return _boolean(value) if isinstance(builder_defaults[name], bool) else models.argument_problem(name, value)

    config["model"]["args"] = _resolve_callable_args(
        source, "model.args", config["model"]["args"],
        {k: list(v) if isinstance(v, tuple) else v for k, v in builder_defaults.items()}, builder_defaults,
        builder_problem,
    )
    defaults = OPTIMIZER_DEFAULTS[config["training"]["optimizer"]]
    config["training"]["optimizer_args"] = _resolve_callable_args(
        source, "training.optimizer_args", config["training"]["optimizer_args"],
        defaults, [*defaults, *OPTIMIZER_OPTIONAL_ARGUMENTS], _optimizer_problem,
    )
    _check_consistency(source, config)
    return config
