"""Adapting a finished chest X-ray run to a new site from the site's unlabelled images."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shallowdeep.adaptation import (
    MIN_IMAGES, AdaptationError, adapt, bayes_threshold, estimate_prevalence, platt_scaling, reestimate_batch_norm,
)
from shallowdeep.backend import keras
from shallowdeep.cli import main
from shallowdeep.models import load_model
from shallowdeep.predict import predict_images
from shallowdeep.runs import Run

SITE_IMAGES = 60  # of each class, from the official test folder: 120 in all


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- the statistics, on numbers whose answer is known ----------------------------------------------

def test_em_recovers_a_new_site_s_prevalence_from_calibrated_posteriors():
    """Scores of two overlapping classes (logits N(+-1.5, 1)) calibrated at a prevalence of 0.74;
    the new site has 0.4 positives. Taking the posteriors at face value says 0.47; EM says 0.4."""
    rng = np.random.default_rng(0)
    labels = rng.random(20_000) < 0.4
    z = np.where(labels, 1.5, -1.5) + rng.normal(size=labels.size)
    log_odds_source = np.log(0.74 / 0.26)
    posterior_at_source = _sigmoid(3.0 * z + log_odds_source)  # exact: the likelihood ratio is exp(3 z)
    naive = posterior_at_source.mean()
    estimated, iterations = estimate_prevalence(posterior_at_source, 0.74)
    assert naive > 0.45
    assert estimated == pytest.approx(0.4, abs=0.01) and iterations > 1


def test_the_bayes_threshold_is_where_the_posterior_at_the_new_prevalence_is_one_half():
    a, b, source, new = 1.7, -0.3, 0.74, 0.3
    threshold = bayes_threshold(a, b, source, new)
    z = np.log(threshold / (1 - threshold))
    calibrated = _sigmoid(a * z + b)
    moved = (new / source * calibrated) / (new / source * calibrated + (1 - new) / (1 - source) * (1 - calibrated))
    assert moved == pytest.approx(0.5, abs=1e-9)
    assert bayes_threshold(1.0, 0.0, 0.6, 0.6) == pytest.approx(0.5)
    assert bayes_threshold(1.0, 0.0, 0.6, 0.2) > 0.5  # fewer positives: a higher bar


def test_platt_scaling_finds_the_slope_and_intercept_that_made_the_labels():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, 50_000)
    z = np.log(p / (1 - p))
    labels = (rng.random(p.size) < _sigmoid(2.0 * z - 0.5)).astype(int)
    a, b = platt_scaling(labels, p)
    assert a == pytest.approx(2.0, abs=0.08) and b == pytest.approx(-0.5, abs=0.05)
    with pytest.raises(AdaptationError, match="one class only"):
        platt_scaling(np.ones(10, dtype=int), p[:10])


def test_batch_norm_re_estimated_normalises_the_new_images_to_zero_mean_and_unit_variance():
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization(name="bn_a")(keras.layers.Dense(3, name="dense")(inputs))
    outputs = keras.layers.BatchNormalization(name="bn_b")(keras.layers.Dense(2, name="dense_b")(hidden))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).normal(3.0, 5.0, (500, 4)).astype(np.float32)
    assert reestimate_batch_norm(model, x) == ["bn_a", "bn_b"]
    first = model.get_layer("bn_a")
    before_first = keras.ops.convert_to_numpy(model.get_layer("dense")(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.moving_mean), before_first.mean(axis=0), rtol=1e-4)
    out = keras.ops.convert_to_numpy(model(x, training=False))  # gamma 1, beta 0: standardised
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-2)
    assert reestimate_batch_norm(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), x) == []


# -- a screener on the real chest X-rays -----------------------------------------------------------

@pytest.fixture(scope="module")
def screener(quick_best_lab) -> Run:
    """xray-best as `shallowdeep lab --quick --suite best` trains it on the real chest X-rays (one
    epoch on 1,200 images at 64 x 64), which the session trains once for the lab's tests too."""
    _, result = quick_best_lab
    return next(record.run for record in result.records if record.name == "xray-best")


@pytest.fixture(scope="module")
def site(real_chest_xray, tmp_path_factory) -> Path:
    """A new site: 60 NORMAL and 60 PNEUMONIA X-rays of the official test folder, in class folders."""
    folder = tmp_path_factory.mktemp("site")
    for name in ("NORMAL", "PNEUMONIA"):
        (folder / name).mkdir()
        for path in sorted((real_chest_xray / "test" / name).iterdir())[:SITE_IMAGES]:
            shutil.copyfile(path, folder / name / path.name)
    return folder


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _batch_norm_weights(model) -> list[np.ndarray]:
    from shallowdeep.models.anatomy import inference_layers

    found = [w for layer in inference_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
             for w in layer.get_weights()]
    assert len(found) == 8 * 4  # xray-best: 8 batch norms, each gamma, beta, moving mean and variance
    return found


