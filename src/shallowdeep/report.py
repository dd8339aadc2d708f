"""The lab report: the lab's four questions answered from the runs, as Markdown and as HTML.

Every figure in the report is read from a run folder (``metrics.json``, ``history.csv``,
``weights.json``, ``environment.json``) or from the saved model itself; nothing is typed in.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from shallowdeep import __version__
from shallowdeep.config import OPTIMIZERS, load_experiment
from shallowdeep.data.info import CHEST_XRAY_HOW_TO_GET, DATASETS
from shallowdeep.document import Document, to_html, to_markdown
from shallowdeep.lab import LabEntry
from shallowdeep.report_text import text
from shallowdeep.runs import atomic_write_text

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


class _Writer:
    """Number formatting and sentences in the report's language."""

    def __init__(self, lang: str):
        self.lang = lang

    def __call__(self, key: str, **fields) -> str:
        return text(key, self.lang, **fields)

    def _decimal(self, shown: str) -> str:
        return shown.replace(".", ",") if self.lang == "fr" else shown

    def num(self, value: float | None, digits: int = 4) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "–"
        return self._decimal(f"{value:.{digits}f}")

    def figure(self, value: float) -> str:
        """A value as it was written (a published figure, a setting), without padding digits."""
        return self._decimal(f"{value:g}")

    def count(self, value: int) -> str:
        shown = f"{value:,}"
        return shown.replace(",", "\u202f") if self.lang == "fr" else shown

    def share(self, part: float, whole: float) -> str:
        return f"{self.num(100 * part / whole, 1)} %" if whole else "–"


def _weights(entry: LabEntry) -> list[dict]:
    return _read_weights(entry.run_dir)


@functools.lru_cache(maxsize=64)
def _read_weights(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "weights.json").read_text(encoding="utf-8"))


def _layers_with_weights(entry: LabEntry) -> int:
    return sum(1 for row in _weights(entry) if row["total"])


def _done(entries: list[LabEntry]) -> list[LabEntry]:
    return [entry for entry in entries if entry.status in ("trained", "reused")]


class _Images:
    """Copies the pictures a report shows into ``<out>/images`` so the Markdown links stay valid."""

    def __init__(self, out: Path):
        self.folder = out / "images"
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, source: Path, name: str) -> Path:
        target = self.folder / name
        shutil.copyfile(source, target)
        return target

    def path(self, name: str) -> Path:
        return self.folder / name


def _status(write: _Writer, entry: LabEntry) -> str:
    return write(f"status_{entry.status}")


# -- Q1 ----------------------------------------------------------------------------------------------

def _training_setup(entry: LabEntry) -> tuple[str, str, str]:
    """(optimizer class, its main arguments as text, loss name), read from the saved model."""
    from shallowdeep.models import load_model

    model = load_model(entry.run_dir / "model.keras")
    optimizer = type(model.optimizer).__name__
    config = model.optimizer.get_config()
    keys = _SHOWN_OPTIMIZER_ARGS.get(optimizer) or [k for k, v in config.items() if isinstance(v, (int, float))]
    arguments = ", ".join(f"{key} = {_plain(config[key])}" for key in keys if key in config)
    loss = model.loss if isinstance(model.loss, str) else getattr(model.loss, "name", type(model.loss).__name__)
    return optimizer, arguments, loss


