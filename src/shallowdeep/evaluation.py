"""Metrics computed from one ordered pass of predictions, and what a report needs of them.

:func:`predict_probabilities` runs the model once over arrays held in memory, in order, and every
metric is computed from those probabilities and the labels of the *same* arrays: predictions and
labels cannot come apart (the classic mistake is predicting on a shuffled dataset and comparing
with labels read in a second pass). The counting is scikit-learn's (``sklearn.metrics``).

Binary tasks (one sigmoid output, class 1 = positive) also get sensitivity (recall of class 1),
specificity (recall of class 0), the F1 score of the positive class, the ROC AUC (the probability
that a random positive scores above a random negative, ties counting one half) and the decision
threshold used. A threshold "chosen on validation" maximises Youden's J = sensitivity +
specificity - 1 on the validation split (Youden 1950); the test set never influences it.

A binary task on images read by a convolutional network also keeps a few test images with the
Grad-CAM heat map of the class the model predicted (:class:`GradCamExamples`), so that a report
can show where the network looked without loading the model.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from shallowdeep.experiments import Experiment

_CLIP = 1e-7  # as Keras clips probabilities inside its cross-entropy losses
#: Misclassified test images kept in a run, for a report or a person to look at.
MISTAKES_KEPT = 100
#: The first test images kept in a run, to draw what the features make of them.
SAMPLES_KEPT = 16
#: Test images explained with Grad-CAM in a binary CNN's run: this many from each cell of its
#: test confusion matrix (right and wrong answers of both classes).
GRAD_CAM_PER_CELL = 2


class ThresholdSource(enum.Enum):
    """Where a binary decision threshold came from."""

    VALIDATION = "validation"  # maximises Youden's J on the validation split
    EXPERIMENT = "experiment"  # a number fixed in the experiment file
    DEFAULT = "default"  # 0.5
    ADAPTED = "adapted"  # set by `shallowdeep adapt` for a new site (shallowdeep.adaptation)


def predict_probabilities(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, classes); a single sigmoid output becomes [P(0), P(1)].

    The model's compiled predict step runs on one batch at a time (``predict_on_batch``): the
    step of Keras' ``predict`` (the same probabilities on JAX and PyTorch; on TensorFlow, where
    the graph around the step differs, within one float32 rounding). ``predict`` copies the whole
    array into its data pipeline and, with ``steps_per_execution``, runs up to that many batches
    in one call, and TensorFlow's CPU memory pool keeps the most it ever held. Measured on a
    2-core Xeon with AMX: the pool's peak predicting 10,000 digits with cnn-3 (fp32) 190 -> 34 MiB;
    2-core Xeon with AMX, the seed lab (README's install): the process's peak 1.81 -> 1.45 GiB.
    """
    batches = [np.asarray(model.predict_on_batch(x[start:start + batch_size]), dtype=np.float64)
               for start in range(0, len(x), batch_size)]
    raw = np.concatenate(batches) if batches else np.zeros((0, model.output_shape[-1]))
    if raw.ndim == 2 and raw.shape[1] == 1:
        return np.concatenate([1.0 - raw, raw], axis=1)
    return raw


def cross_entropy(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean of -log p(true class), probabilities clipped to [1e-7, 1 - 1e-7].

    Hand-written rather than ``sklearn.metrics.log_loss`` because it must equal the loss Keras
    reports during training, and Keras clips at 1e-7 (a test compares the two).
    """
    picked = probabilities[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(picked, _CLIP, 1.0 - _CLIP))))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(skm.roc_auc_score(y_true, scores))


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve's corners: false and true positive rates, as JSON-ready lists."""
    if len(np.unique(y_true)) < 2:
        return {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}
    fpr, tpr, _ = skm.roc_curve(y_true, scores)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}


