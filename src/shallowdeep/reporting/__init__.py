"""The lab report: the lab's four questions, which networks read digits from outside MNIST (Q5) and
the best suite, answered from finished runs.

>>> import shallowdeep as sd
>>> sd.report([sd.load_run(path) for path in paths], "out/", lang="fr")   # doctest: +SKIP

Every figure in the report is read from run folders (:class:`~shallowdeep.runs.Run`); nothing is
typed in, nothing is trained or predicted, and no dataset is loaded: writing a report takes seconds.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from shallowdeep.data import get_dataset
from shallowdeep.version import __version__
from shallowdeep.reporting.beyond import beyond_the_lab
from shallowdeep.reporting.common import Images, finished, problem_text
from shallowdeep.reporting.document import Document
from shallowdeep.reporting.generalisation import question_5
from shallowdeep.reporting.questions import at_a_new_site, question_1, question_2, question_3, question_4
from shallowdeep.reporting.render import to_html, to_markdown
from shallowdeep.reporting.sweeps import sweep_sections
from shallowdeep.reporting.text import LANGUAGES, Writer
from shallowdeep.outcomes import Outcome, RunRecord
from shallowdeep.runs import Run
from shallowdeep.storage import write_text
from shallowdeep.sweeps import SweepResult


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def _reproduction(document: Document, write: Writer, records: list[RunRecord], seconds: float, command: str) -> None:
    document.heading(1, write("repro"))
    done = finished(records)
    environment = done[0].run.environment if done else {}
    backend = environment.get("backend", "?")
    versions = ", ".join(f"{k} {environment[k]}" for k in ("shallowdeep", "python", "numpy", "keras", backend)
                         if environment.get(k))
    precisions = sorted({_precision_text(r.run.environment) for r in done})
    seeds = sorted({r.experiment["training"]["seed"] for r in done})
    document.table(["", ""], [
        [write("repro_machine"), write("repro_cores", cpu=_cpu_text(environment),
                                       cores=environment.get("cpu_count", "?"))],
        [write("repro_versions"), f"{versions}; backend {backend}"],
        [write("repro_trained_on"), _trained_on(done) or "–"],
        [write("repro_precision"), "; ".join(precisions) or "–"],
        [write("repro_seeds"), ", ".join(map(str, seeds)) or "–"],
        [write("repro_time"), _duration(seconds)],
        [write("repro_training"), _duration(sum(r.run.metrics["training_seconds"] for r in done))],
        [write("repro_command"), f"`{command}`"],
    ])


def _trained_on(done: list[RunRecord]) -> str:
    """Where each run trained: its GPU, else its CPU, and the Keras backend, with the runs of each."""
    places: dict[str, list[str]] = {}
    for record in done:
        environment = record.run.environment
        device = environment["device"]
        where = _cpu_text(environment) if device == "cpu" else device
        places.setdefault(f"{where}, {environment.get('backend', '?')}", []).append(record.name)
    return "; ".join(f"{place}: {', '.join(names)}" for place, names in places.items())


def _cpu_text(environment: dict) -> str:
    """The CPU's name, and the instruction sets that set its speed where the run recorded them
    (a name such as "AMD EPYC" does not tell an AVX2-only CPU from one with AVX512_BF16)."""
    features = environment.get("cpu_features")
    cpu = environment.get("cpu", "?")
    return f"{cpu} ({', '.join(feature.upper() for feature in features)})" if features else cpu


def _precision_text(environment: dict) -> str:
    """``bf16 (why)``, or the precision alone where the run did not say why."""
    reason = environment["precision_reason"]
    return f"{environment.get('precision', '?')} ({reason})" if reason else environment.get("precision", "?")


def _as_record(item: Run | RunRecord) -> RunRecord:
    if isinstance(item, RunRecord):
        return item
    return RunRecord(item.name, item.experiment, Outcome.REUSED, item)


def build_document(records: list[RunRecord], out: Path, *, suite: str, quick: bool, lang: str, command: str,
                   seconds: float, sweeps: Sequence[SweepResult] = (),
                   adaptations: Mapping[str, Sequence[Run]] | None = None) -> Document:
    """The report as a document; the figures it draws are written into ``<out>/images``.
    ``adaptations``: a chest X-ray run's name -> its runs adapted on each half of the test folder."""
    write = Writer(lang)
    images = Images(out)
    document = Document(write("title"), lang)
    if quick:
        document.banner(write("quick"))
    outcomes = Counter(record.outcome for record in records)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if records or not sweeps:
        document.paragraph(write(
            "intro", version=__version__, date=date, command=command, count=len(records), suite=suite,
            trained=outcomes[Outcome.TRAINED], reused=outcomes[Outcome.REUSED], failed=outcomes[Outcome.FAILED],
            skipped=outcomes[Outcome.SKIPPED], total=_duration(seconds),
        ))
    else:
        document.paragraph(write("intro_sweeps", version=__version__, date=date, command=command, count=len(sweeps)))
    problems = [record for record in records if not record.outcome.has_run]
    if problems:
        document.heading(2, write("failed_title"))
        document.bullets([problem_text(write, record) for record in problems])
    best = [r for r in records if r.experiment and r.experiment["suite"] == "best"]
    lab = [r for r in records if not (r.experiment and r.experiment["suite"] == "best")]
    if lab:
        question_1(document, write, lab)
        question_2(document, write, images, lab)
        question_3(document, write, lab)
        question_4(document, write, images, lab, best)
        _new_sites(document, write, images, adaptations)
    digits = [r for r in records if r.experiment and get_dataset(r.experiment.dataset).digits]
    if digits:
        question_5(document, write, images, digits)
    if best:
        beyond_the_lab(document, write, images, best, records)
        if not lab:
            _new_sites(document, write, images, adaptations)
    sweep_sections(document, write, images, sweeps)
    if records or not sweeps:
        _reproduction(document, write, records, seconds, command)
    return document


