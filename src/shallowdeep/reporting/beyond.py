"""Beyond the lab: the ``best`` suite beside the lab's own models and the published figures."""

from __future__ import annotations

from shallowdeep.experiments import OPTIMIZERS, active_augmentations, read_experiment_file
from shallowdeep.reporting.common import Images, finished, outcome_text
from shallowdeep.reporting.document import Document
from shallowdeep.reporting.text import Writer
from shallowdeep.outcomes import RunRecord


def _lab_model_text(write: Writer, record: RunRecord, everyone: list[RunRecord]) -> str:
    """The lab's own model for the same dataset: measured here if it ran, else the report's figure."""
    name = record.experiment["reference"].get("lab_model")
    if not name:
        return "–"
    for other in finished(everyone):
        if other.name == name:
            return write("lab_measured", name=name, accuracy=write.num(other.run.metrics["test"]["accuracy"]))
    accuracy = read_experiment_file(name)[0].get("reference", {}).get("test_accuracy")
    return write("lab_from_report", name=name, accuracy=write.num(accuracy))


def _anchor_text(write: Writer, reference: dict) -> str:
    shown = [f"{label} {write.figure(reference[key])}" for key, label in
             (("test_accuracy", "acc"), ("test_sensitivity", "sens"), ("test_specificity", "spec"),
              ("test_roc_auc", "AUC")) if key in reference]
    return ", ".join(shown) or "–"


def _augmentation_text(write: Writer, augmentation: dict) -> str:
    """Each active augmentation with its setting, in the report's language."""
    active = active_augmentations(augmentation)
    if not active:
        return write("augmentation_none")
    shown = {key: write.figure(value) if not isinstance(value, bool) else "" for key, value in augmentation.items()}
    return ", ".join(write(f"augmentation_{key}", **shown) for key in active)


def beyond_the_lab(document: Document, write: Writer, images: Images, best: list[RunRecord],
                   everyone: list[RunRecord]) -> None:
    """One table beside the lab's models and published anchors, then each model's recipe and figures."""
    document.heading(1, write("beyond"))
    document.paragraph(write("beyond_intro"))
    rows = []
    for record in best:
        reference = record.experiment["reference"]
        if not record.outcome.has_run:
            rows.append([record.name, record.experiment.dataset, outcome_text(write, record)] + ["–"] * 7
                        + [_lab_model_text(write, record, everyone), _anchor_text(write, reference)])
            continue
        metrics = record.run.metrics
        test = metrics["test"]
        rows.append([
            record.name, record.experiment.dataset, outcome_text(write, record), write.count(metrics["params"]),
            metrics["epochs"], write.num(metrics["training_seconds"], 1), write.num(test["accuracy"]),
            write.num(test.get("sensitivity")), write.num(test.get("specificity")), write.num(test.get("roc_auc")),
            _lab_model_text(write, record, everyone), _anchor_text(write, reference),
        ])
    document.table(
        [write("col_model"), write("col_dataset"), write("col_status"), write("col_params"), write("col_epochs"),
         write("col_train_time"), write("col_test_acc"), write("col_sensitivity"), write("col_specificity"),
         write("col_auc"), write("col_lab_model"), write("col_anchor")],
        rows, right=set(range(3, 10)),
    )
    for record in finished(best):
        run, training = record.run, record.experiment["training"]
        document.heading(2, f"{record.name}: {record.experiment['description']}")
        schedule = (write("schedule_cosine", warmup=write.figure(training["warmup_epochs"]))
                    if training["schedule"] == "cosine" else write("schedule_constant"))
        document.paragraph(write(
            "beyond_recipe", params=write.count(run.metrics["params"]), epochs=run.metrics["epochs"],
            batch=training["batch_size"], optimizer=OPTIMIZERS[training["optimizer"]], schedule=schedule,
            lr=write.figure(training["optimizer_args"]["learning_rate"]), precision=run.environment["precision"],
            augmentation=_augmentation_text(write, training["augmentation"]),
            seconds=write.num(run.metrics["training_seconds"], 0),
            source=record.experiment["reference"].get("source", "–"),
        ))
        document.image(images.copy(run, "history", f"{record.name}-history.png"),
                       write("beyond_curves", name=record.name))
        document.image(images.copy(run, "confusion", f"{record.name}-confusion.png"),
                       write("beyond_confusion", name=record.name))
        if run.figure_path("roc") is not None:
            document.image(images.copy(run, "roc", f"{record.name}-roc.png"), write("roc_caption", name=record.name))
