"""Sweep files: the shipped searches of the lab's four parts, and every mistake refused by name."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from shallowdeep.cli import main
from shallowdeep.experiments import ConfigError
from shallowdeep.sweeps import list_sweeps, load_sweep
from shallowdeep.sweeps.search import distributions
from shallowdeep.sweeps.spec import Choice

SHIPPED = {
    "raw": ("raw-1", ["model.args.hidden", "model.args.dropout", "training.batch_size"]),
    "hog": ("hog-1", ["features.hog.pixels_per_cell", "features.hog.orientations", "model.args.hidden"]),
    "cnn": ("cnn-3", ["model.args.filters", "model.args.kernel_size", "model.args.dense"]),
    "xray": ("xray-1", ["dataset.image_size", "model.args.filters", "training.class_weight"]),
}


def test_the_shipped_sweeps_search_each_part_of_the_lab_along_its_report_s_axes():
    assert list_sweeps() == sorted(SHIPPED)
    for name, (base, keys) in SHIPPED.items():
        spec = load_sweep(name)
        assert spec.base_name == base and [axis.key for axis in spec.axes] == keys
        assert all(isinstance(axis, Choice) and len(axis.values) >= 3 for axis in spec.axes)
        assert spec.trial_budget is not None and spec.trial_budget >= 12
    assert load_sweep("xray").metric == "roc_auc" and load_sweep("raw").metric == "accuracy"


def test_a_point_becomes_one_checked_experiment_per_seed():
    spec = load_sweep("raw", quick=True, overrides={"dataset.train_limit": 300})
    point = {"model.args.hidden": [128], "model.args.dropout": 0.25, "training.batch_size": 32}
    (experiment,) = spec.experiments(point)
    assert experiment["model"]["args"]["hidden"] == [128] and experiment["model"]["args"]["activation"] == "sigmoid"
    assert experiment["training"]["batch_size"] == 32 and experiment["training"]["epochs"] == 1
    assert experiment["dataset"]["train_limit"] == 300 and experiment.name == "raw"
    other = spec.experiments({**point, "model.args.dropout": 0.5})[0]
    assert other.digest() != experiment.digest()


def test_lists_are_choices_and_ranges_are_int_or_float_on_their_scale(tmp_path):
    path = tmp_path / "lr.toml"
    path.write_text('base = "raw-1"\nsampler = "tpe"\n[budget]\ntrials = 5\n[axes]\n'
                    '"training.optimizer_args.learning_rate" = { low = 1e-4, high = 1e-2, log = true }\n'
                    '"training.batch_size" = { low = 32, high = 256, step = 32 }\n'
                    '"model.args.hidden" = [[64], [128, 64]]\n')
    found = distributions(load_sweep(path))
    assert found["training.optimizer_args.learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert found["training.batch_size"] == IntDistribution(32, 256, step=32)
    assert found["model.args.hidden"] == CategoricalDistribution(["[64]", "[128, 64]"])


@pytest.mark.parametrize("text, message", [
    ('base = "raw-1"\nsampler_seed = 1\n[axes]\n"training.batch_size" = [32, 64]\n',
     "unknown key sampler_seed at the top level"),
    ('base = "raw-1"\n[axes]\n"training.batch_size" = [32, 0]\n',
     "[axes: batch_size=0; seed 0]: training.batch_size = 0 is not allowed; expected a value of at least 1"),
    ('base = "raw-1"\n[axes]\n"model.args.hiden" = [[64], [128]]\n', "unknown key model.args.hiden"),
    ('base = "raw-1"\n[axes]\n"training.optimizer_args.learning_rate" = { low = 0.1, high = 0.01 }\n',
     'axes."training.optimizer_args.learning_rate" = { low = 0.1, high = 0.01 } is not allowed'),
    ('base = "raw-1"\n[axes]\n"training.optimizer_args.learning_rate" = { low = 0.001, high = 0.01 }\n',
     "a list of values: a grid needs them"),
    ('base = "raw-1"\nsampler = "random"\n[axes]\n"training.batch_size" = [32, 64]\n', "needs a budget"),
    ('base = "raw-1"\nmetric = "roc_auc"\n[axes]\n"training.batch_size" = [32, 64]\n', "roc_auc is for binary tasks"),
    ('base = "raw-1"\nmetric = "f1"\n[pruning]\nkind = "median"\n[axes]\n"training.batch_size" = [32]\n',
     'pruning.kind = "median" is not allowed; expected "none" with metric = \'f1\''),
    ('base = "raw-1"\n[settings]\n"training.batch_size" = 64\n[axes]\n"training.batch_size" = [32, 64]\n',
     "training.batch_size is an axis of this sweep"),
    ('[axes]\n"training.batch_size" = [32, 64]\n', "base is missing"),
    ('base = "raw-1"\n', "[axes] is empty"),
])
def test_a_mistake_is_refused_naming_the_file_the_key_and_the_value(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_setting_for_every_trial_may_not_set_an_axis():
    with pytest.raises(ConfigError, match="model.args.dropout is an axis of this sweep"):
        load_sweep("raw", overrides={"model.args.dropout": 0.1})


def test_an_unknown_sweep_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="no sweep named 'rwa'.*cnn, hog, raw, xray"):
        load_sweep("rwa")


def test_the_command_lists_the_shipped_sweeps(capsys):
    assert main(["sweep", "--list"]) == 0
    printed = capsys.readouterr().out
    assert "raw    raw-1    grid        27  hidden (3) x dropout (3) x batch_size (3)" in printed
    assert "xray   xray-1   tpe         12" in printed


def test_a_sweep_varies_what_is_trained_not_how_it_is_named(tmp_path):
    path = tmp_path / "names.toml"
    path.write_text('base = "raw-1"\n[axes]\n"description" = ["a", "b"]\n')
    with pytest.raises(ConfigError, match='axes."description" says how an experiment is shown'):
        load_sweep(path)
    path.write_text('name = "../elsewhere"\nbase = "raw-1"\n[axes]\n"training.batch_size" = [32]\n')
    with pytest.raises(ConfigError, match='name = "../elsewhere" is not allowed; expected a name for folders'):
        load_sweep(path)
