"""Each run's test confusion matrix, and the test images behind any of its cells.

A run keeps every test prediction with the position of its image in the dataset's test split
(``run.predictions``). The test images themselves are a dataset's, not the run's: each dataset's
test split is read once, when the explorer starts, and shared by the runs tested on it. A cell
(true class ``t``, predicted ``p``) lists the test rows whose label is ``t`` and whose prediction,
by the run's own rule (argmax, or the run's threshold for a binary task), is ``p``: the same rule
that counted the matrix, so a cell shows exactly as many images as it counts.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from shallowdeep.errors import ShallowDeepError
from shallowdeep.evaluation import predicted_classes
from shallowdeep.explorer.catalog import Entry
from shallowdeep.explorer.pictures import png_bytes
from shallowdeep.prepare import load_images
from shallowdeep.runs import RunError


class Unavailable(ShallowDeepError):
    """What a request asks of a run cannot be shown (no stored predictions, no test images)."""


def _dataset_key(entry: Entry) -> str:
    dataset = entry.run.experiment["dataset"]
    return json.dumps([dataset["name"], dataset["image_size"], dataset.get("path", "")])


class Mistakes:
    """Confusion matrices and their cells for the explorer's runs."""

    def __init__(self, entries: list[Entry], data_dir: str | os.PathLike | None = None):
        self.entries = {entry.key: entry for entry in entries}
        self._test_images: dict[str, np.ndarray | str] = {}
        self._predicted: dict[str, np.ndarray | str] = {}
        for entry in entries:
            run = entry.run
            try:
                predictions = run.predictions
            except RunError as error:  # runs of shallowdeep 0.1 kept no predictions
                self._predicted[entry.key] = str(error)
                continue
            threshold = run.metrics["test"].get("threshold") if len(run.experiment.class_names) == 2 else None
            self._predicted[entry.key] = predicted_classes(predictions.test_probabilities, threshold)
            key = _dataset_key(entry)
            if key not in self._test_images:
                self._test_images[key] = self._load_test_split(entry, data_dir)

    @staticmethod
    def _load_test_split(entry: Entry, data_dir) -> np.ndarray | str:
        """The dataset's whole test split (uint8), or why it cannot be read."""
        whole = entry.run.experiment.with_overrides({"dataset.train_limit": 0, "dataset.test_limit": 0})
        try:
            return load_images(whole, data_dir, progress=False).test[0]
        except ShallowDeepError as error:
            return f"the test images of {entry.run.experiment.dataset} cannot be read: {error}"

    def _unavailable(self, key: str) -> str | None:
        """Why the images of run ``key``'s cells cannot be shown, or None."""
        predicted = self._predicted[key]
        if isinstance(predicted, str):
            return predicted
        images = self._test_images[_dataset_key(self.entries[key])]
        return images if isinstance(images, str) else None

    def confusion(self, key: str) -> dict[str, Any]:
        """The run's test confusion matrix as its metrics hold it, and why its cells cannot be opened, if so."""
        run = self.entries[key].run
        test = run.metrics["test"]
        return {"run": key, "classes": list(run.experiment.class_names), "matrix": test["confusion_matrix"],
                "samples": test["samples"], "accuracy": test["accuracy"], "threshold": test.get("threshold"),
                "unavailable": self._unavailable(key)}

    def _rows(self, key: str) -> tuple[np.ndarray, Any]:
        predicted = self._predicted[key]
        if isinstance(predicted, str):
            raise Unavailable(predicted)
        return predicted, self.entries[key].run.predictions

    def cell(self, key: str, true: int, predicted: int) -> dict[str, Any]:
        """The test rows of one cell, the most confident answers first, with their probabilities."""
        classes = self.entries[key].run.experiment.class_names
        for name, value in (("true", true), ("predicted", predicted)):
            if not 0 <= value < len(classes):
                raise IndexError(f"{name}={value} is not a class of run {key!r}: use 0 to {len(classes) - 1} "
                                 f"({', '.join(classes)})")
        answers, predictions = self._rows(key)
        rows = np.flatnonzero((predictions.test_labels == true) & (answers == predicted))
        confidence = predictions.test_probabilities[rows, predicted]
        rows = rows[np.argsort(-confidence, kind="stable")]
        return {
            "run": key, "true": classes[true], "predicted": classes[predicted], "count": int(len(rows)),
            "classes": list(classes),
            "items": [{"row": int(row), "test_index": int(predictions.test_indices[row]),
                       "probabilities": [round(float(p), 4) for p in predictions.test_probabilities[row]],
                       "image": f"/api/runs/{key}/test-images/{int(row)}.png"} for row in rows],
        }

    def image_png(self, key: str, row: int) -> bytes:
        """Test image ``row`` of run ``key`` (a row of its predictions) as a PNG."""
        _, predictions = self._rows(key)
        if not 0 <= row < len(predictions.test_indices):
            raise IndexError(f"run {key!r} has test rows 0 to {len(predictions.test_indices) - 1}, not {row}")
        reason = self._unavailable(key)
        if reason:
            raise Unavailable(reason)
        return png_bytes(self._test_images[_dataset_key(self.entries[key])][predictions.test_indices[row]])
