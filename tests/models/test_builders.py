"""Models: registered by name, built exactly as the reference report, refused when impossible."""

from __future__ import annotations

import numpy as np
import pytest

from shallowdeep.backend import keras
from shallowdeep.experiments import ConfigError, list_presets, load_experiment
from shallowdeep.models import ModelError, create_model, list_models, load_model
from shallowdeep.training import build_model
from shallowdeep.models import total_formula, weight_table

PARAMS = {
    "raw-1": 407_050, "raw-2": 407_050, "raw-3": 535_818,
    "hog-1": 25_802, "hog-2": 50_890, "hog-3": 101_770,
    "cnn-1": 410_538, "cnn-2": 812_650, "cnn-3": 856_330,
    "xray-1": 164_353, "handout-raw": 1_600, "handout-hog": 816, "handout-cnn": 114,
}


@pytest.mark.parametrize(("name", "params"), PARAMS.items())
def test_preset_parameter_counts_equal_the_reference_report(name, params):
    model = build_model(load_experiment(name))
    assert model.count_params() == params


@pytest.mark.parametrize("name", sorted(set(list_presets())))
def test_the_weight_table_adds_up_to_keras_count_for_every_preset(name):
    model = build_model(load_experiment(name))
    rows = weight_table(model)
    assert sum(row.total for row in rows) == model.count_params()
    assert total_formula(rows).endswith(f"= {model.count_params():,}")