def _adapted(run: Run):
    weights = _batch_norm_weights(load_model(run.path / "model.keras"))
    metrics = run.metrics["adaptation"]
    return weights, metrics["prevalence"], metrics["threshold"], run.environment["adaptation"]["images"]["sha256"]


def test_no_label_is_read_the_same_images_flattened_or_shuffled_give_the_same_adapted_run(
        screener, site, real_data_dir, tmp_path):
    """What an adapted run is made of (its model, the prevalence, the threshold, the images' digest)
    is the same whether the images come in their class folders, flattened into one folder under
    other names, or sorted into the wrong folders at random."""
    from shallowdeep.adaptation import adapt_model, read_site_images
    from shallowdeep.prepare import prepare_data

    flat, shuffled = tmp_path / "flat", tmp_path / "shuffled"
    flat.mkdir()
    for index, path in enumerate(_files(site)):
        shutil.copyfile(path, flat / f"image-{index:04d}{path.suffix}")
    names = ["NORMAL", "PNEUMONIA", "other"]
    shuffler = random.Random(3)
    for index, path in enumerate(_files(site)):
        target = shuffled / shuffler.choice(names) / f"{shuffler.random():.6f}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    adapted = adapt(screener, site, runs_dir=tmp_path / "adapted", data_dir=real_data_dir, progress=False)
    reference = prepare_data(screener.experiment, real_data_dir, progress=False).x_val
    expected = _adapted(adapted)
    for folder in (flat, shuffled):
        images = read_site_images([folder], (64, 64))
        model, adaptation = adapt_model(screener, images, reference)
        assert (adaptation.prevalence, adaptation.threshold, images.sha256) == expected[1:]
        for ours, theirs in zip(_batch_norm_weights(model), expected[0], strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_an_adapted_run_is_a_run_with_its_source_images_and_what_was_measured(screener, site, real_data_dir,
                                                                             tmp_path, check_run_folder):
    adapted = adapt(screener, site, labelled=site, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    assert adapted.path.parent == tmp_path / "xray-best-adapted" and adapted.finished
    check_run_folder(adapted, adapted.experiment, test_samples=2 * SITE_IMAGES, epochs=screener.epochs_done)
    record = adapted.environment["adaptation"]
    assert record["source_run"] == str(screener.path) and record["labels_read_from_images"] is False
    assert record["images"]["count"] == 2 * SITE_IMAGES and len(record["images"]["sha256"]) == 64
    measured = adapted.metrics["adaptation"]
    assert len(measured["batch_norm"]["layers"]) == 8  # xray-best: a batch norm after each of 8 convolutions
    assert 0.02 <= measured["prevalence"]["estimated"] <= 0.98
    threshold = measured["threshold"]["adapted"]
    assert adapted.experiment["evaluation"]["threshold"] == threshold == adapted.metrics["test"]["threshold"]
    # Its test set is the labelled folder; the decisions are the adapted model's at the adapted threshold.
    assert adapted.metrics["test"]["samples"] == 2 * SITE_IMAGES
    predicted = predict_images(adapted, _files(site)[:5])
    p = np.array([prediction.probabilities["PNEUMONIA"] for prediction in predicted])
    assert [prediction.predicted for prediction in predicted] == ["PNEUMONIA" if q >= threshold else "NORMAL" for q in p]
    # The explorer answers at the adapted threshold, with the source run's verdict on the same X-ray beside it.
    from fastapi.testclient import TestClient

    from shallowdeep.explorer import create_app

    client = TestClient(create_app([adapted]), base_url="http://127.0.0.1")
    answer = client.post("/api/xray?run=xray-best-adapted", content=_files(site)[0].read_bytes(),
                         headers={"Content-Type": "image/jpeg"}).json()
    assert answer["threshold_source"] == "adapted" and answer["threshold"] == threshold
    assert answer["as_trained"]["run"] == "xray-best"
    assert answer["as_trained"]["threshold"] == screener.metrics["test"]["threshold"]
    assert answer["as_trained"]["verdict"] == ("PNEUMONIA" if answer["as_trained"]["probability"] >=
                                               screener.metrics["test"]["threshold"] else "NORMAL")


def test_each_lever_can_be_left_out(screener, site, real_data_dir):
    from shallowdeep.adaptation import adapt_model, read_site_images
    from shallowdeep.prepare import prepare_data

    images = read_site_images([site], (64, 64))
    reference = prepare_data(screener.experiment, real_data_dir, progress=False).x_val
    source_bn = _batch_norm_weights(screener.model)

    model, only_threshold = adapt_model(screener, images, reference, batch_norm=False)
    assert only_threshold.batch_norm is None and only_threshold.prevalence is not None
    kept = _batch_norm_weights(model)
    for ours, theirs in zip(kept, source_bn, strict=True):
        np.testing.assert_array_equal(ours, theirs)

    model, only_batch_norm = adapt_model(screener, images, reference, prevalence=False)
    assert len(only_batch_norm.batch_norm["layers"]) == 8 and only_batch_norm.prevalence is None
    assert only_batch_norm.threshold["adapted"] == screener.metrics["test"]["threshold"]
    changed = _batch_norm_weights(model)
    moving = [index for index in range(len(changed)) if index % 4 >= 2]  # the moving mean and variance
    assert all(not np.array_equal(changed[i], source_bn[i]) for i in moving)
    assert all(np.array_equal(changed[i], source_bn[i]) for i in range(len(changed)) if i not in moving)


def test_too_few_images_are_refused_saying_how_many_are_needed(screener, site, real_data_dir, tmp_path):
    few = _files(site)[:MIN_IMAGES - 1]
    with pytest.raises(AdaptationError, match=f"99 image.*at least {MIN_IMAGES}"):
        adapt(screener, few, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    assert not any(tmp_path.iterdir())


def test_digits_are_refused_as_images_of_another_kind(screener, real_data_dir, tmp_path):
    from shallowdeep.data import load_mnist

    digits = tmp_path / "digits"
    digits.mkdir()
    (images, _), _ = load_mnist(real_data_dir)
    for index in range(MIN_IMAGES + 20):
        Image.fromarray(images[index]).save(digits / f"{index}.png")
    with pytest.raises(AdaptationError, match="not like the images xray-best was trained on.*nats from its validation images"):
        adapt(screener, digits, runs_dir=tmp_path / "runs", data_dir=real_data_dir, progress=False)
    assert not (tmp_path / "runs").exists()


def test_a_run_that_is_not_binary_is_refused(tiny_runs, site, tmp_path):
    (mnist_run,) = (tiny_runs / "cnn-1").iterdir()
    with pytest.raises(AdaptationError, match="classifies 10 classes.*binary run"):
        adapt(mnist_run, site, runs_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_shallowdeep_adapt_says_what_it_measured_and_where_the_run_is(screener, site, real_data_dir, tmp_path,
                                                                     capsys):
    assert main(["adapt", str(screener.path), str(site), "--runs-dir", str(tmp_path), "--data-dir",
                 str(real_data_dir), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"adapted from {2 * SITE_IMAGES} images" in out and "no label read" in out
    assert "8 layers re-estimated" in out and "estimated here" in out and "run folder:" in out
    assert "as trained" in out and "adapted" in out  # the source beside the adapted run, on the same images
    assert main(["adapt", str(screener.path), str(tmp_path / "nowhere"), "--no-progress"]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["adapt", str(screener.path), str(site), "--runs-dir", str(tmp_path), "--data-dir",
                 str(real_data_dir), "--no-progress", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["test"]) == {"accuracy", "sensitivity", "specificity", "roc_auc", "threshold"}


def test_the_test_folder_splits_in_two_halves_by_patient_with_the_same_share_of_pneumonia(real_chest_xray):
    from shallowdeep.adaptation import test_folder_halves
    from shallowdeep.data.chest_xray import patient_id

    first, second = test_folder_halves(real_chest_xray)
    assert len(first.paths) + len(second.paths) == 624 and abs(len(first.paths) - len(second.paths)) < 20
    assert not {patient_id(path) for path in first.paths} & {patient_id(path) for path in second.paths}
    assert np.mean(first.labels) == pytest.approx(np.mean(second.labels), abs=0.02)
    assert [path.parent.name for path in first.paths] == [("NORMAL", "PNEUMONIA")[label] for label in first.labels]


def test_the_lab_s_adaptation_across_halves_is_measured_once_and_reused(screener, quick_best_lab, real_chest_xray,
                                                                         real_data_dir):
    """The quick best lab adapted xray-best on each half of the test folder; asked again, the same
    two runs come back and nothing new is written."""
    from shallowdeep.adaptation import adapt_across_halves

    runs_dir = screener.path.parent.parent
    before = sorted((runs_dir / "xray-best-adapted").iterdir())
    adapted = adapt_across_halves(screener, real_chest_xray, runs_dir, data_dir=real_data_dir, progress=False)
    assert sorted(run.path for run in adapted) == before and len(before) == 2
    assert [run.environment["adaptation"]["evaluated_on"] for run in adapted] == [
        f"{real_chest_xray.name} test, half b by patient", f"{real_chest_xray.name} test, half a by patient"]
    for run in adapted:  # the source's figures on the very images the adapted run is measured on
        source, test = run.metrics["source"]["test"], run.metrics["test"]
        assert source["samples"] == test["samples"] and source["threshold"] == screener.metrics["test"]["threshold"]
        assert run.environment["adaptation"]["images"]["count"] + test["samples"] == 624
