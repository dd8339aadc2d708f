"""A model added as ARCHITECTURE.md's recipe says: one registered builder, then any experiment names it."""

from __future__ import annotations

import pytest

from shallowdeep.backend import keras
from shallowdeep.experiments import ConfigError, load_experiment
from shallowdeep.models import list_models, register_model
from shallowdeep.models.registry import _REGISTRY


@pytest.fixture
def logistic():
    @register_model
    def logistic(input_shape, outputs, output_activation="softmax", dtype="float32", l2=0.0):
        """Multinomial logistic regression: one dense layer on the flat input."""
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.Flatten(dtype=dtype)(inputs)
        regularizer = keras.regularizers.L2(l2) if l2 else None
        x = keras.layers.Dense(outputs, activation=output_activation, dtype="float32", kernel_regularizer=regularizer,
                               name="output")(x)
        return keras.Model(inputs, x, name="logistic")

    yield logistic
    _REGISTRY.pop("logistic")


@pytest.mark.slow
def test_a_registered_builder_trains_from_any_experiment_and_its_arguments_are_checked(logistic, real_data_dir,
                                                                                       tmp_path):
    import shallowdeep as sd

    assert "logistic" in list_models()
    experiment_file = tmp_path / "logistic.toml"
    experiment_file.write_text('name = "logistic"\n[features]\nkind = "raw"\n'
                               '[model]\nbuilder = "logistic"\nargs = { l2 = 1e-4 }\n'
                               '[training]\nepochs = 1\nvalidation = 0.1\n'
                               '[dataset]\ntrain_limit = 1000\ntest_limit = 200\n', encoding="utf-8")
    run = sd.train(experiment_file, runs_dir=tmp_path / "runs", data_dir=real_data_dir, progress=False)
    assert run.model.count_params() == 784 * 10 + 10 and run.metrics["test"]["accuracy"] > 0.3  # chance: 0.1
    assert sd.preset_summaries("seed")[0]["params"] > 0  # the shipped presets still count
    with pytest.raises(ConfigError, match=r"unknown key model\.args\.\w+; allowed: l2"):
        load_experiment("raw-1", **{"model.builder": "logistic"})  # raw-1's MLP arguments are not logistic's