def _plain(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _question_1(document: Document, write: _Writer, entries: list[LabEntry]) -> None:
    document.heading(1, write("q1"))
    document.paragraph(write("q1_intro"))
    groups: dict[tuple[str, str, str], list[str]] = {}
    for entry in _done(entries):
        groups.setdefault(_training_setup(entry), []).append(entry.name)
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

def _family(entry: LabEntry) -> str:
    return {"raw": "raw", "hog": "hog", "image": "cnn"}[entry.experiment["features"]["kind"]]


def _input_text(write: _Writer, entry: LabEntry) -> str:
    features, (height, width) = entry.experiment["features"], entry.experiment["dataset"]["image_size"]
    if features["kind"] == "hog":
        from shallowdeep.prepare import input_shape

        hog = features["hog"]
        return write("input_hog", n=write.count(input_shape(entry.experiment)[0]), o=hog["orientations"],
                     p=hog["pixels_per_cell"], b=hog["cells_per_block"], norm=hog["block_norm"])
    if features["kind"] == "raw":
        return write("input_raw", n=write.count(height * width), scale=features["divide_by"])
    return write("input_image", h=height, w=width, n=write.count(height * width), scale=features["divide_by"])


def _outputs_text(write: _Writer, entry: LabEntry) -> str:
    if entry.experiment["training"]["loss"] == "binary_crossentropy":
        return write("outputs_sigmoid")
    return write("outputs_softmax", k=len(DATASETS[entry.experiment["dataset"]["name"]].classes))


def _weight_table(document: Document, write: _Writer, entry: LabEntry) -> None:
    rows = _weights(entry)
    document.paragraph(write("weights"))
    document.table(
        [write("col_layer"), write("col_type"), write("col_shape"), write("col_weights"), write("col_biases"),
         write("col_formula")],
        [[r["layer"], r["kind"], tuple(r["output_shape"]), write.count(r["weights"]), write.count(r["biases"]),
          r["formula"]] for r in rows],
        right={3, 4},
    )
    parts = [r["total"] for r in rows if r["total"]]
    formula = " + ".join(write.count(p) for p in parts) + f" = {write.count(sum(parts))}"
    document.paragraph(write("weights_total", formula=formula))


def _confused_pairs(write: _Writer, confused: list[dict]) -> str:
    return ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in confused[:3]) or "–"


def _reference_text(write: _Writer, entry: LabEntry) -> str:
    reference = entry.experiment["reference"]
    if "test_accuracy" not in reference:
        return write("no_reference")
    return write("reference_figures", loss=write.num(reference.get("test_loss")),
                 accuracy=write.num(reference["test_accuracy"]))


def _experiment_section(document: Document, write: _Writer, images: _Images, entry: LabEntry) -> None:
    document.heading(3, f"{entry.name}: {entry.experiment['description']}")
    if entry.status in ("failed", "skipped"):
        document.paragraph(write(f"{entry.status}_item", name=entry.name, error=entry.error))
        return
    document.paragraph(write("topology", input=_input_text(write, entry), outputs=_outputs_text(write, entry),
                             layers=_layers_with_weights(entry)))
    _weight_table(document, write, entry)
    test, training = entry.metrics["test"], entry.experiment["training"]
    seconds = entry.metrics["seconds_per_epoch"]
    document.paragraph(write(
        "scores", loss=write.num(test["loss"]), accuracy=write.num(test["accuracy"]),
        errors=write.count(round((1 - test["accuracy"]) * test["samples"])), n=write.count(test["samples"]),
        reference=_reference_text(write, entry), epochs=len(seconds), batch=training["batch_size"],
        seconds=write.num(float(np.mean(seconds)) if seconds else None, 1),
    ))
    document.image(images.take(entry.run_dir / "history.png", f"{entry.name}-history.png"),
                   write("curves_caption", name=entry.name))
    document.image(images.take(entry.run_dir / "confusion.png", f"{entry.name}-confusion.png"),
                   write("confusion_caption", name=entry.name))
    document.paragraph(write("confused", pairs=_confused_pairs(write, test["most_confused"])))


