"""Experiments: the settings of one training run, declared in a TOML file or a shipped preset.

>>> from shallowdeep.experiments import load_experiment
>>> experiment = load_experiment("cnn-3", epochs=2)      # doctest: +SKIP
>>> experiment["training"]["epochs"]                     # doctest: +SKIP
2
"""

from shallowdeep.experiments.experiment import (
    LAB_SUITES,
    ORDER,
    Experiment,
    apply_overrides,
    describe_overrides,
    load_experiment,
    parse_assignment,
    quick_overrides,
    settings_to_overrides,
    suite_members,
)
from shallowdeep.experiments.files import ConfigError, dump_toml, list_presets, read_experiment_file
from shallowdeep.experiments.schema import (
    LOSSES, OPTIMIZERS, PRECISIONS, SCHEMA, SUITES, active_augmentations, validate,
)

__all__ = [
    "LAB_SUITES",
    "LOSSES",
    "OPTIMIZERS",
    "ORDER",
    "PRECISIONS",
    "SCHEMA",
    "SUITES",
    "ConfigError",
    "Experiment",
    "active_augmentations",
    "apply_overrides",
    "describe_overrides",
    "dump_toml",
    "list_presets",
    "load_experiment",
    "parse_assignment",
    "quick_overrides",
    "read_experiment_file",
    "settings_to_overrides",
    "suite_members",
    "validate",
]