def choose_threshold(y_val: np.ndarray, p_positive: np.ndarray) -> float:
    """The threshold on P(positive) that maximises Youden's J on validation.

    Candidates are every validation score (predict positive when ``p >= threshold``) and 0.5;
    among equally good ones the closest to 0.5 wins, so a perfectly separated validation set
    does not push the threshold to an extreme.
    """
    candidates = np.unique(np.r_[p_positive, 0.5])
    best = youden_best(y_val, p_positive, candidates)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def youden_best(y_true: np.ndarray, p_positive: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Indices of the ``candidates`` thresholds (predict positive when ``p >= threshold``) at which
    Youden's J = sensitivity + specificity - 1 is at its maximum (ties kept)."""
    predicted = p_positive[None, :] >= candidates[:, None]
    positives, negatives = y_true == 1, y_true == 0
    sensitivity = predicted[:, positives].mean(axis=1) if positives.any() else np.zeros(len(candidates))
    specificity = (~predicted[:, negatives]).mean(axis=1) if negatives.any() else np.zeros(len(candidates))
    youden = sensitivity + specificity - 1.0
    return np.flatnonzero(np.isclose(youden, youden.max(), rtol=0, atol=1e-12))


def classification_metrics(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: tuple[str, ...],
    threshold: float | None = None,
) -> dict[str, Any]:
    """Loss, accuracy, confusion matrix, per-class precision/recall/F1, most confused pairs, and
    for two classes with a ``threshold`` also the binary metrics (positive class = 1)."""
    classes = len(class_names)
    if threshold is not None and classes == 2:
        y_pred = (probabilities[:, 1] >= threshold).astype(np.int64)
    else:
        y_pred = probabilities.argmax(axis=1)
    labels = np.arange(classes)
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(class_names)
    }
    off_diagonal = [
        (int(matrix[t, p]), class_names[t], class_names[p])
        for t in range(classes) for p in range(classes) if t != p and matrix[t, p]
    ]
    off_diagonal.sort(key=lambda item: (-item[0], item[1], item[2]))
    metrics: dict[str, Any] = {
        "samples": int(len(y_true)),
        "loss": cross_entropy(y_true, probabilities),
        "accuracy": float(np.mean(y_pred == y_true)),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "most_confused": [{"true": t, "predicted": p, "count": c} for c, t, p in off_diagonal[:5]],
    }
    if classes == 2:
        positive, negative = per_class[class_names[1]], per_class[class_names[0]]
        metrics.update({
            "threshold": threshold if threshold is not None else 0.5,
            "sensitivity": positive["recall"],
            "specificity": negative["recall"],
            "f1": positive["f1"],
            "roc_auc": roc_auc(y_true, probabilities[:, 1]),
        })
    return metrics


@dataclass
class Predictions:
    """Every validation and test prediction of a model, with the labels of the same rows.

    ``test_indices`` are the test rows' positions in the dataset's whole test split.
    """

    val_probabilities: np.ndarray
    val_labels: np.ndarray
    test_probabilities: np.ndarray
    test_labels: np.ndarray
    test_indices: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))


@dataclass
class Examples:
    """Test images kept with a run: the first few (``samples``) and misclassified ones
    (``mistakes``, at most :data:`MISTAKES_KEPT`, most confident first), each with its labels."""

    sample_images: np.ndarray
    sample_labels: np.ndarray
    mistake_images: np.ndarray
    mistake_labels: np.ndarray
    mistake_predicted: np.ndarray
    mistake_probabilities: np.ndarray
    mistake_indices: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))


def metrics_from_predictions(experiment: Experiment, predictions: Predictions) -> dict[str, Any]:
    """Validation and test metrics; for a binary task at the threshold the experiment asks for
    (chosen on validation, or fixed), with the other rule's figures beside them."""
    names = experiment.class_names
    y_val, p_val = predictions.val_labels, predictions.val_probabilities
    y_test, p_test = predictions.test_labels, predictions.test_probabilities
    if len(names) != 2:
        return {"validation": classification_metrics(y_val, p_val, names),
                "test": classification_metrics(y_test, p_test, names)}
    configured = experiment["evaluation"]["threshold"]
    chosen = choose_threshold(y_val, p_val[:, 1])
    if configured == "validation":
        threshold, source = chosen, ThresholdSource.VALIDATION
        alternative, alternative_source = 0.5, ThresholdSource.DEFAULT
    else:
        threshold, source = configured, ThresholdSource.EXPERIMENT
        alternative, alternative_source = chosen, ThresholdSource.VALIDATION
    return {
        "threshold_source": source.value,
        "validation": classification_metrics(y_val, p_val, names, threshold),
        "test": classification_metrics(y_test, p_test, names, threshold),
        "alternative": {
            "threshold_source": alternative_source.value,
            "validation": classification_metrics(y_val, p_val, names, alternative),
            "test": classification_metrics(y_test, p_test, names, alternative),
        },
        "roc_validation": roc_points(y_val, p_val[:, 1]),
        "roc_test": roc_points(y_test, p_test[:, 1]),
    }


