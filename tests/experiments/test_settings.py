"""Settings from Python: values, not TOML strings; any depth; the same checks as the command line."""

from __future__ import annotations

import pytest

from shallowdeep.experiments import ConfigError, load_experiment


def test_a_setting_named_by_its_key_alone_finds_its_section():
    experiment = load_experiment("cnn-3", epochs=2, batch_size=64, rotation=5.0, train_limit=100)
    assert experiment["training"]["epochs"] == 2 and experiment["training"]["batch_size"] == 64
    assert experiment["training"]["augmentation"]["rotation"] == 5.0
    assert experiment["dataset"]["train_limit"] == 100


def test_python_settings_and_set_strings_give_the_same_experiment():
    from_python = load_experiment("raw-3", epochs=2, model={"args": {"hidden": [256, 128]}})
    from_strings = load_experiment("raw-3", ["training.epochs=2", "model.args.hidden=[256, 128]"])
    assert from_python.config == from_strings.config and from_python.digest() == from_strings.digest()


def test_a_nested_dict_sets_builder_arguments_one_by_one():
    experiment = load_experiment("raw-3", model={"args": {"hidden": [64, 32]}})
    assert experiment["model"]["args"]["hidden"] == [64, 32]
    assert experiment["model"]["args"]["dropout"] == 0.5  # the preset's, kept
    assert experiment["model"]["args"]["activation"] == ["sigmoid", "relu"]


def test_a_dotted_key_works_as_a_keyword():
    experiment = load_experiment("cnn-3", **{"training.optimizer_args.learning_rate": 0.01})
    assert experiment["training"]["optimizer_args"]["learning_rate"] == 0.01
    assert experiment["training"]["optimizer_args"]["rho"] == 0.9


def test_a_table_value_that_is_not_a_section_replaces_the_preset_s():
    experiment = load_experiment("xray-1", class_weight={"NORMAL": 3.0})
    assert experiment["training"]["class_weight"] == {"NORMAL": 3.0}


def test_an_unknown_key_is_refused_saying_where_builder_arguments_go():
    with pytest.raises(ConfigError, match="unknown setting 'hidden'.*model=\\{'args'"):
        load_experiment("raw-1", hidden=[10])
    with pytest.raises(ConfigError, match="unknown setting 'epoch'; settings: .*epochs"):
        load_experiment("raw-1", epoch=1)


def test_python_values_are_checked_like_file_values():
    with pytest.raises(ConfigError, match=r"preset cnn-3 \(with --set training.epochs=0\): training.epochs = 0"):
        load_experiment("cnn-3", epochs=0)


def test_with_settings_derives_a_new_experiment_and_leaves_the_first_alone():
    base = load_experiment("hog-1")
    derived = base.with_settings(orientations=16)
    assert derived["features"]["hog"]["orientations"] == 16 and base["features"]["hog"]["orientations"] == 8
    assert derived.input_shape == (784,) and base.input_shape == (392,)
    assert derived.digest() != base.digest()


def test_an_experiment_moved_to_another_dataset_drops_the_published_figures():
    assert load_experiment("cnn-1")["reference"]["test_accuracy"] == 0.9872
    assert load_experiment("cnn-1", **{"dataset.name": "mnist"})["reference"]["test_accuracy"] == 0.9872
    assert load_experiment("cnn-1", **{"dataset.name": "pneumoniamnist"})["reference"] == {}
    assert load_experiment("cnn-1").with_settings(**{"dataset.name": "pneumoniamnist"})["reference"] == {}