def _hog_figures(document: Document, write: _Writer, images: _Images, entries: list[LabEntry], data_dir) -> None:
    from shallowdeep.data import load_mnist
    from shallowdeep.features import hog_feature_size
    from shallowdeep.plots import save_hog_figure

    settings = dict.fromkeys(
        (e.experiment["features"]["hog"]["orientations"], e.experiment["features"]["hog"]["pixels_per_cell"])
        for e in entries
    )
    if not settings:
        return
    settings.setdefault((8, 7))  # larger cells, for comparison: 16 cells instead of 49
    _, (x_test, y_test) = load_mnist(data_dir)
    for orientations, cell in settings:
        name = f"hog-o{orientations}-p{cell}.png"
        save_hog_figure(x_test[:8], images.path(name), labels=y_test[:8].tolist(), orientations=orientations,
                        pixels_per_cell=(cell, cell))
        size = hog_feature_size((28, 28), orientations, cell)
        document.image(images.path(name), write("hog_caption", o=orientations, p=cell, n=write.count(size)))


def _comparison_table(document: Document, write: _Writer, entries: list[LabEntry]) -> None:
    rows = []
    for entry in entries:
        reference = entry.experiment["reference"] if entry.experiment else {}
        if entry.status in ("failed", "skipped"):
            rows.append([entry.name, _status(write, entry)] + ["–"] * 6
                        + [write.num(reference.get("test_loss")), write.num(reference.get("test_accuracy"))])
            continue
        seconds, test = entry.metrics["seconds_per_epoch"], entry.metrics["test"]
        rows.append([
            entry.name, _status(write, entry), write.count(entry.metrics["params"]), len(seconds),
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


def _question_2(document: Document, write: _Writer, images: _Images, entries: list[LabEntry], data_dir) -> None:
    document.heading(1, write("q2"))
    document.paragraph(write("q2_intro"))
    mnist = [e for e in entries if e.experiment and e.experiment["dataset"]["name"] == "mnist"]
    for family in ("raw", "hog", "cnn"):
        members = [e for e in mnist if _family(e) == family]
        if not members:
            continue
        document.heading(2, write(f"family_{family}"))
        if family == "hog":
            _hog_figures(document, write, images, members, data_dir)
        for entry in members:
            _experiment_section(document, write, images, entry)
    finished = _done(mnist)
    if finished:
        total = sum(np.asarray(e.metrics["test"]["confusion_matrix"]) for e in finished)
        pairs = Counter({(t, p): int(total[t, p]) for t in range(10) for p in range(10) if t != p})
        top = [{"true": str(t), "predicted": str(p), "count": c} for (t, p), c in pairs.most_common(5)]
        document.paragraph(write("overall_confused", pairs=_confused_pairs(write, top)))
    _comparison_table(document, write, entries)


# -- Q3 ----------------------------------------------------------------------------------------------

def _question_3(document: Document, write: _Writer, entries: list[LabEntry]) -> None:
    document.heading(1, write("q3"))
    finished = sorted(_done(entries), key=lambda e: (_layers_with_weights(e), e.metrics["params"]))
    if len(finished) < 2:
        document.paragraph(write("q3_missing"))
        return
    document.paragraph(write("q3_table"))
    document.table(
        [write("col_model"), write("col_layers"), write("col_params"), write("col_test_acc")],
        [[e.name, _layers_with_weights(e), write.count(e.metrics["params"]), write.num(e.metrics["test"]["accuracy"])]
         for e in finished],
        right={1, 2, 3},
    )
    mnist = [e for e in finished if e.experiment["dataset"]["name"] == "mnist"] or finished
    deep = max(mnist, key=lambda e: (_layers_with_weights(e), e.metrics["params"]))
    # The shallow side reads raw pixels where possible: the same input as the CNN, a fair comparison.
    raw = [e for e in mnist if e.experiment["features"]["kind"] == "raw"] or mnist
    shallow = min(raw, key=lambda e: (_layers_with_weights(e), e.metrics["params"]))
    rows = _weights(deep)
    document.paragraph(write(
        "q3_example", deep=deep.name, deep_layers=_layers_with_weights(deep), deep_params=write.count(deep.metrics["params"]),
        shallow=shallow.name, shallow_layers=_layers_with_weights(shallow),
        shallow_params=write.count(shallow.metrics["params"]),
    ))
    lines = [f"{r['layer']:<10} {r['kind']:<26} {r['formula']}" for r in rows if r["total"]]
    parts = [r["total"] for r in rows if r["total"]]
    lines.append(f"{'total':<10} {'':<26} " + " + ".join(f"{p:,}" for p in parts) + f" = {sum(parts):,}")
    document.equations(lines)
    conv = sum(r["total"] for r in rows if r["kind"].startswith("Conv2D"))
    dense = sum(r["total"] for r in rows if r["kind"].startswith("Dense"))
    total = deep.metrics["params"]
    if conv:
        document.paragraph(write("q3_split", deep=deep.name, conv=write.count(conv), conv_share=write.share(conv, total),
                                 dense=write.count(dense), dense_share=write.share(dense, total)))
    document.paragraph(write("q3_answer_more" if total > shallow.metrics["params"] else "q3_answer_fewer"))
    counter = [(a, b) for a in finished for b in finished
               if _layers_with_weights(a) > _layers_with_weights(b) and a.metrics["params"] < b.metrics["params"]]
    if counter:
        a, b = min(counter, key=lambda pair: pair[0].metrics["params"] / pair[1].metrics["params"])
        document.paragraph(write("q3_counter", a=a.name, a_layers=_layers_with_weights(a),
                                 a_params=write.count(a.metrics["params"]), b=b.name,
                                 b_layers=_layers_with_weights(b), b_params=write.count(b.metrics["params"])))


# -- Q4 ----------------------------------------------------------------------------------------------

def _binary_row(write: _Writer, split: str, metrics: dict) -> list[str]:
    return [split, write.num(metrics["threshold"], 3), write.num(metrics["accuracy"]), write.num(metrics["f1"]),
            write.num(metrics["sensitivity"]), write.num(metrics["specificity"]), write.num(metrics["roc_auc"])]


def _question_4(document: Document, write: _Writer, images: _Images, entries: list[LabEntry]) -> None:
    from shallowdeep.plots import save_confusion_figure

    document.heading(1, write("q4"))
    xray = [e for e in entries if e.experiment and e.experiment["dataset"]["name"] == "chest_xray"]
    if not xray:
        document.paragraph(write("q4_missing", how=CHEST_XRAY_HOW_TO_GET))
        return
    for entry in xray:
        document.heading(2, entry.name)
        if entry.status == "skipped":
            document.paragraph(write("q4_missing", how=entry.error))
            continue
        if entry.status == "failed":
            document.paragraph(write("failed_item", name=entry.name, error=entry.error))
            continue
        metrics, (height, width) = entry.metrics, entry.experiment["dataset"]["image_size"]
        names = DATASETS["chest_xray"].classes
        document.paragraph(write("q4_intro", name=entry.name, description=entry.experiment["description"],
                                 h=height, w=width))
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
        rule = write("rule_validation" if metrics["threshold_rule"].startswith("maximises") else "rule_fixed",
                     threshold=threshold)
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
        validation_figure = images.path(f"{entry.name}-confusion-validation.png")
        save_confusion_figure(metrics["validation"]["confusion_matrix"], names, validation_figure,
                              title=write("val_confusion_caption", name=entry.name, threshold=threshold))
        document.image(validation_figure, write("val_confusion_caption", name=entry.name, threshold=threshold))
        document.image(images.take(entry.run_dir / "confusion.png", f"{entry.name}-confusion-test.png"),
                       write("test_confusion_caption", name=entry.name, threshold=threshold))
        document.image(images.take(entry.run_dir / "roc.png", f"{entry.name}-roc.png"),
                       write("roc_caption", name=entry.name))
        test_counts = counts["test"]
        share = test_counts[1] / sum(test_counts)
        reference = entry.experiment["reference"]
        document.paragraph(write(
            "q4_discussion", n=write.count(sum(test_counts)), base_acc=write.num(share),
            base_f1=write.num(2 * share / (1 + share)), acc=write.num(metrics["test"]["accuracy"]),
            f1=write.num(metrics["test"]["f1"]), sens=write.num(metrics["test"]["sensitivity"]),
            spec=write.num(metrics["test"]["specificity"]), ref_acc=write.num(reference.get("test_accuracy")),
            ref_f1=write.num(reference.get("test_f1")),
        ))


# -- beyond the lab ---------------------------------------------------------------------------------

def _lab_model_text(write: _Writer, entry: LabEntry, entries: list[LabEntry]) -> str:
    """The lab's own model for the same dataset: measured here if it ran, else the report's figure."""
    name = entry.experiment["reference"].get("lab_model")
    if not name:
        return "–"
    for other in _done(entries):
        if other.name == name:
            return write("lab_measured", name=name, accuracy=write.num(other.metrics["test"]["accuracy"]))
    accuracy = load_experiment(name)["reference"].get("test_accuracy")
    return write("lab_from_report", name=name, accuracy=write.num(accuracy))


def _anchor_text(write: _Writer, reference: dict) -> str:
    shown = [f"{label} {write.figure(reference[key])}" for key, label in
             (("test_accuracy", "acc"), ("test_sensitivity", "sens"), ("test_specificity", "spec"),
              ("test_roc_auc", "AUC")) if key in reference]
    return ", ".join(shown) or "–"


def _augmentation_text(write: _Writer, augmentation: dict) -> str:
    if not any(augmentation.values()):
        return write("augmentation_none")
    return write("augmentation_items", rotation=write.figure(augmentation["rotation"]),
                 zoom=write.figure(augmentation["zoom"]), shift=write.figure(augmentation["shift"]),
                 flip=write("augmentation_flip") if augmentation["flip"] else "")


def _beyond_the_lab(document: Document, write: _Writer, images: _Images, best: list[LabEntry],
                    everyone: list[LabEntry]) -> None:
    """The ``best`` suite: one table beside the lab's models and published anchors, then each model."""
    document.heading(1, write("beyond"))
    document.paragraph(write("beyond_intro"))
    rows = []
    for entry in best:
        reference = entry.experiment["reference"]
        dataset = entry.experiment["dataset"]["name"]
        if entry.status in ("failed", "skipped"):
            rows.append([entry.name, dataset, _status(write, entry)] + ["–"] * 7
                        + [_lab_model_text(write, entry, everyone), _anchor_text(write, reference)])
            continue
        test = entry.metrics["test"]
        rows.append([
            entry.name, dataset, _status(write, entry), write.count(entry.metrics["params"]),
            entry.metrics["epochs"], write.num(entry.metrics["training_seconds"], 1), write.num(test["accuracy"]),
            write.num(test.get("sensitivity")), write.num(test.get("specificity")), write.num(test.get("roc_auc")),
            _lab_model_text(write, entry, everyone), _anchor_text(write, reference),
        ])
    document.table(
        [write("col_model"), write("col_dataset"), write("col_status"), write("col_params"), write("col_epochs"),
         write("col_train_time"), write("col_test_acc"), write("col_sensitivity"), write("col_specificity"),
         write("col_auc"), write("col_lab_model"), write("col_anchor")],
        rows, right=set(range(3, 10)),
    )
    for entry in _done(best):
        training = entry.experiment["training"]
        document.heading(2, f"{entry.name}: {entry.experiment['description']}")
        schedule = (write("schedule_cosine", warmup=write.figure(training["warmup_epochs"]))
                    if training["schedule"] == "cosine" else write("schedule_constant"))
        document.paragraph(write(
            "beyond_recipe", params=write.count(entry.metrics["params"]), epochs=entry.metrics["epochs"],
            batch=training["batch_size"], optimizer=OPTIMIZERS[training["optimizer"]], schedule=schedule,
            lr=write.figure(training["optimizer_args"]["learning_rate"]), precision=training["precision"],
            augmentation=_augmentation_text(write, training["augmentation"]),
            seconds=write.num(entry.metrics["training_seconds"], 0),
            source=entry.experiment["reference"].get("source", "–"),
        ))
        document.image(images.take(entry.run_dir / "history.png", f"{entry.name}-history.png"),
                       write("beyond_curves", name=entry.name))
        document.image(images.take(entry.run_dir / "confusion.png", f"{entry.name}-confusion.png"),
                       write("beyond_confusion", name=entry.name))
        if (entry.run_dir / "roc.png").is_file():
            document.image(images.take(entry.run_dir / "roc.png", f"{entry.name}-roc.png"),
                           write("roc_caption", name=entry.name))


# -- the whole report -------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def _reproduction(document: Document, write: _Writer, entries: list[LabEntry], seconds: float, command: str) -> None:
    document.heading(1, write("repro"))
    finished = _done(entries)
    environment = {}
    if finished:
        environment = json.loads((finished[0].run_dir / "environment.json").read_text(encoding="utf-8"))
    versions = ", ".join(f"{k} {environment[k]}" for k in ("shallowdeep", "python", "numpy", "keras", "tensorflow")
                         if k in environment)
    precisions = sorted({e.experiment["training"]["precision"] for e in finished})
    seeds = sorted({e.experiment["training"]["seed"] for e in finished})
    document.table(["", ""], [
        [write("repro_machine"), write("repro_cores", cpu=environment.get("cpu", "?"), cores=environment.get("cpu_count", "?"))],
        [write("repro_versions"), f"{versions}; backend {environment.get('backend', '?')}"],
        [write("repro_precision"), ", ".join(precisions) or "–"],
        [write("repro_seeds"), ", ".join(map(str, seeds)) or "–"],
        [write("repro_time"), _duration(seconds)],
        [write("repro_training"), _duration(sum(e.metrics["training_seconds"] for e in finished))],
        [write("repro_command"), f"`{command}`"],
    ])


def write_report(
    entries: list[LabEntry], out: str | os.PathLike, *, suite: str, quick: bool, lang: str, command: str,
    seconds: float, data_dir=None,
) -> tuple[Path, Path]:
    """Write ``<out>/report.md`` (images in ``<out>/images``) and the self-contained ``report.html``."""
    out = Path(out)
    write = _Writer(lang)
    images = _Images(out)
    document = Document(write("title"), lang)
    if quick:
        document.banner(write("quick"))
    statuses = Counter(entry.status for entry in entries)
    document.paragraph(write(
        "intro", version=__version__, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), command=command,
        count=len(entries), suite=suite, trained=statuses["trained"], reused=statuses["reused"],
        failed=statuses["failed"], skipped=statuses["skipped"], total=_duration(seconds),
    ))
    problems = [e for e in entries if e.status in ("failed", "skipped")]
    if problems:
        document.heading(2, write("failed_title"))
        document.bullets([write(f"{e.status}_item", name=e.name, error=e.error) for e in problems])
    best = [e for e in entries if e.experiment and e.experiment["suite"] == "best"]
    lab = [e for e in entries if not (e.experiment and e.experiment["suite"] == "best")]
    if lab:
        _question_1(document, write, lab)
        _question_2(document, write, images, lab, data_dir)
        _question_3(document, write, lab)
        _question_4(document, write, images, lab)
    if best:
        _beyond_the_lab(document, write, images, best, entries)
    _reproduction(document, write, entries, seconds, command)

    links = {path: path.relative_to(out).as_posix() for block in document.blocks if block[0] == "image"
             for path in [block[1]]}
    markdown, html = out / "report.md", out / "report.html"
    atomic_write_text(markdown, to_markdown(document, links))
    atomic_write_text(html, to_html(document))
    return markdown, html