def test_the_report_s_cnn_chains_its_convolutions_and_pools_once():
    model = build_model(load_experiment("cnn-3"))
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["Conv2D", "Conv2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    rows = {row.layer: row for row in weight_table(model)}
    assert rows["conv_2"].formula == "5*5*32*32 + 32 = 25,632"
    assert rows["dense_1"].formula == "6272*128 + 128 = 802,944"
    assert rows["flatten"].output_shape == (6272,)


def test_the_pooled_variant_pools_after_each_convolution():
    model = build_model(load_experiment("cnn-3-pooled"))
    pools = [layer for layer in model.layers if type(layer).__name__ == "MaxPooling2D"]
    assert len(pools) == 3 and tuple(model.get_layer("flatten").output.shape[1:]) == (288,)
    assert model.count_params() == 832 + 2 * 25_632 + (288 * 128 + 128) + 1_290


def test_xray_model_shrinks_128_pixels_to_4_before_the_dense_part():
    model = build_model(load_experiment("xray-1"))
    assert tuple(model.get_layer("pool_5").output.shape[1:]) == (4, 4, 128)
    assert tuple(model.output.shape[1:]) == (1,)


def test_registry_lists_and_refuses_by_name():
    assert {"mlp", "cnn"} <= set(list_models())
    with pytest.raises(ModelError, match="no model builder named 'vgg'"):
        create_model("vgg", (784,), 10)
    with pytest.raises(ModelError, match="model 'mlp' has no argument units; it takes: hidden"):
        create_model("mlp", (784,), 10, units=3)


def test_a_pool_that_shrinks_the_input_below_one_pixel_is_a_config_error():
    experiment = load_experiment("cnn-3", ['model.args.pool="each"', "model.args.filters=[8, 8, 8, 8, 8]"])
    with pytest.raises(ConfigError, match=r"preset cnn-3 .*\[model.args\] 5 max-pool\(s\) of size 2 shrink the 28x28"):
        build_model(experiment)


def test_bf16_computes_the_hidden_layers_in_bfloat16_and_the_output_in_float32():
    experiment = load_experiment("cnn-3")
    model = create_model("cnn", experiment.input_shape, 10, dtype="mixed_bfloat16", **experiment["model"]["args"])
    assert model.get_layer("conv_1").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("output").dtype_policy.name == "float32"
    assert model.count_params() == 856_330


def test_convnet_normalises_after_each_convolution_or_once_per_block():
    per_conv = create_model("convnet", (28, 28, 1), 10, blocks=[[32, 32], [64]], dense=[128], batch_norm="after_conv")
    rows = {row.layer: row for row in weight_table(per_conv)}
    assert rows["conv_1_2"].formula == "3*3*32*32 = 9,216"  # no bias: the batch norm's offset replaces it
    assert rows["bn_1_2"].total == 4 * 32 and rows["dense_1"].formula == "3136*128 = 401,408"
    assert tuple(per_conv.get_layer("flatten").output.shape[1:]) == (7 * 7 * 64,)
    per_block = create_model("convnet", (28, 28, 1), 10, blocks=[[32, 32], [64]], dense=[128])
    rows = {row.layer: row for row in weight_table(per_block)}
    assert rows["conv_1_2"].formula == "3*3*32*32 + 32 = 9,248" and rows["bn_1"].total == 4 * 32
    kinds = [type(layer).__name__ for layer in per_block.layers[1:6]]
    assert kinds == ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"]
    assert type(per_block.layers[6]).__name__ == "BatchNormalization"
    for model in (per_conv, per_block):
        assert sum(row.total for row in weight_table(model)) == model.count_params()


def test_convnet_stride_and_pools_must_leave_at_least_one_pixel():
    gap = create_model("convnet", (128, 128, 1), 1, "sigmoid", blocks=[[8]] * 4, stride=2, head="gap", dense=[])
    assert tuple(gap.get_layer("pool_4").output.shape[1:3]) == (4, 4)
    with pytest.raises(ModelError, match="below 1 pixel"):
        create_model("convnet", (28, 28, 1), 10, blocks=[[8]] * 4, stride=2)
    with pytest.raises(ModelError, match="head must be"):
        create_model("convnet", (28, 28, 1), 10, head="avg")
    with pytest.raises(ModelError, match="batch_norm must be"):
        create_model("convnet", (28, 28, 1), 10, batch_norm=True)


def test_augmentation_comes_in_front_of_the_model_without_weights():
    plain = build_model(load_experiment("mnist-best", ["training.augmentation.rotation=0",
                                                       "training.augmentation.zoom=0", "training.augmentation.shift=0"]))
    augmented = build_model(load_experiment("mnist-best"))
    assert type(augmented.layers[1]).__name__ == "RandomAffine"
    assert augmented.count_params() == plain.count_params()
    assert [row.layer for row in weight_table(augmented)][:2] == ["augment", "conv_1_1"]


def test_a_standardising_convnet_sees_every_exposure_of_an_image_alike(tmp_path):
    """``standardize=True``: (x - mean) / sd per image before the first convolution, with no weights,
    so a brighter or higher-contrast copy of an image (a x + b) gets the same prediction."""
    model = create_model("convnet", (32, 32, 1), 1, "sigmoid", blocks=[[8], [8]], head="gap", dense=[],
                         standardize=True)
    assert type(model.layers[1]).__name__ == "PerImageStandardization"
    plain = create_model("convnet", (32, 32, 1), 1, "sigmoid", blocks=[[8], [8]], head="gap", dense=[])
    assert model.count_params() == plain.count_params()
    images = np.random.default_rng(0).random((6, 32, 32, 1)).astype("float32")
    standardised = keras.ops.convert_to_numpy(model.layers[1](images))
    np.testing.assert_allclose(standardised.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(axis=(1, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(model.predict(0.5 * images + 0.2, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(load_model(tmp_path / "model.keras").predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)
    with pytest.raises(ConfigError, match="model.args.standardize = .yes. is not allowed; expected true or false"):
        load_experiment("xray-best", ['model.args.standardize="yes"'])


def test_an_equalising_convnet_sees_every_increasing_change_of_grey_levels_alike(tmp_path):
    """``equalize=True``: each value becomes the share of the image's values at or below its grey
    level (its empirical distribution function), so gamma, contrast and brightness changes that keep
    the grey levels apart give the same image, hence the same prediction."""
    model = create_model("convnet", (16, 16, 1), 1, "sigmoid", blocks=[[8], [8]], head="gap", dense=[],
                         equalize=True)
    assert type(model.layers[1]).__name__ == "HistogramEqualization"
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 16, size=(4, 16, 16, 1)) * 16 + 8  # 16 grey levels, 16 apart
    images = (levels / 255).astype("float32")
    equalised = keras.ops.convert_to_numpy(model.layers[1](images))
    flat = levels.reshape(4, -1)
    expected = (flat[:, None, :] <= flat[:, :, None]).mean(axis=2).reshape(images.shape)
    np.testing.assert_allclose(equalised, expected, atol=1e-6)
    for changed in (images ** 0.6, images ** 1.8, 0.5 * images + 0.3, np.clip(1.1 * images - 0.03, 0, 1)):
        assert all(len(np.unique(np.round(255 * c))) == len(np.unique(image)) for c, image in zip(changed, images))
        np.testing.assert_allclose(model.predict(changed, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(load_model(tmp_path / "model.keras").predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)
    with pytest.raises(ConfigError, match="model.args.equalize = true is not allowed; expected false unless "
                                          "features.divide_by = 255"):
        load_experiment("xray-best-v1", ["model.args.equalize=true", "features.divide_by=1"])
