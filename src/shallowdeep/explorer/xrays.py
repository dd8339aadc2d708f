"""A chest X-ray from the user through a run's model: P(pneumonia), the verdict, and Grad-CAM.

The image (any size, already decoded by :func:`shallowdeep.data.images.read_gray_image`) is resized
to the run's image size as the dataset's images were, turned into the run's features, and given
to the model; the verdict compares P(pneumonia) with the threshold the run chose on its validation
split (and, when the experiment fixed another one, that one's verdict is given too); a run adapted to
a new site (``shallowdeep adapt``) uses its adapted threshold and answers beside it what the run it
came from says of the same image. The heat map is Grad-CAM's (:class:`shallowdeep.models.GradCam`)
for the class of the verdict.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from shallowdeep.data.images import resize_gray
from shallowdeep.evaluation import ThresholdSource
from shallowdeep.explorer.catalog import Entry
from shallowdeep.explorer.pictures import heatmap_overlay, png_data_url
from shallowdeep.models import GradCam, has_convolution
from shallowdeep.prepare import features_from_images
from shallowdeep.runs import Run, RunError


def thresholds(metrics: dict[str, Any]) -> dict[ThresholdSource, float]:
    """The decision thresholds on P(positive) a binary run's metrics hold, by where each came from."""
    found = {ThresholdSource(metrics["threshold_source"]): float(metrics["test"]["threshold"])}
    alternative = metrics.get("alternative")
    if alternative:
        found.setdefault(ThresholdSource(alternative["threshold_source"]), float(alternative["test"]["threshold"]))
    return found


class XrayModel:
    """One chest X-ray run, loaded once, answering uploaded images."""

    def __init__(self, entry: Entry):
        self.entry = entry
        run = entry.run
        self.size = tuple(run.experiment["dataset"]["image_size"])
        self.class_names = run.experiment.class_names
        self.model = run.model
        self.grad_cam = GradCam(self.model) if has_convolution(self.model) else None
        self.thresholds = thresholds(run.metrics)
        self.source = next(source for source in (ThresholdSource.ADAPTED, ThresholdSource.VALIDATION,
                                                 ThresholdSource(run.metrics["threshold_source"]))
                           if source in self.thresholds)
        self.as_trained = _source_of(run)
        self._lock = threading.Lock()
        self.read(np.full(self.size, 128, np.uint8))  # warm-up

    def read(self, image: np.ndarray) -> dict[str, Any]:
        """P(pneumonia) for a grey image of any size, the verdicts, and the Grad-CAM heat map."""
        seen = resize_gray(image, self.size)
        x = features_from_images(seen[None], self.entry.run.experiment)
        with self._lock:
            # Keras' compiled prediction, as the run's evaluation used: bfloat16 runs give the same digits.
            probability = float(np.asarray(self.model.predict_on_batch(x))[0, -1])
            threshold = self.thresholds[self.source]
            verdict = int(probability >= threshold)
            heatmap = self.grad_cam(x, [verdict]).heatmaps[0] if self.grad_cam else None
            as_trained = None
            if self.as_trained is not None:
                source_run, source_model, source_threshold = self.as_trained
                p = float(np.asarray(source_model.predict_on_batch(x))[0, -1])
                as_trained = {"run": source_run.name, "probability": p, "threshold": source_threshold,
                              "verdict": self.class_names[int(p >= source_threshold)]}
        return {
            "run": self.entry.key,
            "probability": probability,
            "positive_class": self.class_names[1],
            "threshold": threshold,
            "threshold_source": self.source.value,
            "verdict": self.class_names[verdict],
            "verdicts": [{"threshold": value, "threshold_source": source.value,
                          "verdict": self.class_names[int(probability >= value)]}
                         for source, value in self.thresholds.items()],
            "image": png_data_url(seen),
            "size": list(self.size),
            "original_size": list(image.shape),
            "heatmap": png_data_url(heatmap_overlay(heatmap, self.size)) if heatmap is not None else None,
            "heatmap_class": self.class_names[verdict] if heatmap is not None else None,
            "grad_cam_layer": self.grad_cam.layer if self.grad_cam else None,
            "as_trained": as_trained,
        }


def _source_of(run: Run) -> tuple[Run, Any, float] | None:
    """For a run adapted to a new site (``shallowdeep adapt``): the run it came from, its model and its
    threshold, so that both verdicts are shown side by side; None for any other run, or when the
    source's folder is gone."""
    source = run.environment.get("adaptation", {}).get("source_run")
    if not source:
        return None
    try:
        original = Run.open(source)
        return original, original.model, float(original.metrics["test"]["threshold"])
    except (RunError, OSError):
        return None