def predicted_classes(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: argmax, or for two classes with a threshold, ``P(class 1) >= threshold``."""
    if threshold is not None and probabilities.shape[1] == 2:
        return (probabilities[:, 1] >= threshold).astype(np.int64)
    return probabilities.argmax(axis=1)


def select_examples(test_images: np.ndarray, predictions: Predictions, threshold: float | None) -> Examples:
    """The first test images, and the misclassified ones the model was surest of."""
    probabilities, labels = predictions.test_probabilities, predictions.test_labels
    predicted = predicted_classes(probabilities, threshold)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    wrong = wrong[np.argsort(-confidence, kind="stable")][:MISTAKES_KEPT]
    return Examples(
        sample_images=test_images[:SAMPLES_KEPT], sample_labels=labels[:SAMPLES_KEPT],
        mistake_images=test_images[wrong], mistake_labels=labels[wrong], mistake_predicted=predicted[wrong],
        mistake_probabilities=probabilities[wrong].astype(np.float32),
        mistake_indices=predictions.test_indices[wrong],
    )


@dataclass
class GradCamExamples:
    """Test images of a binary CNN with the Grad-CAM heat map (n, h, w in [0, 1], at the last
    convolution's resolution) of the class it predicted: the most confident images of each cell
    of the test confusion matrix, true positives, true negatives, false negatives, false positives."""

    images: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    heatmaps: np.ndarray
    test_indices: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))


def grad_cam_examples(model, data, predictions: Predictions, threshold: float | None) -> GradCamExamples | None:
    """:data:`GRAD_CAM_PER_CELL` test images of each cell of a binary confusion matrix, most
    confident first, with their Grad-CAM heat maps (:mod:`shallowdeep.models.gradcam`); None for a
    model without convolutions, and with a warning saying why for one Grad-CAM cannot take apart."""
    from shallowdeep.models import GradCam, ModelError, has_convolution

    if not has_convolution(model):
        return None
    try:
        explain = GradCam(model)
    except ModelError as error:
        warnings.warn(f"no Grad-CAM heat maps kept: {error}", stacklevel=2)
        return None
    probabilities, labels = predictions.test_probabilities, predictions.test_labels
    predicted = predicted_classes(probabilities, threshold)
    confidence = probabilities[np.arange(len(labels)), predicted]
    rows = []
    for true, guess in ((1, 1), (0, 0), (1, 0), (0, 1)):
        cell = np.flatnonzero((labels == true) & (predicted == guess))
        rows.extend(cell[np.argsort(-confidence[cell], kind="stable")][:GRAD_CAM_PER_CELL])
    rows = np.asarray(rows, dtype=np.int64)
    heatmaps = explain(data.x_test[rows], predicted[rows]).heatmaps
    return GradCamExamples(data.test_images[rows], labels[rows], predicted[rows],
                           probabilities[rows].astype(np.float32), heatmaps, predictions.test_indices[rows])


@dataclass
class Evaluation:
    """A trained model's evaluation: the metrics (JSON-ready), every prediction, kept examples,
    and for a binary CNN, Grad-CAM heat maps of a few test images."""

    metrics: dict[str, Any]
    predictions: Predictions
    examples: Examples
    grad_cam: GradCamExamples | None = None


def evaluate_model(model, experiment: Experiment, data) -> Evaluation:
    """Predict the validation and test splits of ``data`` (a :class:`~shallowdeep.prepare.PreparedData`)
    once each, in order, and compute everything a report shows from those predictions."""
    batch = max(256, experiment["training"]["batch_size"])
    predictions = Predictions(
        val_probabilities=predict_probabilities(model, data.x_val, batch).astype(np.float32),
        val_labels=data.y_val,
        test_probabilities=predict_probabilities(model, data.x_test, batch).astype(np.float32),
        test_labels=data.y_test,
        test_indices=data.test_indices,
    )
    metrics = metrics_from_predictions(experiment, _as_float64(predictions))
    threshold = metrics["test"].get("threshold") if experiment.binary or len(data.class_names) == 2 else None
    explained = (grad_cam_examples(model, data, predictions, threshold)
                 if len(data.class_names) == 2 and experiment.features == "image" else None)
    return Evaluation(metrics, predictions, select_examples(data.test_images, predictions, threshold), explained)


def _as_float64(predictions: Predictions) -> Predictions:
    """Metrics from the stored (float32) probabilities, computed in float64, so that metrics
    recomputed later from the run's stored predictions are the same numbers."""
    return Predictions(predictions.val_probabilities.astype(np.float64), predictions.val_labels,
                       predictions.test_probabilities.astype(np.float64), predictions.test_labels,
                       predictions.test_indices)


# -- digits from outside MNIST ---------------------------------------------------------------------

def typical_mistakes(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The misread rows, most typical first: the surest mistake of each confusion (true digit read as
    another), confusions in order of how often the model makes them, then the second surest of
    each, and so on. The first few show a model's habits rather than one habit many times."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    if not len(wrong):
        return wrong
    pairs = labels[wrong] * probabilities.shape[1] + predicted[wrong]
    frequency = np.bincount(pairs)[pairs]
    confidence = probabilities[wrong, predicted[wrong]]
    by_pair_then_confidence = np.lexsort((-confidence, pairs))
    rank = np.empty(len(wrong), dtype=np.int64)
    sorted_pairs = pairs[by_pair_then_confidence]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_pairs)) + 1]
    rank[by_pair_then_confidence] = np.arange(len(wrong)) - np.repeat(starts, np.diff(np.r_[starts, len(wrong)]))
    return wrong[np.lexsort((-confidence, pairs, -frequency, rank))]


