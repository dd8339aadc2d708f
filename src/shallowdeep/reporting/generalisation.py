"""Q5: which networks read digits they were not trained on, from the runs' stored evaluations.

Every MNIST run of the report, the lab's and the best suite's side by side, on synthdigits: its
accuracy there against its accuracy on MNIST's test set, by rendering and by how the digits were
made, and a strip of its typical mistakes. Everything is read from ``evaluations/synthdigits.*``
in the run folders (written by ``shallowdeep evaluate`` or by the lab); nothing is predicted here.
"""

from __future__ import annotations

import numpy as np

from shallowdeep.plots import mistake_strips_figure
from shallowdeep.reporting.common import Images, outcome_text
from shallowdeep.reporting.document import Document
from shallowdeep.reporting.text import Writer
from shallowdeep.outcomes import RunRecord

DATASET = "synthdigits"
#: Mistakes shown per model in the strip.
STRIP = 8
#: Points between the two renderings' accuracies within which a model reads them alike (the issue's
#: target for every lab model: "fill" within 3 points of "normalised").
RENDERING_TOLERANCE = 3.0
#: Families compared in the summary, by the suite and the features a model reads.
_FAMILY_KEYS = {"raw": "q5_family_raw", "hog": "q5_family_hog", "image": "q5_family_cnn"}


def _family(record: RunRecord) -> str:
    return "q5_family_best" if record.experiment["suite"] == "best" else _FAMILY_KEYS[record.experiment.features]


def _confused(result: dict) -> str:
    return ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in result["most_confused"][:3]) or "–"


def question_5(document: Document, write: Writer, images: Images, records: list[RunRecord]) -> None:
    """The table, a summary of who generalises, and each model's typical mistakes."""
    document.heading(1, write("q5"))
    document.paragraph(write("q5_intro"))
    rows, evaluated, strips = [], [], []
    for record in records:
        if not record.outcome.has_run:
            rows.append([record.name, outcome_text(write, record)] + ["–"] * 8)
            continue
        stored = record.run.evaluation(DATASET)
        mnist = record.run.metrics["test"]["accuracy"]
        if stored is None:
            rows.append([record.name, write("q5_not_evaluated", path=record.run.path), write.num(mnist)] + ["–"] * 7)
            continue
        fill, centred = (stored.metrics["renderings"][r] for r in ("fill", "centred"))
        sources = fill["by_source"]
        rows.append([record.name, record.experiment.describe_input(), write.num(mnist), write.num(fill["accuracy"]),
                     write.num(centred["accuracy"]), write.num(100 * (fill["accuracy"] - mnist), 1),
                     *(write.num(sources.get(kind)) for kind in ("strokes", "handwriting", "typeface")),
                     _confused(fill)])
        evaluated.append((record, mnist, fill["accuracy"], centred["accuracy"]))
        arrays = stored.arrays
        shown = slice(0, STRIP)
        strips.append((record.name, arrays["mistake_images"][shown],
                       [f"{t} → {p}" for t, p in zip(arrays["mistake_labels"][shown], arrays["mistake_predicted"][shown])]))
    document.table(
        [write("col_model"), write("col_input"), write("col_mnist_test"), write("col_fill"), write("col_centred"),
         write("col_drop"), write("col_strokes"), write("col_handwriting"), write("col_typeface"),
         write("col_confused")],
        rows, right=set(range(2, 9)),
    )
    if not evaluated:
        return
    _summary(document, write, evaluated)
    caption = write("q5_strip_caption", n=STRIP)
    document.image(images.save(mistake_strips_figure(strips, columns=STRIP), "q5-mistakes.png"), caption)


def _summary(document: Document, write: Writer, evaluated: list[tuple[RunRecord, float, float, float]]) -> None:
    best_mnist = max(evaluated, key=lambda item: item[1])
    best_outside = max(evaluated, key=lambda item: item[2])
    if best_mnist[0] is best_outside[0]:
        document.paragraph(write("q5_best_both", name=best_mnist[0].name, mnist_acc=write.num(best_mnist[1]),
                                 fill=write.num(best_mnist[2])))
    else:
        document.paragraph(write(
            "q5_best", mnist_name=best_mnist[0].name, mnist_acc=write.num(best_mnist[1]),
            mnist_fill=write.num(best_mnist[2]), outside_name=best_outside[0].name,
            outside_mnist=write.num(best_outside[1]), outside_fill=write.num(best_outside[2]),
        ))
    families: dict[str, list[float]] = {}
    for record, _, fill, _ in evaluated:
        families.setdefault(_family(record), []).append(fill)
    document.bullets([write("q5_family", family=write(key), n=len(values), mean=write.num(float(np.mean(values))),
                            low=write.num(min(values)), high=write.num(max(values)))
                      for key, values in families.items()])
    gaps = {record.name: 100 * abs(fill - centred) for record, _, fill, centred in evaluated}
    apart = [name for name, gap in gaps.items() if gap > RENDERING_TOLERANCE]
    if apart:
        document.paragraph(write("q5_renderings_differ", gap=write.num(max(gaps.values()), 1), names=", ".join(apart)))
    else:
        document.paragraph(write("q5_renderings_alike", gap=write.num(RENDERING_TOLERANCE, 0)))


__all__ = ["question_5"]
