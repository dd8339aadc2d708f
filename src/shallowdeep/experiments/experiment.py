"""An experiment: a preset or TOML file, with overrides, resolved into every setting.

Overrides come from the command line as ``--set section.key=value`` (the value read as TOML) or
from Python as values: ``load_experiment("cnn-3", epochs=2)``. A Python key is a dotted path
(``"training.epochs"``), a key that names one setting unambiguously (``epochs``, ``batch_size``,
``rotation``), or a section given as a nested dict (``training={"epochs": 2}``,
``model={"args": {"hidden": [256]}}``). Builder and optimizer arguments merge into the preset's
(``model.args.hidden`` leaves ``dropout`` as it was); every other value replaces the preset's.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from shallowdeep.data import get_dataset
from shallowdeep.experiments.files import (
    ConfigError, dump_toml, list_presets, parse_toml_value, read_experiment_file, toml_value,
)
from shallowdeep.experiments.schema import SCHEMA, SUITES, Field, validate
from shallowdeep.features import hog_feature_size

#: Keys that say what an experiment is called and how it is shown, not what is trained.
_PRESENTATION = ("name", "description", "reference", "suite")


@dataclass(frozen=True)
class Experiment:
    """A resolved experiment: every key present and checked; ``source`` says where it came from."""

    config: dict[str, Any]
    source: str

    @property
    def name(self) -> str:
        return self.config["name"]

    def __getitem__(self, section: str) -> Any:
        return self.config[section]

    def digest(self) -> str:
        """Identity of what gets trained: every setting but the name, description and references."""
        relevant = {k: v for k, v in self.config.items() if k not in _PRESENTATION}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        return dump_toml(self.config)

    @property
    def dataset(self) -> str:
        return self.config["dataset"]["name"]

    @property
    def class_names(self) -> tuple[str, ...]:
        return get_dataset(self.dataset).class_names(self.config["dataset"])

    @property
    def features(self) -> str:
        """``"raw"`` (flat pixels), ``"hog"`` (HOG vector) or ``"image"`` (height, width, 1)."""
        return self.config["features"]["kind"]

    @property
    def binary(self) -> bool:
        """One sigmoid output scoring the second class (binary cross-entropy)."""
        return self.config["training"]["loss"] == "binary_crossentropy"

    @cached_property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one model input, known before any data is loaded."""
        height, width = self.config["dataset"]["image_size"]
        if self.features == "raw":
            return (height * width,)
        if self.features == "hog":
            hog = self.config["features"]["hog"]
            return (hog_feature_size((height, width), hog["orientations"], hog["pixels_per_cell"],
                                     hog["cells_per_block"]),)
        return (height, width, 1)

    def describe_input(self) -> str:
        """``"raw 784 pixels"``, ``"HOG p=4 o=8"``, ``"image 28x28"``."""
        height, width = self.config["dataset"]["image_size"]
        if self.features == "hog":
            hog = self.config["features"]["hog"]
            return f"HOG p={hog['pixels_per_cell']} o={hog['orientations']}"
        if self.features == "raw":
            return f"raw {height * width} pixels"
        return f"image {height}x{width}"

    def with_settings(self, **settings: Any) -> Experiment:
        """This experiment with more settings, given as Python values (as :func:`load_experiment`)."""
        return self.with_overrides(settings_to_overrides(settings))

    def with_overrides(self, overrides: Mapping[str, Any]) -> Experiment:
        """This experiment with ``{"dotted.key": value}`` overrides applied, resolved and checked."""
        if not overrides:
            return self
        source = _with(self.source, describe_overrides(overrides))
        return Experiment(validate(apply_overrides(self.config, overrides), source), source)


# -- overrides -------------------------------------------------------------------------------------

def parse_assignment(assignment: str) -> tuple[str, Any]:
    """``"training.epochs=2"`` -> ``("training.epochs", 2)``: the value is read as TOML, and if that
    fails taken as a string; ``train.`` is short for ``training.``."""
    key, separator, text = assignment.partition("=")
    key = key.strip()
    if not separator or not key:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value, e.g. training.epochs=2")
    if key.split(".")[0] == "train":  # `--set train.epochs=2` reads naturally; the section is [training]
        key = "training" + key[len("train"):]
    return key, parse_toml_value(text)


def _leaves(schema: dict, prefix: str = "") -> dict[str, Field]:
    found = {}
    for key, spec in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        found.update(_leaves(spec, path) if isinstance(spec, dict) else {path: spec})
    return found


_LEAVES = _leaves(SCHEMA)
_SECTIONS = {path.rsplit(".", 1)[0] for path in _LEAVES if "." in path}