@dataclass
class DatasetEvaluation:
    """A trained model on an evaluation-only set of digits: the metrics of each rendering (JSON-ready)
    and the arrays behind them: ``<rendering>_probabilities``, ``labels``, and the typical mistakes
    of the ``fill`` rendering (``mistake_images`` as the model saw them, ``mistake_labels``,
    ``mistake_predicted``, ``mistake_indices``), at most :data:`MISTAKES_KEPT`."""

    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]


def evaluate_renderings(probabilities: dict[str, np.ndarray], digits, class_names: tuple[str, ...],
                        dataset_sha256: str) -> DatasetEvaluation:
    """Metrics of each rendering's probabilities against ``digits``' labels (a
    :class:`~shallowdeep.prepare.DigitRenderings`), overall and by how the digits were made."""
    labels, kinds = digits.labels, np.array([source.split("/")[0] for source in digits.sources])
    renderings = {}
    for rendering, p in probabilities.items():
        correct = p.argmax(axis=1) == labels
        renderings[rendering] = {
            **classification_metrics(labels, p.astype(np.float64), class_names),
            "by_source": {kind: float(correct[kinds == kind].mean()) for kind in sorted(set(kinds))},
        }
    order = typical_mistakes(probabilities["fill"], labels)[:MISTAKES_KEPT]
    arrays = {f"{rendering}_probabilities": p.astype(np.float32) for rendering, p in probabilities.items()}
    arrays.update(labels=labels, mistake_images=digits.images["fill"][order], mistake_labels=labels[order],
                  mistake_predicted=probabilities["fill"][order].argmax(axis=1), mistake_indices=order)
    metrics = {"dataset": digits.dataset, "dataset_sha256": dataset_sha256, "samples": int(len(labels)),
               "renderings": renderings}
    return DatasetEvaluation(metrics, arrays)
