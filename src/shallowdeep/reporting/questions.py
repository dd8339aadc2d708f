"""The lab's four questions, answered from finished runs.

Every figure comes from a :class:`~shallowdeep.runs.Run`: its metrics, history, weight table,
what was read back from the trained model, the test images it kept. Nothing here trains, predicts
or loads a dataset; the figures drawn here (HOG glyphs, the validation confusion matrix) are
pictures of numbers the runs already hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from shallowdeep.data import get_dataset
from shallowdeep.data.info import CHEST_XRAY_HOW_TO_GET
from shallowdeep.evaluation import ThresholdSource
from shallowdeep.features import hog_feature_size
from shallowdeep.models import LayerWeights
from shallowdeep.plots import confusion_figure, grad_cam_figure, hog_figure, roc_figure
from shallowdeep.reporting.common import Images, finished, outcome_text, problem_text
from shallowdeep.reporting.document import Document
from shallowdeep.reporting.text import Writer
from shallowdeep.outcomes import Outcome, RunRecord
from shallowdeep.runs import Run

_SHOWN_OPTIMIZER_ARGS = {
    "RMSprop": ("learning_rate", "rho", "momentum", "epsilon", "centered"),
    "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"),
}
_EQUATIONS = {
    "RMSprop": ("q1_rmsprop", ["v ← ρ·v + (1 − ρ)·g²", "w ← w − η·g / √(v + ε)"]),
    "Adam": ("q1_adam", ["m ← β₁·m + (1 − β₁)·g", "v ← β₂·v + (1 − β₂)·g²",
                         "w ← w − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)"]),
}
_LOSS_EQUATIONS = {
    "categorical_crossentropy": ("q1_cce", ["L = −(1/N) Σₙ Σₖ yₙₖ · log ŷₙₖ"]),
    "binary_crossentropy": ("q1_bce", ["L = −(1/N) Σₙ c_{yₙ} · [ yₙ · log ŷₙ + (1 − yₙ) · log(1 − ŷₙ) ]"]),
}
#: Families of MNIST models in Q2, by the features they read.
_FAMILIES = {"raw": "raw", "hog": "hog", "image": "cnn"}
#: HOG cells shown beside the lab's for comparison: 7x7 pixels gives 16 cells instead of 49.
_COMPARISON_HOG = (8, 7)


def _layers_with_weights(record: RunRecord) -> int:
    return sum(1 for row in record.run.weight_table() if row.total)


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- Q1 ----------------------------------------------------------------------------------------------

def _training_setup(record: RunRecord) -> tuple[str, str, str]:
    """(optimizer class, its main arguments as text, loss name), as read back from the trained model."""
    setup = record.run.training_setup
    optimizer, config = setup["optimizer"], setup["optimizer_config"]
    keys = _SHOWN_OPTIMIZER_ARGS.get(optimizer) or [k for k, v in config.items() if isinstance(v, (int, float))]
    arguments = ", ".join(f"{key} = {_plain(config[key])}" for key in keys if key in config)
    return optimizer, arguments, setup["loss"]


def question_1(document: Document, write: Writer, records: list[RunRecord]) -> None:
    document.heading(1, write("q1"))
    document.paragraph(write("q1_intro"))
    groups: dict[tuple[str, str, str], list[str]] = {}
    for record in finished(records):
        groups.setdefault(_training_setup(record), []).append(record.name)
    for (optimizer, arguments, loss), names in groups.items():
        document.paragraph(write("q1_used_by", optimizer=optimizer, parameters=arguments, loss=loss,
                                 models=", ".join(names)))
    for optimizer in dict.fromkeys(key[0] for key in groups):
        if optimizer in _EQUATIONS:
            key, lines = _EQUATIONS[optimizer]
            document.paragraph(write(key))
            document.equations(lines)
        else:
            document.paragraph(write("q1_other", optimizer=optimizer))
    for loss in dict.fromkeys(key[2] for key in groups):
        if loss in _LOSS_EQUATIONS:
            key, lines = _LOSS_EQUATIONS[loss]
            document.paragraph(write(key))
            document.equations(lines)


# -- Q2 ----------------------------------------------------------------------------------------------

def _input_text(write: Writer, record: RunRecord) -> str:
    experiment = record.experiment
    features, (height, width) = experiment["features"], experiment["dataset"]["image_size"]
    if experiment.features == "hog":
        hog = features["hog"]
        return write("input_hog", n=write.count(experiment.input_shape[0]), o=hog["orientations"],
                     p=hog["pixels_per_cell"], b=hog["cells_per_block"], norm=hog["block_norm"])
    if experiment.features == "raw":
        return write("input_raw", n=write.count(height * width), scale=features["divide_by"])
    return write("input_image", h=height, w=width, n=write.count(height * width), scale=features["divide_by"])


def _outputs_text(write: Writer, record: RunRecord) -> str:
    if record.experiment.binary:
        return write("outputs_sigmoid")
    return write("outputs_softmax", k=len(record.experiment.class_names))


def _sum_formula(write: Writer, rows: list[LayerWeights]) -> str:
    parts = [row.total for row in rows if row.total]
    return " + ".join(write.count(part) for part in parts) + f" = {write.count(sum(parts))}"


def _weight_table(document: Document, write: Writer, record: RunRecord) -> None:
    rows = record.run.weight_table()
    document.paragraph(write("weights"))
    document.table(
        [write("col_layer"), write("col_type"), write("col_shape"), write("col_weights"), write("col_biases"),
         write("col_formula")],
        [[row.layer, row.kind, row.output_shape, write.count(row.weights), write.count(row.biases), row.formula]
         for row in rows],
        right={3, 4},
    )
    document.paragraph(write("weights_total", formula=_sum_formula(write, rows)))


def _confused_pairs(confused: list[dict]) -> str:
    return ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in confused[:3]) or "–"


def _reference_text(write: Writer, record: RunRecord) -> str:
    reference = record.experiment["reference"]
    if "test_accuracy" not in reference:
        return write("no_reference")
    return write("reference_figures", loss=write.num(reference.get("test_loss")),
                 accuracy=write.num(reference["test_accuracy"]))


def _experiment_section(document: Document, write: Writer, images: Images, record: RunRecord) -> None:
    document.heading(3, f"{record.name}: {record.experiment['description']}")
    if not record.outcome.has_run:
        document.paragraph(problem_text(write, record))
        return
    run = record.run
    document.paragraph(write("topology", input=_input_text(write, record), outputs=_outputs_text(write, record),
                             layers=_layers_with_weights(record)))
    _weight_table(document, write, record)
    test, training = run.metrics["test"], record.experiment["training"]
    seconds = run.metrics["seconds_per_epoch"]
    document.paragraph(write(
        "scores", loss=write.num(test["loss"]), accuracy=write.num(test["accuracy"]),
        errors=write.count(round((1 - test["accuracy"]) * test["samples"])), n=write.count(test["samples"]),
        reference=_reference_text(write, record), epochs=len(seconds), batch=training["batch_size"],
        seconds=write.num(float(np.mean(seconds)) if seconds else None, 1),
    ))
    document.image(images.copy(run, "history", f"{record.name}-history.png"), write("curves_caption", name=record.name))
    document.image(images.copy(run, "confusion", f"{record.name}-confusion.png"),
                   write("confusion_caption", name=record.name))
    document.paragraph(write("confused", pairs=_confused_pairs(test["most_confused"])))


def _hog_figures(document: Document, write: Writer, images: Images, records: list[RunRecord]) -> None:
    """The HOG of a few test digits, for each setting the models use and for larger cells."""
    settings = dict.fromkeys(
        (r.experiment["features"]["hog"]["orientations"], r.experiment["features"]["hog"]["pixels_per_cell"])
        for r in records
    )
    with_examples = [r for r in finished(records) if (r.run.path / "examples.npz").is_file()]
    if not settings or not with_examples:
        return
    settings.setdefault(_COMPARISON_HOG)
    examples = with_examples[0].run.examples
    digits, labels = examples.sample_images[:8], examples.sample_labels[:8].tolist()
    for orientations, cell in settings:
        name = f"hog-o{orientations}-p{cell}.png"
        figure = hog_figure(digits, labels=labels, orientations=orientations, pixels_per_cell=(cell, cell))
        size = hog_feature_size((28, 28), orientations, cell)
        document.image(images.save(figure, name), write("hog_caption", o=orientations, p=cell, n=write.count(size)))


def _comparison_table(document: Document, write: Writer, records: list[RunRecord]) -> None:
    rows = []
    for record in records:
        reference = record.experiment["reference"] if record.experiment else {}
        if not record.outcome.has_run:
            rows.append([record.name, outcome_text(write, record)] + ["–"] * 6
                        + [write.num(reference.get("test_loss")), write.num(reference.get("test_accuracy"))])
            continue
        metrics = record.run.metrics
        seconds, test = metrics["seconds_per_epoch"], metrics["test"]
        rows.append([
            record.name, outcome_text(write, record), write.count(metrics["params"]), len(seconds),
            write.num(float(np.mean(seconds)), 1), write.num(sum(seconds), 1),
            write.num(test["loss"]), write.num(test["accuracy"]),
            write.num(reference.get("test_loss")), write.num(reference.get("test_accuracy")),
        ])
    document.heading(2, write("comparison"))
    document.table(
        [write("col_model"), write("col_status"), write("col_params"), write("col_epochs"), write("col_seconds"),
         write("col_train_time"), write("col_test_loss"), write("col_test_acc"), write("col_ref_loss"),
         write("col_ref_acc")],
        rows, right=set(range(2, 10)),
    )


def question_2(document: Document, write: Writer, images: Images, records: list[RunRecord]) -> None:
    document.heading(1, write("q2"))
    document.paragraph(write("q2_intro"))
    mnist = [r for r in records if r.experiment and get_dataset(r.experiment.dataset).lab_part == "digits"]
    for family in ("raw", "hog", "cnn"):
        members = [r for r in mnist if _FAMILIES[r.experiment.features] == family]
        if not members:
            continue
        document.heading(2, write(f"family_{family}"))
        if family == "hog":
            _hog_figures(document, write, images, members)
        for record in members:
            _experiment_section(document, write, images, record)
    done = finished(mnist)
    if done:
        total = sum(np.asarray(r.run.metrics["test"]["confusion_matrix"]) for r in done)
        pairs = Counter({(t, p): int(total[t, p]) for t in range(10) for p in range(10) if t != p})
        top = [{"true": str(t), "predicted": str(p), "count": c} for (t, p), c in pairs.most_common(5)]
        document.paragraph(write("overall_confused", pairs=_confused_pairs(top)))
    _comparison_table(document, write, records)


# -- Q3 ----------------------------------------------------------------------------------------------

def question_3(document: Document, write: Writer, records: list[RunRecord]) -> None:
    document.heading(1, write("q3"))

    def params(record: RunRecord) -> int:
        return record.run.metrics["params"]

    done = sorted(finished(records), key=lambda r: (_layers_with_weights(r), params(r)))
    if len(done) < 2:
        document.paragraph(write("q3_missing"))
        return
    document.paragraph(write("q3_table"))
    document.table(
        [write("col_model"), write("col_layers"), write("col_params"), write("col_test_acc")],
        [[r.name, _layers_with_weights(r), write.count(params(r)), write.num(r.run.metrics["test"]["accuracy"])]
         for r in done],
        right={1, 2, 3},
    )
    mnist = [r for r in done if get_dataset(r.experiment.dataset).lab_part == "digits"] or done
    deep = max(mnist, key=lambda r: (_layers_with_weights(r), params(r)))
    # The shallow side reads raw pixels where possible: the same input as the CNN, a fair comparison.
    raw = [r for r in mnist if r.experiment.features == "raw"] or mnist
    shallow = min(raw, key=lambda r: (_layers_with_weights(r), params(r)))
    rows = [row for row in deep.run.weight_table() if row.total]
    document.paragraph(write(
        "q3_example", deep=deep.name, deep_layers=_layers_with_weights(deep), deep_params=write.count(params(deep)),
        shallow=shallow.name, shallow_layers=_layers_with_weights(shallow),
        shallow_params=write.count(params(shallow)),
    ))
    lines = [f"{row.layer:<10} {row.kind:<26} {row.formula}" for row in rows]
    lines.append(f"{'total':<10} {'':<26} " + " + ".join(f"{row.total:,}" for row in rows)
                 + f" = {sum(row.total for row in rows):,}")
    document.equations(lines)
    conv = sum(row.total for row in rows if row.layer_type == "Conv2D")
    dense = sum(row.total for row in rows if row.layer_type == "Dense")
    total = params(deep)
    if conv:
        document.paragraph(write("q3_split", deep=deep.name, conv=write.count(conv), conv_share=write.share(conv, total),
                                 dense=write.count(dense), dense_share=write.share(dense, total)))
    document.paragraph(write("q3_answer_more" if total > params(shallow) else "q3_answer_fewer"))
    counter = [(a, b) for a in done for b in done
               if _layers_with_weights(a) > _layers_with_weights(b) and params(a) < params(b)]
    if counter:
        a, b = min(counter, key=lambda pair: params(pair[0]) / params(pair[1]))
        document.paragraph(write("q3_counter", a=a.name, a_layers=_layers_with_weights(a),
                                 a_params=write.count(params(a)), b=b.name,
                                 b_layers=_layers_with_weights(b), b_params=write.count(params(b))))


# -- Q4 ----------------------------------------------------------------------------------------------

def _binary_row(write: Writer, split: str, metrics: dict) -> list[str]:
    return [split, write.num(metrics["threshold"], 3), write.num(metrics["accuracy"]), write.num(metrics["f1"]),
            write.num(metrics["sensitivity"]), write.num(metrics["specificity"]), write.num(metrics["roc_auc"])]


def _is_xray(record: RunRecord) -> bool:
    return record.experiment is not None and get_dataset(record.experiment.dataset).lab_part == "xrays"


def question_4(document: Document, write: Writer, images: Images, records: list[RunRecord],
               beyond: Sequence[RunRecord] = ()) -> None:
    """The lab's chest X-ray models; then, if the same report trained a stronger one (the ``best``
    suite, in ``beyond``), both side by side on the test set."""
    document.heading(1, write("q4"))
    xray = [r for r in records if _is_xray(r)]
    if not xray:
        document.paragraph(write("q4_missing", how=CHEST_XRAY_HOW_TO_GET))
        return
    for record in xray:
        document.heading(2, record.name)
        if record.outcome is Outcome.SKIPPED:
            document.paragraph(write("q4_missing", how=record.error))
        elif record.outcome is Outcome.FAILED:
            document.paragraph(problem_text(write, record))
        else:
            _chest_xray_section(document, write, images, record)
    lab, stronger = finished(xray), [r for r in finished(beyond) if _is_xray(r)]
    if lab and stronger:
        _side_by_side(document, write, images, lab, stronger)


def _test_row(write: Writer, name: str, test: dict) -> list[str]:
    return [name, write.num(test.get("threshold"), 3), write.num(test.get("accuracy")),
            write.num(test.get("sensitivity")), write.num(test.get("specificity")), write.num(test.get("roc_auc"))]


def _side_by_side(document: Document, write: Writer, images: Images, lab: list[RunRecord],
                  stronger: list[RunRecord]) -> None:
    """One table and one ROC figure: the lab's CNN(s), the reference report's figures, the stronger
    model(s) and Kermany et al.'s, each at the threshold it was judged at."""
    names = ", ".join(record.name for record in stronger)
    document.heading(2, write("q4_beside", lab=", ".join(record.name for record in lab), better=names))
    document.paragraph(write("q4_beside_intro", better=names))
    rows = []
    for record in lab:  # each with the reference report's figure for it, when the preset gives one
        rows.append(_test_row(write, record.name, record.run.metrics["test"]))
        if "test_accuracy" in record.experiment["reference"]:
            rows.append(_test_row(write, write("q4_reference_run", name=record.name),
                                  {"accuracy": record.experiment["reference"]["test_accuracy"]}))
    rows += [_test_row(write, record.name, record.run.metrics["test"]) for record in stronger]
    curves, points = [], []
    for record in [*lab, *stronger]:
        metrics = record.run.metrics
        test, roc = metrics["test"], metrics.get("roc_test")
        if roc:  # runs written before shallowdeep kept ROC points have none
            curves.append((record.name, roc["fpr"], roc["tpr"], test["roc_auc"]))
            points.append((write("q4_operating_point", name=record.name, threshold=test["threshold"]),
                           1 - test["specificity"], test["sensitivity"], record.name))
    anchor = stronger[0].experiment["reference"]
    if "test_accuracy" in anchor:
        rows.append(_test_row(write, write("q4_kermany"), {
            key: anchor.get(f"test_{key}") for key in ("accuracy", "sensitivity", "specificity", "roc_auc")}))
        if "test_sensitivity" in anchor and "test_specificity" in anchor:
            points.append((write("q4_kermany"), 1 - anchor["test_specificity"], anchor["test_sensitivity"]))
    document.table([write("col_model"), write("col_threshold"), write("col_accuracy"), write("col_sensitivity"),
                    write("col_specificity"), write("col_auc")], rows, right=set(range(1, 6)))
    if curves:
        caption = write("q4_beside_roc", names=", ".join(name for name, *_ in curves))
        figure = roc_figure(curves, operating_points=points, title=write("q4_beside_roc_title"))
        document.image(images.save(figure, "chest-xray-roc-side-by-side.png"), caption)