def _resolve_key(key: str) -> str:
    """A Python setting's name as a dotted path: ``epochs`` -> ``training.epochs``."""
    if "." in key or key in SCHEMA:
        return key
    matches = [path for path in _LEAVES if path.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"setting {key!r} is ambiguous: write one of {', '.join(sorted(matches))}")
    raise ConfigError(
        f"unknown setting {key!r}; settings: {', '.join(sorted(p.rsplit('.', 1)[-1] for p in _LEAVES))}. "
        f"A builder's or optimizer's own argument goes in its table, e.g. model={{'args': {{'hidden': [256]}}}} "
        f"or training={{'optimizer_args': {{'learning_rate': 0.01}}}}"
    )


def _flatten(path: str, value: Any) -> dict[str, Any]:
    """Nested dicts become dotted keys down to single settings (and into mergeable tables)."""
    field = _LEAVES.get(path)
    is_section = path in _SECTIONS or path in SCHEMA and isinstance(SCHEMA[path], dict)
    merging = field is not None and field.merge
    if isinstance(value, Mapping) and (is_section or merging):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(f"{path}.{key}", inner))
        return flat
    return {path: value}


def settings_to_overrides(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Python settings (``epochs=2``, ``training={"epochs": 2}``) as dotted overrides."""
    overrides: dict[str, Any] = {}
    for key, value in settings.items():
        overrides.update(_flatten(_resolve_key(key), value))
    return overrides


def apply_overrides(table: dict, overrides: Mapping[str, Any]) -> dict:
    """A copy of ``table`` with each ``dotted.key: value`` set (keys and values are checked later).

    Moved to another dataset, an experiment drops its ``reference``: the published figures were
    measured on the dataset it named."""
    dataset = table.get("dataset", {}).get("name", SCHEMA["dataset"]["name"].default)
    table = copy.deepcopy(table)
    if overrides.get("dataset.name", dataset) != dataset and not any(key.startswith("reference") for key in overrides):
        table.pop("reference", None)
    for key, value in overrides.items():
        path = key.split(".")
        node = table
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {part!r} is a value, not a section")
        node[path[-1]] = copy.deepcopy(value)
    return table


def describe_overrides(overrides: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={toml_value(value)}" for key, value in overrides.items())


def _with(source: str, described: str) -> str:
    return f"{source} (with --set {described})" if described else source


def load_experiment(
    name_or_path: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    **settings: Any,
) -> Experiment:
    """A preset by name or a TOML file by path, with overrides, resolved and checked.

    ``overrides``: ``--set`` strings (``["training.epochs=2"]``) or a mapping of dotted keys to
    values; ``settings``: Python values, as in ``load_experiment("cnn-3", epochs=2)``.
    """
    table, source = read_experiment_file(name_or_path)
    if isinstance(overrides, Mapping):
        dotted = dict(overrides)
    else:
        dotted = dict(parse_assignment(assignment) for assignment in overrides)
    dotted.update(settings_to_overrides(settings))
    if dotted:
        table = apply_overrides(table, dotted)
        source = _with(source, describe_overrides(dotted))
    return Experiment(validate(table, source), source)


# -- suites and quick runs -------------------------------------------------------------------------

#: The order of the report: the reference report's experiments, then the course's baselines,
#: then the pooled CNN variants, then the best suite, then the presets kept for comparison.
ORDER = ("raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3", "cnn-1", "cnn-2", "cnn-3", "xray-1",
         "handout-raw", "handout-hog", "handout-cnn", "cnn-1-pooled", "cnn-2-pooled", "cnn-3-pooled",
         "mnist-fast", "mnist-best", "mnist-robust", "xray-best", "pneumoniamnist-best", "xray-best-v1")
#: What ``lab --suite`` accepts: a suite of presets, or every preset.
LAB_SUITES = (*SUITES, "all")


def suite_members(suite: str) -> list[str]:
    """The presets of ``suite`` (``all``: every preset of every suite) in report order; a preset of no
    suite (kept for comparison, like ``xray-best-v1``) is trained only when named."""
    if suite not in LAB_SUITES:
        raise ConfigError(f"unknown suite {suite!r}; choose one of {', '.join(LAB_SUITES)}")
    names = [name for name in list_presets()
             if read_experiment_file(name)[0].get("suite") in (SUITES if suite == "all" else (suite,))]
    return sorted(names, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def quick_overrides(dataset: str) -> dict[str, Any]:
    """The ``--quick`` settings for an experiment on ``dataset``: a small slice of it and one epoch
    (no warm-up), to check a pipeline end to end in minutes; the numbers it gives say nothing about
    the models."""
    return dict(get_dataset(dataset).quick)
