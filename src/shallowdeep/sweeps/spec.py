"""A sweep file: which experiment to vary, along which axes, how to search and how to choose.

A sweep is a TOML file (or a shipped preset, ``shallowdeep sweep --list``)::

    name = "raw"
    description = "MLP on raw pixels: hidden units x dropout x batch size"
    base = "raw-1"            # a preset, or an experiment file (relative to this file)
    sampler = "grid"          # "grid" (lists only), "random" or "tpe" (lists and ranges)
    metric = "accuracy"       # chosen on VALIDATION: accuracy, loss; binary tasks also f1, roc_auc, ...
    seeds = [0]               # every point is trained once per seed; its score is the mean
    seed = 0                  # the sampler's own seed (grid order, random draws)

    [budget]                  # stop asking for new trials after this many, or this many minutes
    trials = 27               # (default for a grid: every point)
    minutes = 0               # 0: no time limit

    [pruning]                 # stop hopeless trials early (Optuna's MedianPruner)
    kind = "none"             # "none" or "median"
    startup_trials = 5        # trials that always run to the end before any is pruned
    warmup_epochs = 1         # epochs of each trial never pruned

    [settings]                # applied to every trial, like `shallowdeep train --set`
    "training.epochs" = 5

    [axes]                    # a list: these values; a table: a range
    "model.args.hidden" = [[128], [512], [1024]]
    "model.args.dropout" = [0.0, 0.25, 0.5]
    "training.optimizer_args.learning_rate" = { low = 1e-4, high = 1e-2, log = true }

Every axis value is applied to the base experiment and checked by the experiment schema before
anything trains; a problem is one :class:`ConfigError` naming the sweep file, the key and the value.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from shallowdeep.experiments import (
    ConfigError, Experiment, apply_overrides, load_experiment, quick_overrides, settings_to_overrides, validate,
)
from shallowdeep.experiments.files import read_toml, toml_value

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median")
#: Selection metrics, read from a run's validation metrics, and whether larger is better.
METRICS = {"accuracy": "maximize", "loss": "minimize", "f1": "maximize", "roc_auc": "maximize",
           "sensitivity": "maximize", "specificity": "maximize"}
BINARY_METRICS = ("f1", "roc_auc", "sensitivity", "specificity")
#: A grid larger than this is checked value by value instead of point by point.
_CHECK_EVERY_POINT_UP_TO = 1000
_TOP_KEYS = ("name", "description", "base", "sampler", "metric", "seeds", "seed", "budget", "pruning",
             "settings", "axes")


def _problem(source: str, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{source}: {key} = {toml_value(value)} is not allowed; expected {allowed}")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Choice:
    """An axis over listed values (any TOML value: ``128``, ``[512, 256]``, ``"balanced"``)."""

    key: str
    values: tuple[Any, ...]

    @property
    def labels(self) -> tuple[Any, ...]:
        """The values as the search library stores them: scalars as they are, lists and tables as
        their TOML text (Optuna's categorical choices must be scalars)."""
        return tuple(value if _is_scalar(value) else toml_value(value) for value in self.values)

    def decode(self, label: Any) -> Any:
        return self.values[self.labels.index(label)]

    def describe(self) -> str:
        return ", ".join(toml_value(value) for value in self.values)


@dataclass(frozen=True)
class Range:
    """An axis over an interval, sampled uniformly or on a log scale; integers when both ends are."""

    key: str
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def decode(self, label: Any) -> Any:
        return label

    def describe(self) -> str:
        scale = "log" if self.log else "linear"
        return f"{toml_value(self.low)} .. {toml_value(self.high)} ({scale}{f', step {self.step:g}' if self.step else ''})"


Axis = Choice | Range


@dataclass(frozen=True)
class Budget:
    """When to stop asking for new trials; running trials always finish."""

    trials: int | None = None
    minutes: float | None = None


@dataclass(frozen=True)
class Pruning:
    kind: str = "none"
    startup_trials: int = 5
    warmup_epochs: int = 1


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: the base experiment (``--quick`` and settings applied) and its axes."""

    name: str
    description: str
    source: str
    base: Experiment
    base_name: str
    axes: tuple[Axis, ...]
    sampler: str = "grid"
    metric: str = "accuracy"
    seeds: tuple[int, ...] = (0,)
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    pruning: Pruning = field(default_factory=Pruning)
    quick: bool = False

    @property
    def direction(self) -> str:
        """``"maximize"`` or ``"minimize"``: how the selection metric is better."""
        return METRICS[self.metric]

    @property
    def grid_size(self) -> int | None:
        """The number of points of a search over lists only; None when an axis is a range."""
        if any(isinstance(axis, Range) for axis in self.axes):
            return None
        return math.prod(len(axis.values) for axis in self.axes)

    @property
    def trial_budget(self) -> int | None:
        """Trials to run: the budget's, else every point of a grid."""
        if self.budget.trials is not None:
            return self.budget.trials
        return self.grid_size if self.sampler == "grid" else None

    def short_names(self) -> dict[str, str]:
        """Each axis's last key part (``model.args.dropout`` -> ``dropout``), its whole key where
        two axes would share one."""
        last = [axis.key.rsplit(".", 1)[-1] for axis in self.axes]
        return {axis.key: (name if last.count(name) == 1 else axis.key) for axis, name in zip(self.axes, last)}

    def experiments(self, point: Mapping[str, Any]) -> list[Experiment]:
        """The experiments of one point (axis key -> value), one per seed, resolved and checked; a
        refusal names the sweep file and the point."""
        names = self.short_names()
        described = ", ".join(f"{names[key]}={toml_value(value)}" for key, value in point.items())
        overrides = {"name": self.name, "suite": "", "description": f"{self.name} sweep: {described}"}
        for key, value in point.items():
            overrides.update(settings_to_overrides({key: value}))
        experiments = []
        for seed in self.seeds:
            source = f"{self.source} [axes: {described}; seed {seed}]"
            config = apply_overrides(self.base.config, {**overrides, "training.seed": seed})
            experiments.append(Experiment(validate(config, source), source))
        return experiments

    def identity(self) -> dict[str, Any]:
        """What makes two sweeps the same search, so that a folder is only ever resumed by its own
        sweep: the base experiment, axes, sampler, metric and seeds (not the budget)."""
        return {
            "base": self.base.digest(),
            "axes": [[axis.key, axis.describe()] for axis in self.axes],
            "sampler": self.sampler, "seed": self.seed, "metric": self.metric, "seeds": list(self.seeds),
            "pruning": [self.pruning.kind, self.pruning.startup_trials, self.pruning.warmup_epochs],
        }

    def with_budget(self, trials: int | None = None, minutes: float | None = None) -> SweepSpec:
        if trials is None and minutes is None:
            return self
        budget = Budget(trials if trials is not None else self.budget.trials,
                        minutes if minutes is not None else self.budget.minutes)
        _check_budget(self.source, budget, self.sampler)
        return replace(self, budget=budget)


# -- presets -----------------------------------------------------------------------------------------

def _preset_folder():
    return resources.files("shallowdeep.sweeps") / "presets"


def list_sweeps() -> list[str]:
    """Names of the sweeps shipped with shallowdeep."""
    return sorted(entry.name[: -len(".toml")] for entry in _preset_folder().iterdir() if entry.name.endswith(".toml"))


def _read(name_or_path: str | Path) -> tuple[dict, str, Path | None]:
    """The raw table, its source name and the folder relative paths start from."""
    return read_toml(name_or_path, _preset_folder(), file_kind="sweep", shipped_kind="sweep",
                     shipped_names=list_sweeps())


# -- reading and checking ----------------------------------------------------------------------------

def _table(source: str, table: dict, key: str) -> dict:
    section = table.get(key, {})
    if not isinstance(section, dict):
        raise _problem(source, key, section, f"a table [{key}]")
    return section


def _section(source: str, table: dict, key: str, allowed: tuple[str, ...]) -> dict:
    section = _table(source, table, key)
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: unknown key {key}.{unknown[0]}; allowed: {', '.join(allowed)}")
    return section


def _axis(source: str, key: str, given: Any) -> Axis:
    where = f'axes."{key}"'
    if isinstance(given, list):
        if len(given) < 1:
            raise _problem(source, where, given, "at least one value")
        labels = [value if _is_scalar(value) else toml_value(value) for value in given]
        if len(set(map(repr, labels))) != len(labels):
            raise _problem(source, where, given, "distinct values")
        return Choice(key, tuple(given))
    if isinstance(given, dict):
        unknown = sorted(set(given) - {"low", "high", "log", "step"})
        if unknown:
            raise ConfigError(f"{source}: unknown key {where}.{unknown[0]}; a range has low, high, log, step")
        low, high = given.get("low"), given.get("high")
        if not (_is_number(low) and _is_number(high)) or not low < high:
            raise _problem(source, where, given, "a range { low = a, high = b } of numbers with a < b")
        log, step = given.get("log", False), given.get("step")
        if not isinstance(log, bool):
            raise _problem(source, f"{where}.log", log, "true or false")
        if log and low <= 0:
            raise _problem(source, f"{where}.low", low, "a positive number on a log scale")
        if step is not None and (not _is_number(step) or step <= 0 or log):
            raise _problem(source, f"{where}.step", step, "a positive number, and no step on a log scale")
        return Range(key, low, high, log, step)
    raise _problem(source, where, given, "a list of values, or a range { low = ..., high = ..., log = true }")


def _positive_int(source: str, key: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _problem(source, key, value, f"an integer of at least {minimum}")
    return value


def _check_budget(source: str, budget: Budget, sampler: str) -> None:
    if budget.trials is not None:
        _positive_int(source, "budget.trials", budget.trials)
    if budget.minutes is not None and (not _is_number(budget.minutes) or budget.minutes < 0):
        raise _problem(source, "budget.minutes", budget.minutes, "a number of minutes, 0 for no limit")
    if sampler != "grid" and budget.trials is None and not budget.minutes:
        raise ConfigError(f"{source}: a {sampler} search needs a budget: [budget] trials = N and/or minutes = M")


def _check_axes(spec: SweepSpec) -> None:
    """Every listed value (every point of a small grid) and both ends of every range, on the base."""
    if spec.grid_size is not None and spec.grid_size <= _CHECK_EVERY_POINT_UP_TO:
        for values in itertools.product(*(axis.values for axis in spec.axes)):
            spec.experiments(dict(zip((axis.key for axis in spec.axes), values)))
        return
    for axis in spec.axes:
        for value in axis.values if isinstance(axis, Choice) else (axis.low, axis.high):
            spec.experiments({axis.key: value})


def load_sweep(
    name_or_path: str | Path,
    *,
    quick: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> SweepSpec:
    """A shipped sweep (by name) or a sweep file (by path), checked.

    ``quick`` applies ``--quick`` (small slices, one epoch) to the base; ``overrides`` are
    experiment settings for every trial (dotted keys, like ``--set``), applied after the file's
    ``[settings]``. Neither may set a key that an axis varies.
    """
    table, source, folder = _read(name_or_path)
    unknown = sorted(set(table) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]} at the top level; allowed: {', '.join(_TOP_KEYS)}")
    for key in ("name", "description", "base", "sampler", "metric"):
        if key in table and not isinstance(table[key], str):
            raise _problem(source, key, table[key], "a string")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", table["name"]):
        raise _problem(source, "name", table["name"], "a name for folders: letters, digits, '_', '.' and '-'")
    if not table.get("base"):
        raise ConfigError(f"{source}: base is missing; name the experiment to vary: a preset (base = \"raw-1\") "
                          f"or an experiment file (base = \"my-experiment.toml\")")
    sampler, metric = table.get("sampler", "grid"), table.get("metric", "accuracy")
    if sampler not in SAMPLERS:
        raise _problem(source, "sampler", sampler, f"one of {', '.join(map(repr, SAMPLERS))}")
    if metric not in METRICS:
        raise _problem(source, "metric", metric, f"a validation metric: {', '.join(map(repr, METRICS))}")
    seeds = table.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds):
        raise _problem(source, "seeds", seeds, "a list of distinct seeds, e.g. [0, 1, 2]")
    for seed in seeds:
        _positive_int(source, "seeds", seed, minimum=0)
    sampler_seed = _positive_int(source, "seed", table.get("seed", 0), minimum=0)
    budget_table = _section(source, table, "budget", ("trials", "minutes"))
    budget = Budget(budget_table.get("trials"), budget_table.get("minutes") or None)
    _check_budget(source, budget, sampler)
    pruning_table = _section(source, table, "pruning", ("kind", "startup_trials", "warmup_epochs"))
    pruning = Pruning(pruning_table.get("kind", "none"),
                      _positive_int(source, "pruning.startup_trials", pruning_table.get("startup_trials", 5), 0),
                      _positive_int(source, "pruning.warmup_epochs", pruning_table.get("warmup_epochs", 1), 0))
    if pruning.kind not in PRUNERS:
        raise _problem(source, "pruning.kind", pruning.kind, f"one of {', '.join(map(repr, PRUNERS))}")
    if pruning.kind != "none" and metric not in ("accuracy", "loss"):
        raise _problem(source, "pruning.kind", pruning.kind,
                       f"\"none\" with metric = {metric!r}: only accuracy and loss are measured after every epoch")

    axes_table = _table(source, table, "axes")
    if not axes_table:
        raise ConfigError(f"{source}: [axes] is empty; give at least one setting to vary, e.g. "
                          f"\"model.args.dropout\" = [0.0, 0.25, 0.5]")
    axes = tuple(_axis(source, key, given) for key, given in axes_table.items())
    if sampler == "grid":
        ranged = next((axis for axis in axes if isinstance(axis, Range)), None)
        if ranged is not None:
            raise _problem(source, f'axes."{ranged.key}"', {"low": ranged.low, "high": ranged.high},
                           "a list of values: a grid needs them (or sampler = \"random\" or \"tpe\" for ranges)")

    base_name = table["base"]
    base_path = (folder / base_name) if folder is not None and base_name.endswith(".toml") else base_name
    base = load_experiment(base_path)
    settings = _table(source, table, "settings")
    fixed = {**(quick_overrides(base.dataset) if quick else {}), **settings_to_overrides(settings),
             **settings_to_overrides(overrides or {})}
    varied = {key for axis in axes for key in _varied_keys(source, axis)}
    shown = sorted(varied & {"name", "description", "suite", "reference"})
    if shown:
        raise ConfigError(f"{source}: axes.\"{shown[0]}\" says how an experiment is shown, not what is trained; "
                          f"vary a setting of [dataset], [features], [model] or [training]")
    clash = sorted(key for key in settings_to_overrides({**settings, **(overrides or {})}) if key in varied)
    if clash:
        raise ConfigError(f"{source}: {clash[0]} is an axis of this sweep; it cannot also be set for every trial "
                          f"(remove it from [settings] or --set, or from [axes])")
    try:
        base = base.with_overrides(fixed)
    except ConfigError as error:
        raise ConfigError(f"{source}: [settings]: {error}") from None
    if metric in BINARY_METRICS and not base.binary:
        raise _problem(source, "metric", metric, f"accuracy or loss: {base.name} has "
                                                 f"{len(base.class_names)} classes, and {metric} is for binary tasks")

    spec = SweepSpec(
        name=table["name"], description=table.get("description", ""), source=source, base=base, base_name=base_name,
        axes=axes, sampler=sampler, metric=metric, seeds=tuple(seeds), seed=sampler_seed, budget=budget,
        pruning=pruning, quick=quick,
    )
    _check_axes(spec)
    return spec


def _varied_keys(source: str, axis: Axis) -> set[str]:
    """The dotted settings an axis sets (a table value of ``model.args`` sets several)."""
    samples = axis.values if isinstance(axis, Choice) else (axis.low,)
    try:
        return {key for value in samples for key in settings_to_overrides({axis.key: value})}
    except ConfigError as error:
        raise ConfigError(f'{source}: axes."{axis.key}": {error}') from None