def _new_sites(document: Document, write: Writer, images: Images, adaptations: Mapping[str, Sequence[Run]] | None) -> None:
    for name, adapted in (adaptations or {}).items():
        if adapted:
            at_a_new_site(document, write, images, name, adapted)


def write_report(
    items: Sequence[Run | RunRecord],
    out: str | os.PathLike,
    *,
    suite: str | None = None,
    quick: bool = False,
    lang: str = "en",
    command: str = "shallowdeep.reporting",
    seconds: float | None = None,
    sweeps: Sequence[SweepResult | str | os.PathLike] = (),
    adaptations: Mapping[str, Sequence[Run]] | None = None,
) -> tuple[Path, Path]:
    """Write ``<out>/report.md`` (images in ``<out>/images``) and the self-contained ``report.html``.

    ``items``: finished runs, or the records of a lab (runs, and experiments that failed or were
    skipped). ``suite`` names them in the introduction (default: the suites they come from).
    ``sweeps``: finished sweeps (results or their folders), each in a section of its own.
    ``adaptations``: a chest X-ray run's name -> its runs adapted on each half of the test folder
    (``shallowdeep lab --suite best``), shown beside it as trained.
    """
    started = time.perf_counter()
    if lang not in LANGUAGES:
        raise ValueError(f"no report language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    records = [_as_record(item) for item in items]
    if suite is None:
        suite = ", ".join(sorted({r.experiment["suite"] or "custom" for r in records if r.experiment})) or "custom"
    out = Path(out)
    sweep_results = [item if isinstance(item, SweepResult) else SweepResult.load(item) for item in sweeps]
    document = build_document(records, out, suite=suite, quick=quick, lang=lang, command=command,
                              seconds=seconds if seconds is not None else time.perf_counter() - started,
                              sweeps=sweep_results, adaptations=adaptations)
    links = {image.path: image.path.relative_to(out).as_posix() for image in document.images}
    markdown, html = out / "report.md", out / "report.html"
    write_text(markdown, to_markdown(document, links))
    write_text(html, to_html(document, contents_label=Writer(lang)("contents")))
    return markdown, html


__all__ = ["build_document", "write_report"]