def _measured_half(run: Run) -> str:
    """``a`` or ``b``: the half of the test folder an adapted run was measured on."""
    return run.environment["adaptation"]["evaluated_on"].rsplit("half ", 1)[-1].split()[0]


def at_a_new_site(document: Document, write: Writer, images: Images, name: str, adapted: Sequence[Run]) -> None:
    """``name`` (a chest X-ray run) adapted on each half of the test folder and measured on the
    other (:func:`shallowdeep.adaptation.adapt_across_halves`): as trained and adapted side by side."""
    document.heading(2, write("q4_new_site", name=name))
    document.paragraph(write("q4_new_site_intro", name=name))
    rows, curves, points = [], [], []
    as_trained, after = [], []
    adapted = sorted(adapted, key=_measured_half)
    for run in adapted:
        half = _measured_half(run)
        other = {"a": "b", "b": "a"}.get(half, "?")
        metrics = run.metrics
        source, test = metrics["source"]["test"], metrics["test"]
        share = (metrics["adaptation"]["prevalence"] or {}).get("estimated")
        for label, figures, roc, estimated in (
                (write("q4_new_site_as_trained", half=half), source, metrics["source"]["roc_test"], None),
                (write("q4_new_site_adapted", half=half, other=other), test, metrics["roc_test"], share)):
            rows.append([*_test_row(write, label, figures), write.num(estimated, 3)])
            curves.append((label, roc["fpr"], roc["tpr"], figures["roc_auc"]))
            points.append((label, 1 - figures["specificity"], figures["sensitivity"], label))
        as_trained.append(source)
        after.append(test)
    mean = {key: lambda runs, key=key: float(np.mean([figures[key] for figures in runs]))
            for key in ("accuracy", "sensitivity", "specificity", "roc_auc")}
    for label, runs in ((write("q4_new_site_mean_as_trained"), as_trained), (write("q4_new_site_mean_adapted"), after)):
        rows.append([*_test_row(write, label, {key: value(runs) for key, value in mean.items()}), ""])
    document.table([write("col_model"), write("col_threshold"), write("col_accuracy"), write("col_sensitivity"),
                    write("col_specificity"), write("col_auc"), write("col_prevalence")], rows,
                   right=set(range(1, 7)))
    class_names = adapted[0].experiment.class_names
    total = sum(figures["samples"] for figures in after)
    for how, runs, tag in (("as_trained", as_trained, "as-trained"), ("adapted", after, "adapted")):
        caption = write("q4_new_site_confusion", name=name, n=write.count(total), how=write(f"q4_new_site_how_{how}"))
        pooled = np.sum([figures["confusion_matrix"] for figures in runs], axis=0)
        document.image(images.save(confusion_figure(pooled, class_names, title=caption),
                                   f"{name}-new-site-confusion-{tag}.png"), caption)
    caption = write("q4_new_site_roc", name=name)
    document.image(images.save(roc_figure(curves, operating_points=points, title=write("q4_new_site_roc_title", name=name)),
                               f"{name}-new-site-roc.png"), caption)
    positives = sum(figures["confusion_matrix"][1][0] + figures["confusion_matrix"][1][1] for figures in after)
    shares = [share for run in adapted if (share := (run.metrics["adaptation"]["prevalence"] or {}).get("estimated"))]
    too_many = bool(shares) and min(shares) > positives / total + 0.03
    document.paragraph(write(
        "q4_new_site_summary", sens_before=write.num(mean["sensitivity"](as_trained), 3),
        sens_after=write.num(mean["sensitivity"](after), 3), spec_before=write.num(mean["specificity"](as_trained), 3),
        spec_after=write.num(mean["specificity"](after), 3), acc_before=write.num(mean["accuracy"](as_trained), 3),
        acc_after=write.num(mean["accuracy"](after), 3),
        estimated=" / ".join(write.num(share, 3) for share in shares) or "–", actual=write.num(positives / total, 3),
        why=write("q4_new_site_em_high") if too_many else ""))


