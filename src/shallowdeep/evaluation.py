"""Test-set metrics computed from one ordered pass of predictions.

:func:`predict_probabilities` runs the model once over arrays held in memory, in order, and every
metric is computed from those probabilities and the labels of the *same* arrays: predictions and
labels cannot come apart (the classic mistake is predicting on a shuffled dataset and comparing
with labels read in a second pass).

Binary tasks (one sigmoid output, class 1 = positive) also get sensitivity (recall of class 1),
specificity (recall of class 0), the F1 score of the positive class, the ROC AUC (the probability
that a random positive scores above a random negative, ties counting one half) and the decision
threshold used. A threshold "chosen on validation" maximises Youden's J = sensitivity +
specificity - 1 on the validation split; the test set never influences it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CLIP = 1e-7  # as Keras clips probabilities inside its cross-entropy losses


def predict_probabilities(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, classes); a single sigmoid output becomes [P(0), P(1)]."""
    raw = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if raw.ndim == 2 and raw.shape[1] == 1:
        return np.concatenate([1.0 - raw, raw], axis=1)
    return raw


def cross_entropy(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean of -log p(true class), probabilities clipped to [1e-7, 1 - 1e-7] as Keras does."""
    picked = probabilities[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(picked, _CLIP, 1.0 - _CLIP))))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank statistic (Mann-Whitney U), average ranks for ties."""
    positives = y_true == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), thresholds decreasing."""
    thresholds = np.unique(scores)[::-1]
    positives, negatives = max(int((y_true == 1).sum()), 1), max(int((y_true == 0).sum()), 1)
    tpr = np.array([np.sum((scores >= t) & (y_true == 1)) for t in thresholds]) / positives
    fpr = np.array([np.sum((scores >= t) & (y_true == 0)) for t in thresholds]) / negatives
    return np.r_[0.0, fpr], np.r_[0.0, tpr], np.r_[np.inf, thresholds]


def choose_threshold(y_val: np.ndarray, p_positive: np.ndarray) -> float:
    """The threshold on P(positive) maximising Youden's J on validation (ties: closest to 0.5)."""
    candidates = np.unique(np.r_[p_positive, 0.5])
    best, best_key = 0.5, None
    for threshold in candidates:
        predicted = p_positive >= threshold
        sensitivity = np.mean(predicted[y_val == 1]) if np.any(y_val == 1) else 0.0
        specificity = np.mean(~predicted[y_val == 0]) if np.any(y_val == 0) else 0.0
        key = (sensitivity + specificity - 1.0, -abs(threshold - 0.5))
        if best_key is None or key > best_key:
            best, best_key = float(threshold), key
    return best


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


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
    matrix = confusion_matrix(y_true, y_pred, classes)
    per_class = {}
    for index, name in enumerate(class_names):
        true_positive = matrix[index, index]
        precision = _ratio(true_positive, matrix[:, index].sum())
        recall = _ratio(true_positive, matrix[index].sum())
        per_class[name] = {
            "precision": precision, "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(matrix[index].sum()),
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
