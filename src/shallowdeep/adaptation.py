"""A finished binary run adapted to a new site (another hospital) from the site's unlabelled images.

A screener trained at one hospital meets another hospital's X-rays with other machines, exposures
and patients: the statistics of its features move (covariate shift) and so does the share of sick
children (prior shift). Three corrections, none of which reads a label of the new site:

1. **Batch-norm statistics** (AdaBN; Li, Wang, Shi, Liu and Hou 2016, "Revisiting Batch
   Normalization for Practical Domain Adaptation"). Each ``BatchNormalization`` layer's moving mean
   and variance become the mean and (biased) variance of its inputs over the new site's images,
   per channel, layer after layer from the input, so that each layer is measured on what the
   layers before it now produce.
2. **Calibration** (Platt 1999). The model's P(positive) ``p`` becomes ``sigmoid(a z + b)``, with
   ``z = logit(p)``, fitted by maximum likelihood on the source run's own validation predictions
   (the source site's labels, which the run already holds). Label smoothing and class imbalance
   leave raw outputs that are not probabilities; Bayes' rule below needs probabilities.
3. **Prevalence** (Saerens, Latinne and Decaestecker 2002, "Adjusting the outputs of a classifier
   to new a priori probabilities: a simple procedure"). With ``pi_s`` the validation's share of
   positives, EM alternates

       q_i = r p_i / (r p_i + s (1 - p_i)),  r = pi / pi_s,  s = (1 - pi) / (1 - pi_s)
       pi  = mean_i q_i

   from ``pi = pi_s`` until ``pi`` moves by less than 1e-9; ``q_i`` are the posteriors at the new
   site. The decision threshold is where ``q = 1/2`` (Bayes' rule at the new prevalence: the most
   accurate decision), carried back to the model's own output so that the adapted run is used as
   any run: ``z* = (logit(pi_s) - logit(pi) - b) / a``, threshold ``sigmoid(z*)``.

Calibration is fitted on the source model and applied to the re-normalised one: the batch-norm step
moves the new site's features back to where the source's were, which is what makes the source's
calibration carry over (an approximation, measured in ``benchmarks/adapt.py``).

The images are read in the order of their contents' SHA-256, never of their paths, so the adapted run
depends on the images alone: a folder tree with class subfolders gives the same run as the same
files flattened or sorted into other folders (tested).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.data import DataError
from shallowdeep.data.folder import IMAGE_SUFFIXES, decode_image
from shallowdeep.errors import ShallowDeepError
from shallowdeep.evaluation import (
    ThresholdSource, classification_metrics, evaluate_model, predict_probabilities, roc_points,
)
from shallowdeep.experiments import Experiment
from shallowdeep.prepare import PreparedData, features_from_images, prepare_data
from shallowdeep.runs import PARTIAL_SUFFIX, Run
from shallowdeep.training import write_figures

#: Fewest images adaptation accepts: at 100 the prevalence EM estimates has a standard error of about
#: 0.05 (sqrt(p (1 - p) / n) at p = 0.5, for a perfectly separating model; more for a real one), and
#: each batch-norm channel is measured on at least 100 images.
MIN_IMAGES = 100
#: A new site's estimated prevalence outside this range says the images are not of the kind the
#: model reads (or that the site has practically one class, where a threshold means nothing).
PREVALENCE_RANGE = (0.02, 0.98)
#: Largest :func:`first_layer_distance` accepted between a new site's images and the run's validation
#: images, in nats: 50 times what X-rays of another site measured, a half to a third of what uniform noise did.
#: It catches images whose grey-level texture is unlike an X-ray's, not everything that is not one:
#: 150 smooth synthetic patterns (sinusoidal gratings) measured 0.013-0.019 and pass.
MAX_FIRST_LAYER_DISTANCE = 0.05
_VARIANCE_FLOOR = 1e-3  # as Keras' BatchNormalization epsilon: a channel that never varies counts as this
_EM_TOLERANCE = 1e-9
_EM_MAX_ITERATIONS = 10_000
_CLIP = 1e-7


class AdaptationError(ShallowDeepError):
    """A run or a set of images adaptation cannot take: says which and why."""


# -- the new site's images -------------------------------------------------------------------------

@dataclass
class SiteImages:
    """A new site's images as the run's model reads them, in the order of their contents' digests.

    ``images``: uint8 (n, height, width); ``sha256``: the digest of the sorted file digests (the set
    of images, whatever their names and folders); ``sources``: the files or folders given."""

    images: np.ndarray
    sha256: str
    sources: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.images)


def image_files(sources: Sequence[str | os.PathLike]) -> list[Path]:
    """Every image file (PNG, JPEG) among ``sources``: files as given, folders walked to any depth.
    Raises :class:`AdaptationError` for a path that does not exist."""
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise AdaptationError(f"{path}: no such file or folder; give the new site's image files or folders")
    return found


def _describe(sources: Sequence[str | os.PathLike]) -> str:
    shown = ", ".join(map(str, sources[:2]))
    return shown if len(sources) <= 2 else f"{shown} and {len(sources) - 2} more paths"


def read_site_images(sources: Sequence[str | os.PathLike], image_size: tuple[int, int]) -> SiteImages:
    """The images under ``sources``, decoded as the chest X-ray loader decodes its own (grey, the
    run's size), without reading any folder name. Raises :class:`AdaptationError` for fewer than
    :data:`MIN_IMAGES` images and :class:`DataError` naming a file that is not a readable image."""
    files = image_files(sources)
    if len(files) < MIN_IMAGES:
        raise AdaptationError(
            f"{len(files)} image(s) found in {_describe(sources)}; adaptation needs at least "
            f"{MIN_IMAGES} images of the new site to estimate its statistics and prevalence (PNG or JPEG, "
            f"in any folders)")
    digests = _file_digests(files)
    order = sorted(range(len(files)), key=lambda index: digests[index])
    images = np.empty((len(files), *image_size), dtype=np.uint8)
    for row, index in enumerate(order):
        try:
            images[row] = decode_image(files[index], image_size)
        except (OSError, SyntaxError, ValueError) as error:
            raise DataError(f"{files[index]}: not a readable image ({error}); remove it or replace it") from None
    return SiteImages(images, _combined(digests), tuple(str(source) for source in sources))


def _file_digests(files: Sequence[Path]) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in files]


def _combined(digests: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def read_site_digest(files: Sequence[Path]) -> str:
    """The digest a set of image files is known by (:attr:`SiteImages.sha256`), without decoding them."""
    return _combined(_file_digests(files))


@dataclass(frozen=True)
class LabelledImages:
    """Image files and their labels (class indices), for measuring an adapted run; ``name`` says
    what they are (in the adapted run's ``environment.json``)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    name: str

    def read(self, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        images = np.stack([decode_image(path, image_size) for path in self.paths])
        return images, np.asarray(self.labels, dtype=np.int64)


def labelled_folder(folder: str | os.PathLike, class_names: Sequence[str]) -> LabelledImages:
    """A folder with one subfolder per class (named as the run's classes, any case), read to any depth."""
    folder = Path(folder)
    subfolders = {child.name.lower(): child for child in folder.iterdir() if child.is_dir()} if folder.is_dir() else {}
    missing = [name for name in class_names if name.lower() not in subfolders]
    if missing:
        raise AdaptationError(
            f"{folder} has no folder for class(es) {', '.join(missing)} (found: {sorted(subfolders) or 'none'}); "
            f"a labelled folder holds one subfolder per class: {', '.join(class_names)}")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        found = image_files([subfolders[name.lower()]])
        paths += found
        labels += [label] * len(found)
    return LabelledImages(tuple(paths), tuple(labels), str(folder))


def test_folder_halves(chest_xray: str | os.PathLike) -> tuple[LabelledImages, LabelledImages]:
    """The chest X-ray test folder in two halves by patient, stratified by class (the loader's own
    patient-grouped split at 0.5, seed 0): a new site whose images can adapt a run on one half and
    measure it on the other, without one patient on both sides."""
    from shallowdeep.data.chest_xray import patient_id, scan_chest_xray
    from shallowdeep.data.folder import carve_validation

    test = scan_chest_xray(chest_xray)[0]["test"]
    labels = np.asarray(test.labels)
    first = carve_validation(labels, [patient_id(path) for path in test.paths], 0.5, seed=0)
    return tuple(
        LabelledImages(tuple(p for p, keep in zip(test.paths, chosen) if keep),
                       tuple(int(label) for label, keep in zip(labels, chosen) if keep),
                       f"{Path(chest_xray).name} test, half {half} by patient")
        for half, chosen in (("a", first), ("b", ~first)))


# -- the three steps -------------------------------------------------------------------------------

def _run_layer(layer: keras.layers.Layer, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([
        keras.ops.convert_to_numpy(layer(x[start:start + batch], training=False)).astype(np.float32)
        for start in range(0, len(x), batch)])


def _along_the_chain(model: keras.Model, x: np.ndarray, at_batch_norm) -> None:
    """Run ``x`` through the model's layers one by one, calling ``at_batch_norm(layer, inputs)``
    with each batch-norm layer's inputs before the layer runs on them."""
    from shallowdeep.models.anatomy import inference_layers

    activations = x.astype(np.float32)
    for layer in inference_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            at_batch_norm(layer, activations)
        activations = _run_layer(layer, activations)


def _moments(layer: keras.layers.BatchNormalization, activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(i for i in range(activations.ndim) if i != layer.axis % activations.ndim)
    return activations.mean(axis=axes, dtype=np.float64), activations.var(axis=axes, dtype=np.float64)


def first_layer_distance(model: keras.Model, x: np.ndarray, reference: np.ndarray) -> float | None:
    """How far the images ``x`` are from the ``reference`` images (the run's validation inputs) where
    the model first normalises them: at its first batch-norm layer, the mean over channels of
    KL(N(m, v) || N(m_r, v_r)) in nats, the per-channel means and variances of the layer's inputs
    over each set. None for a model without batch norm.

    The first layer reads grey-level texture, not the disease: measured with xray-best on the 2-core
    Zen 4, the training folder's NORMAL and PNEUMONIA images each sit 0.000-0.002 from its validation
    images and the official test folder (another site) 0.001, where MNIST digits sit 0.45-0.76 and
    uniform noise 0.09-0.15 (a model trained 2 epochs and one trained 25). Deeper layers tell the
    classes apart, so a site's share of pneumonia moves them (up to 0.6 there)."""
    found: list[tuple[np.ndarray, np.ndarray]] = []

    def first(images: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        found.clear()
        _along_the_chain(model, images, lambda layer, activations: found.append(_moments(layer, activations)))
        return found[0] if found else None

    measured, against = first(x), first(reference)
    if measured is None:
        return None
    (mean, variance), (ref_mean, ref_variance) = measured, against
    ratio = (variance + _VARIANCE_FLOOR) / (ref_variance + _VARIANCE_FLOOR)
    return float(np.mean(0.5 * (ratio + (mean - ref_mean) ** 2 / (ref_variance + _VARIANCE_FLOOR) - 1.0 - np.log(ratio))))


def reestimate_batch_norm(model: keras.Model, x: np.ndarray) -> list[str]:
    """AdaBN: every batch-norm layer's moving mean and variance measured on ``x`` (the model's
    inputs), in place, in one pass along the chain so that each layer is measured on what the
    re-estimated layers before it produce; the names of the layers changed (none: no batch norm)."""
    changed = []

    def reestimate(layer, activations):
        mean, variance = _moments(layer, activations)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(variance.astype(np.float32))
        changed.append(layer.name)

    _along_the_chain(model, x, reestimate)
    return changed


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    p = np.clip(p, _CLIP, 1.0 - _CLIP)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


def platt_scaling(labels: np.ndarray, p_positive: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of Platt's calibration ``sigmoid(a logit(p) + b)``, fitted on labelled predictions
    by maximum likelihood (scikit-learn's logistic regression, unpenalised)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) < 2:
        raise AdaptationError("the source run's validation predictions hold one class only; calibration "
                              "needs both (train the source run with a validation split of both classes)")
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(_logit(p_positive)[:, None], labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def estimate_prevalence(p_positive: np.ndarray, source_prevalence: float) -> tuple[float, int]:
    """Saerens et al.'s EM: the share of positives among the images whose calibrated posteriors
    (at the source's prevalence ``source_prevalence``) are ``p_positive``; and the iterations."""
    prevalence = source_prevalence
    for iteration in range(1, _EM_MAX_ITERATIONS + 1):
        r, s = prevalence / source_prevalence, (1 - prevalence) / (1 - source_prevalence)
        posterior = r * p_positive / (r * p_positive + s * (1 - p_positive))
        updated = float(np.mean(posterior))
        if abs(updated - prevalence) < _EM_TOLERANCE:
            return updated, iteration
        prevalence = updated
    return prevalence, _EM_MAX_ITERATIONS


def bayes_threshold(a: float, b: float, source_prevalence: float, prevalence: float) -> float:
    """The model's output at which the calibrated posterior, moved to ``prevalence``, is 1/2."""
    return float(_sigmoid((_logit(source_prevalence) - _logit(prevalence) - b) / a))


# -- the adapted run -------------------------------------------------------------------------------

@dataclass
class Adaptation:
    """What adaptation measured and chose, as stored in the adapted run's ``metrics.json``."""

    distance: float | None  # first_layer_distance from the run's validation images; None: no batch norm
    batch_norm: dict[str, Any] | None  # None: not asked for; "layers" empty: the model has none
    calibration: dict[str, float] | None
    prevalence: dict[str, float] | None
    threshold: dict[str, float]

    def record(self) -> dict[str, Any]:
        return dict(vars(self))


def _source_threshold(run: Run) -> float:
    return float(run.metrics["test"].get("threshold", 0.5))


def adapt_model(run: Run, site: SiteImages, reference: np.ndarray, *, batch_norm: bool = True,
                prevalence: bool = True) -> tuple[keras.Model, Adaptation]:
    """The run's model adapted to ``site`` and what was measured: batch norm re-estimated (when
    asked and the model has it), the threshold set for the estimated prevalence (when asked; else
    the source run's). ``reference``: the run's own validation inputs, the yardstick of how far
    the site's images are. Raises :class:`AdaptationError` when the images are far from what the
    model reads (batch statistics or prevalence out of range)."""
    from shallowdeep.models import load_model

    experiment = run.experiment
    model = load_model(run.path / "model.keras")  # a copy: the source run's model stays as it was
    x = features_from_images(site.images, experiment)
    distance = first_layer_distance(model, x, reference)
    if distance is not None and distance > MAX_FIRST_LAYER_DISTANCE:
        raise AdaptationError(
            f"these {site.count} images are not like the images {run.name} was trained on: where the model first "
            f"normalises them they sit {distance:.3f} nats from its validation images, where X-rays of another "
            f"site measured 0.001 and at most {MAX_FIRST_LAYER_DISTANCE} is accepted. Are they images of the kind "
            f"the model reads ({experiment.dataset})?")
    batch_norm_record = None
    if batch_norm:
        batch_norm_record = {"layers": reestimate_batch_norm(model, x)}
    threshold = {"source": _source_threshold(run)}
    calibration = estimated = None
    if prevalence:
        predictions = run.predictions
        a, b = platt_scaling(predictions.val_labels, predictions.val_probabilities[:, 1].astype(np.float64))
        if a <= 0:
            raise AdaptationError(f"{run.name}'s outputs rank its validation images backwards (Platt slope "
                                  f"{a:.3f}); there is nothing to calibrate")
        source_prevalence = float(np.mean(predictions.val_labels))
        p_site = predict_probabilities(model, x)[:, 1]
        calibrated = _sigmoid(a * _logit(p_site) + b)
        share, iterations = estimate_prevalence(calibrated, source_prevalence)
        low, high = PREVALENCE_RANGE
        if not low <= share <= high:
            raise AdaptationError(
                f"the estimated share of {experiment.class_names[1]} among these {site.count} images is "
                f"{share:.3f}, outside {low}-{high}: the model reads them as practically all one class. Are they "
                f"images of the kind it reads ({experiment.dataset}), and of both classes?")
        calibration = {"method": "platt", "a": a, "b": b, "validation_samples": int(len(predictions.val_labels))}
        estimated = {"source": source_prevalence, "estimated": share, "iterations": iterations}
        threshold["adapted"] = bayes_threshold(a, b, source_prevalence, share)
    else:
        threshold["adapted"] = threshold["source"]
    return model, Adaptation(distance, batch_norm_record, calibration, estimated, threshold)


def adapt(
    run: Run | str | os.PathLike,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    labelled: str | os.PathLike | LabelledImages | None = None,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    batch_norm: bool = True,
    prevalence: bool = True,
    progress: bool = True,
) -> Run:
    """A new run folder: ``run`` adapted to the site whose unlabelled ``images`` (files or folders,
    read to any depth, folder names ignored) are given; see the module's docstring for the steps.

    The adapted run is evaluated as any run, at its adapted threshold: on the source experiment's
    validation and test splits, or, with ``labelled``, on those images (a folder with one
    subfolder per class, or :class:`LabelledImages`), whose labels are read only once the
    adaptation is fixed; ``metrics.json["source"]`` holds the source run's figures on the same
    test images at its own threshold, side by side. It goes in ``runs_dir`` (default: beside the
    source's) as ``<name>-adapted``; ``environment.json`` says from which run and which images, and
    that no label of them was read; ``metrics.json["adaptation"]`` what was measured. Nothing is
    written when the run or the images cannot be adapted.
    """
    source = run if isinstance(run, Run) else Run.open(run)
    experiment = source.experiment
    if not source.finished:
        raise AdaptationError(f"{source.path} is not finished; adapt a run that trained to the end")
    if len(experiment.class_names) != 2 or not experiment.binary:
        raise AdaptationError(
            f"{source.name} classifies {len(experiment.class_names)} classes; adaptation to a new site's "
            f"prevalence needs a binary run (one sigmoid output), e.g. xray-best or xray-1")
    if labelled is not None and not isinstance(labelled, LabelledImages):
        labelled = labelled_folder(labelled, experiment.class_names)
    sources = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    started = time.perf_counter()
    image_size = tuple(experiment["dataset"]["image_size"])
    site = read_site_images(sources, image_size)
    data = prepare_data(experiment, data_dir, progress)
    model, adaptation = adapt_model(source, site, data.x_val, batch_norm=batch_norm, prevalence=prevalence)
    adapted = _adapted_experiment(experiment, adaptation, site)
    if labelled is not None:
        data = _with_test_set(data, experiment, labelled.read(image_size))
    precision = resolve_precision(experiment["training"]["precision"])
    record = {"source_run": str(source.path), "source_digest": source.state.get("digest"),
              "images": {"count": site.count, "sha256": site.sha256, "given": _given(site.sources)},
              "labels_read_from_images": False, "levers": {"batch_norm": batch_norm, "prevalence": prevalence},
              "evaluated_on": labelled.name if labelled is not None else f"{experiment.dataset} validation and test"}
    target = Run.create(runs_dir if runs_dir is not None else source.path.parent.parent, adapted,
                        {**environment(precision), "adaptation": record})
    try:
        evaluating = time.perf_counter()
        evaluation = evaluate_model(model, adapted, data)
        evaluation.metrics["threshold_source"] = ThresholdSource.ADAPTED.value
        kept = {key: value for key, value in source.metrics.items()
                if key in ("params", "epochs", "train_samples", "class_weight", "seconds_per_epoch",
                           "training_seconds")}
        target.inherit_history(source)
        target.write_results(model, evaluation, {
            **kept, "experiment": adapted.name, "adaptation": adaptation.record(),
            "source": _as_trained(source, data), "adaptation_seconds": evaluating - started,
            "evaluation_seconds": time.perf_counter() - evaluating,
        })
        write_figures(target)
        return target.finish()
    except BaseException:
        shutil.rmtree(target.path, ignore_errors=True)
        raise


def _given(sources: Sequence[str]) -> list[str]:
    """The paths given, shortened to the first few and a count when many files were named one by one."""
    return list(sources) if len(sources) <= 5 else [*sources[:5], f"... {len(sources) - 5} more"]


def _as_trained(source: Run, data: PreparedData) -> dict[str, Any]:
    """The source run's test figures on ``data``'s test images, at its own threshold."""
    p = predict_probabilities(source.model, data.x_test)
    return {"test": classification_metrics(data.y_test, p, source.experiment.class_names, _source_threshold(source)),
            "roc_test": roc_points(data.y_test, p[:, 1])}


def find_adapted(runs_dir: str | os.PathLike, source: Run, site_sha256: str, evaluated_on: str, *,
                 batch_norm: bool = True, prevalence: bool = True) -> Run | None:
    """A finished adapted run of ``source`` on the same images, measured on the same labelled
    images with the same levers, if ``runs_dir`` holds one (the newest)."""
    folder = Path(runs_dir) / f"{source.name}-adapted"
    wanted = {"source_run": str(source.path), "evaluated_on": evaluated_on,
              "levers": {"batch_norm": batch_norm, "prevalence": prevalence}}
    for path in sorted(folder.iterdir(), reverse=True) if folder.is_dir() else []:
        if path.name.endswith(PARTIAL_SUFFIX) or not (path / "environment.json").is_file():
            continue
        candidate = Run(path)
        record = candidate.environment.get("adaptation", {})
        if record.get("images", {}).get("sha256") == site_sha256 and all(
                record.get(key) == value for key, value in wanted.items()) and candidate.finished:
            return candidate
    return None


def adapt_across_halves(run: Run, chest_xray: str | os.PathLike, runs_dir: str | os.PathLike, *,
                        data_dir: str | os.PathLike | None = None, progress: bool = True) -> list[Run]:
    """``run`` adapted on each half of the chest X-ray test folder (:func:`test_folder_halves`) and
    measured on the other: two adapted runs, reused from ``runs_dir`` when they are there already."""
    halves = test_folder_halves(chest_xray)
    adapted = []
    for site, measured in (halves, halves[::-1]):
        digest = read_site_digest(site.paths)
        found = find_adapted(runs_dir, run, digest, measured.name)
        adapted.append(found or adapt(run, list(site.paths), labelled=measured, runs_dir=runs_dir,
                                      data_dir=data_dir, progress=progress))
    return adapted


def _adapted_experiment(experiment: Experiment, adaptation: Adaptation, site: SiteImages) -> Experiment:
    steps = [name for name, done in (("batch norm re-estimated", adaptation.batch_norm),
                                     ("threshold set for the estimated prevalence", adaptation.prevalence)) if done]
    return experiment.with_settings(**{
        "name": f"{experiment.name}-adapted",
        "description": f"{experiment['description']}; adapted to a new site from {site.count} unlabelled "
                       f"images ({', '.join(steps) or 'nothing changed'})",
        "evaluation.threshold": adaptation.threshold["adapted"],
    })


def _with_test_set(data: PreparedData, experiment: Experiment, labelled: tuple[np.ndarray, np.ndarray]) -> PreparedData:
    images, labels = labelled
    return replace(data, x_test=features_from_images(images, experiment), y_test=labels,
                   test_images=images, test_indices=np.arange(len(labels)))
