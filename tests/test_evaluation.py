"""Metrics: exact on hand-made cases; binary metrics use a threshold never chosen on test."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shallowdeep.backend import keras, steps_per_call
from shallowdeep.evaluation import (
    Predictions, ThresholdSource, choose_threshold, classification_metrics, cross_entropy,
    metrics_from_predictions, predict_probabilities, roc_auc, select_examples,
)
from shallowdeep.experiments import load_experiment


def one_hot_probabilities(predicted, classes, confidence=0.9):
    probabilities = np.full((len(predicted), classes), (1 - confidence) / (classes - 1))
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_confusion_matrix_rows_are_true_classes():
    predicted = one_hot_probabilities(np.array([0, 1, 1, 2, 2, 0]), 3)
    metrics = classification_metrics(np.array([0, 0, 1, 2, 2, 2]), predicted, ("a", "b", "c"))
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_per_class_scores_and_most_confused_pairs():
    y_true = np.array([4, 4, 4, 9, 9, 9, 9, 7, 7, 1])
    y_pred = np.array([9, 9, 4, 9, 9, 4, 9, 1, 7, 1])
    metrics = classification_metrics(y_true, one_hot_probabilities(y_pred, 10), tuple("0123456789"))
    assert metrics["accuracy"] == 0.6
    assert metrics["most_confused"][0] == {"true": "4", "predicted": "9", "count": 2}
    assert {(m["true"], m["predicted"]) for m in metrics["most_confused"][1:]} == {("9", "4"), ("7", "1")}
    four = metrics["per_class"]["4"]
    assert four["precision"] == 0.5 and four["recall"] == pytest.approx(1 / 3) and four["support"] == 3


def test_cross_entropy_equals_keras_categorical_crossentropy():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=50)
    labels = rng.integers(0, 10, size=50)
    expected = keras.losses.CategoricalCrossentropy()(keras.utils.to_categorical(labels, 10), probabilities)
    assert cross_entropy(labels, probabilities) == pytest.approx(float(expected), rel=1e-5)


def _small_classifier(outputs: int, activation: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(outputs, activation=activation)])
    model.compile(loss="mse", steps_per_execution=steps_per_call(16))  # as the runs compile their models
    return model


@pytest.mark.parametrize("outputs, activation", [(10, "softmax"), (1, "sigmoid")])
def test_probabilities_are_keras_predictions_batch_by_batch_in_order(outputs, activation):
    model = _small_classifier(outputs, activation)
    x = np.random.default_rng(0).random((700, 784), dtype=np.float32)  # 256 does not divide 700
    expected = model.predict(x, batch_size=256, verbose=0).astype(np.float64)
    probabilities = predict_probabilities(model, x, batch_size=256)
    if outputs == 1:  # one sigmoid output: [P(0), P(1)]
        expected = np.concatenate([1 - expected, expected], axis=1)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    assert predict_probabilities(model, x[:0]).shape == (0, 2 if outputs == 1 else outputs)


def test_predicting_holds_one_batch_at_a_time():
    """8,192 examples (25.7 MiB of inputs) reach the model 256 at a time. Keras' ``predict`` took
    the whole array into its pipeline and ran up to ``steps_per_execution`` batches a call, and
    TensorFlow's CPU pool keeps the most it ever held (the memory is measured by
    ``benchmarks/gpu.py``: the lab's peak; a pool's peak inside a test depends on what the other
    tests of its worker left running)."""
    model = _small_classifier(10, "softmax")
    x = np.random.default_rng(0).random((8192, 784), dtype=np.float32)
    seen = []
    own_step = model.predict_on_batch
    model.predict_on_batch = lambda batch: seen.append(len(batch)) or own_step(batch)
    predict_probabilities(model, x, batch_size=256)
    assert seen == [256] * 32


def test_roc_auc_equals_the_share_of_correctly_ordered_pairs():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=60)
    scores = np.round(rng.random(60), 1)  # many ties
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(labels, scores) == pytest.approx(expected)


def test_binary_metrics_at_a_given_threshold():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    p_positive = np.array([0.1, 0.4, 0.6, 0.7, 0.3, 0.55, 0.8, 0.9, 0.95, 0.99])
    probabilities = np.stack([1 - p_positive, p_positive], axis=1)
    metrics = classification_metrics(y_true, probabilities, ("NORMAL", "PNEUMONIA"), threshold=0.5)
    assert metrics["confusion_matrix"] == [[2, 2], [1, 5]]
    assert metrics["sensitivity"] == pytest.approx(5 / 6) and metrics["specificity"] == 0.5
    assert metrics["f1"] == pytest.approx(2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6))
    assert metrics["threshold"] == 0.5
    at_065 = classification_metrics(y_true, probabilities, ("NORMAL", "PNEUMONIA"), threshold=0.65)
    assert at_065["confusion_matrix"] == [[3, 1], [2, 4]]


def test_the_threshold_maximises_youden_s_j_on_validation():
    y_val = np.array([0, 0, 0, 1, 1, 1])
    p_val = np.array([0.2, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert choose_threshold(y_val, p_val) == 0.7  # every case right: J = 1


def test_a_tie_in_youden_s_j_goes_to_the_threshold_closest_to_one_half():
    y_val = np.array([0, 0, 1, 1])
    p_val = np.array([0.1, 0.2, 0.8, 0.9])  # every threshold in (0.2, 0.8] separates perfectly
    assert choose_threshold(y_val, p_val) == 0.5


def _binary_predictions(p_val, y_val, p_test, y_test) -> Predictions:
    as_two = lambda p: np.stack([1 - np.asarray(p), np.asarray(p)], axis=1)  # noqa: E731
    return Predictions(as_two(p_val), np.asarray(y_val), as_two(p_test), np.asarray(y_test),
                       np.arange(len(y_test)))


def test_the_binary_threshold_comes_from_validation_even_where_test_would_choose_another():
    experiment = load_experiment("xray-1", ['evaluation.threshold="validation"'])
    # Validation separates at 0.3; the test set would be best served by 0.85.
    predictions = _binary_predictions([0.1, 0.2, 0.3, 0.4, 0.9], [0, 0, 1, 1, 1],
                                      [0.2, 0.6, 0.7, 0.8, 0.9, 0.95], [0, 0, 0, 0, 1, 1])
    metrics = metrics_from_predictions(experiment, predictions)
    assert metrics["threshold_source"] == ThresholdSource.VALIDATION.value
    assert metrics["test"]["threshold"] == 0.3 == metrics["validation"]["threshold"]
    assert metrics["test"]["specificity"] == 0.25  # what 0.3 does to the test set's negatives
    assert choose_threshold(predictions.test_labels, predictions.test_probabilities[:, 1]) == 0.9
    # Changing only the test set leaves the threshold where validation put it.
    shuffled = _binary_predictions([0.1, 0.2, 0.3, 0.4, 0.9], [0, 0, 1, 1, 1], [0.99, 0.01], [0, 1])
    assert metrics_from_predictions(experiment, shuffled)["test"]["threshold"] == 0.3
    assert metrics["alternative"]["threshold_source"] == ThresholdSource.DEFAULT.value
    assert metrics["alternative"]["test"]["threshold"] == 0.5


def test_a_fixed_threshold_is_used_and_the_validation_choice_is_shown_beside_it():
    experiment = load_experiment("xray-1")  # threshold = 0.5, the lab's
    predictions = _binary_predictions([0.1, 0.2, 0.3, 0.4, 0.9], [0, 0, 1, 1, 1],
                                      [0.2, 0.6, 0.7, 0.8], [0, 0, 1, 1])
    metrics = metrics_from_predictions(experiment, predictions)
    assert metrics["threshold_source"] == ThresholdSource.EXPERIMENT.value and metrics["test"]["threshold"] == 0.5
    assert metrics["alternative"]["threshold_source"] == ThresholdSource.VALIDATION.value
    assert metrics["alternative"]["test"]["threshold"] == 0.3
    assert len(metrics["roc_test"]["fpr"]) == len(metrics["roc_test"]["tpr"]) >= 3


def test_the_kept_mistakes_are_exactly_the_misclassified_test_images_surest_first():
    images = np.arange(6 * 4, dtype=np.uint8).reshape(6, 2, 2)
    labels = np.array([0, 1, 2, 0, 1, 2])
    probabilities = one_hot_probabilities(np.array([0, 2, 2, 1, 1, 0]), 3)
    probabilities[3] = [0.3, 0.6, 0.1]  # wrong, less sure than the others
    predictions = Predictions(probabilities, labels, probabilities, labels, np.arange(100, 106))
    examples = select_examples(images, predictions, threshold=None)
    assert examples.mistake_indices.tolist() == [101, 105, 103]
    assert examples.mistake_labels.tolist() == [1, 2, 0] and examples.mistake_predicted.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(examples.mistake_images, images[[1, 5, 3]])
    assert examples.sample_images.shape == (6, 2, 2)
