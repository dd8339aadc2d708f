"""Finished sweeps in the report: what each searched, what it chose on validation and that choice's
test score, and the lab's Q3 measured across the MNIST sweeps (accuracy against weights).

Rendering only: everything comes from the sweeps' results files
(:class:`~shallowdeep.sweeps.SweepResult`); the figures are redrawn from those numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from shallowdeep.data import get_dataset
from shallowdeep.experiments.files import toml_value
from shallowdeep.reporting.common import Images
from shallowdeep.reporting.document import Document
from shallowdeep.reporting.text import Writer
from shallowdeep.sweeps import SweepResult, TrialRecord, TrialStatus
from shallowdeep.sweeps.figures import axis_figure, pareto_front, weights_figure

#: Trials shown per sweep, best first; the results files hold them all.
SHOWN = 10
#: "Within this many points of the best" for the smallest good-enough model of Q3.
MARGIN = 0.005
_FAMILY_KEYS = {"raw": "family_raw", "hog": "family_hog", "image": "family_cnn"}


def _point(result: SweepResult, trial: TrialRecord) -> str:
    return ", ".join(f"{axis['name']} = {toml_value(trial.point[axis['key']])}" for axis in result.axes)


def _sweep_section(document: Document, write: Writer, images: Images, result: SweepResult) -> None:
    document.heading(2, write("sweep_title", name=result.name, description=result.description))
    if result.quick:
        document.banner(write("sweep_quick"))
    axes = "; ".join(f"{axis['name']} ∈ {{{axis['values']}}}" for axis in result.axes)
    document.paragraph(write(
        "sweep_setup", base=result.base, sampler=result.sampler, axes=axes, finished=len(result.finished),
        complete=result.count(TrialStatus.COMPLETE), pruned=result.count(TrialStatus.PRUNED),
        failed=result.count(TrialStatus.FAILED), seeds=len(result.seeds), metric=result.metric,
    ))
    best = result.best
    if best is None:
        document.paragraph(write("sweep_none"))
        return
    test = write.num(best.test("accuracy"))
    if result.metric != "accuracy":
        test = write("sweep_test_metric", accuracy=test, metric=result.metric, value=write.num(best.test(result.metric)))
    document.paragraph(write("sweep_chosen", number=best.number, point=_point(result, best), metric=result.metric,
                             value=write.num(best.value), test=test))
    ranked = [trial for trial in result.ranked() if trial.status is TrialStatus.COMPLETE][:SHOWN]
    document.paragraph(write("sweep_top", shown=len(ranked), total=len(result.finished), metric=result.metric))
    rows = []
    for trial in ranked:
        test = write.num(trial.test("accuracy"))
        rows.append([trial.number, *(toml_value(trial.point[axis["key"]]) for axis in result.axes),
                     write.num(trial.value), write.count(trial.weights) if trial.weights else "–",
                     write.num(trial.training_seconds, 1),
                     write("chosen_mark", test=test) if trial is best else f"{test} †"])
    columns = len(result.axes)
    document.table([write("col_trial"), *(axis["name"] for axis in result.axes),
                    write("col_validation", metric=result.metric), write("col_params"), write("col_train_time"),
                    write("col_test_marked")], rows, right={0, *range(columns + 1, columns + 5)})
    document.image(images.save(axis_figure(result), f"sweep-{result.name}-axes.png"),
                   write("sweep_axis_caption", name=result.name, metric=result.metric))


def _q3_measured(document: Document, write: Writer, images: Images, results: Sequence[SweepResult]) -> None:
    mnist = [result for result in results if get_dataset(result.dataset).lab_part == "digits"]
    points = [(result, trial) for result in mnist for trial in result.trials
              if trial.validation_accuracy is not None and trial.weights]
    if not points:
        return
    document.heading(2, write("q3_measured"))
    families = ", ".join(dict.fromkeys(write(_FAMILY_KEYS[result.features]) for result in mnist))
    document.paragraph(write("q3_measured_intro", count=len(points), families=families))
    document.image(images.save(weights_figure(mnist), "sweeps-accuracy-vs-weights.png"), write("q3_measured_caption"))

    def label(item: tuple[SweepResult, TrialRecord]) -> str:
        return f"{item[0].name} #{item[1].number}"

    front = [points[i] for i in pareto_front([t.weights for _, t in points], [t.validation_accuracy for _, t in points])]
    document.paragraph(write("q3_front"))
    document.table(
        [write("col_trial"), write("col_family"), write("col_setting"), write("col_params"),
         write("col_validation", metric=write("col_accuracy")), write("col_train_time")],
        [[label((result, trial)), write(_FAMILY_KEYS[result.features]), _point(result, trial),
          write.count(trial.weights), write.num(trial.validation_accuracy), write.num(trial.training_seconds, 1)]
         for result, trial in front],
        right={3, 4, 5},
    )
    best = max(points, key=lambda item: item[1].validation_accuracy)
    good = [item for item in points if item[1].validation_accuracy >= best[1].validation_accuracy - MARGIN]
    small = min(good, key=lambda item: item[1].weights)
    document.paragraph(write(
        "q3_measured_answer", best=label(best), best_family=write(_FAMILY_KEYS[best[0].features]),
        best_weights=write.count(best[1].weights), best_accuracy=write.num(best[1].validation_accuracy),
        margin=write.figure(100 * MARGIN), small=label(small), small_family=write(_FAMILY_KEYS[small[0].features]),
        small_weights=write.count(small[1].weights), small_accuracy=write.num(small[1].validation_accuracy),
    ))


def sweep_sections(document: Document, write: Writer, images: Images, results: Sequence[SweepResult]) -> None:
    """A part of the report for the sweeps: one section each, then Q3 measured across them."""
    if not results:
        return
    document.heading(1, write("sweeps"))
    document.paragraph(write("sweeps_intro"))
    for result in results:
        _sweep_section(document, write, images, result)
    _q3_measured(document, write, images, results)