def _chest_xray_section(document: Document, write: Writer, images: Images, record: RunRecord) -> None:
    run, experiment = record.run, record.experiment
    metrics, (height, width) = run.metrics, experiment["dataset"]["image_size"]
    names = experiment.class_names
    document.paragraph(write("q4_intro", name=record.name, description=experiment["description"], h=height, w=width))
    counts = metrics["class_counts"]
    weights = metrics.get("class_weight")
    shown_weights = ", ".join(f"{k}: {write.num(v)}" for k, v in weights.items()) if weights else write("q4_no_weights")
    document.paragraph(write("q4_balance", weights=shown_weights))
    document.table(
        [write("col_split"), *names, write("col_total")],
        [[write(f"split_{split}") if split != "train" else "train", *map(write.count, counts[split]),
          write.count(sum(counts[split]))] for split in ("train", "validation", "test")],
        right={1, 2, 3},
    )
    threshold = metrics["test"]["threshold"]
    chosen_on_validation = ThresholdSource(metrics["threshold_source"]) is ThresholdSource.VALIDATION
    rule = write("rule_validation" if chosen_on_validation else "rule_fixed", threshold=threshold)
    document.paragraph(write("q4_metrics", rule=rule))
    alternative = metrics["alternative"]
    document.table(
        [write("col_split"), write("col_threshold"), write("col_accuracy"), write("col_f1"),
         write("col_sensitivity"), write("col_specificity"), write("col_auc")],
        [_binary_row(write, write("split_validation"), metrics["validation"]),
         _binary_row(write, write("split_test"), metrics["test"]),
         _binary_row(write, write("split_validation"), alternative["validation"]),
         _binary_row(write, write("split_test"), alternative["test"])],
        right=set(range(1, 7)),
    )
    caption = write("val_confusion_caption", name=record.name, threshold=threshold)
    figure = confusion_figure(metrics["validation"]["confusion_matrix"], names, title=caption)
    document.image(images.save(figure, f"{record.name}-confusion-validation.png"), caption)
    document.image(images.copy(run, "confusion", f"{record.name}-confusion-test.png"),
                   write("test_confusion_caption", name=record.name, threshold=threshold))
    document.image(images.copy(run, "roc", f"{record.name}-roc.png"), write("roc_caption", name=record.name))
    explained = run.grad_cam
    if explained is not None:  # runs written before shallowdeep kept Grad-CAM heat maps have none
        captions = [f"{names[true]} → {names[guess]}\nP = {write.num(float(p[1]), 2)}"
                    for true, guess, p in zip(explained.labels, explained.predicted, explained.probabilities)]
        figure = grad_cam_figure(explained.images, explained.heatmaps, captions)
        document.image(images.save(figure, f"{record.name}-grad-cam.png"), write("grad_cam_caption", name=record.name))
    test_counts = counts["test"]
    share = test_counts[1] / sum(test_counts)
    reference = experiment["reference"]
    document.paragraph(write(
        "q4_discussion", n=write.count(sum(test_counts)), base_acc=write.num(share),
        base_f1=write.num(2 * share / (1 + share)), acc=write.num(metrics["test"]["accuracy"]),
        f1=write.num(metrics["test"]["f1"]), sens=write.num(metrics["test"]["sensitivity"]),
        spec=write.num(metrics["test"]["specificity"]), ref_acc=write.num(reference.get("test_accuracy")),
        ref_f1=write.num(reference.get("test_f1")),
    ))
