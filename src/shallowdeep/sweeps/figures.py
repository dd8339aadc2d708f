"""A sweep's figures, drawn from its results table (no run is loaded, nothing is trained).

- :func:`axis_figure`: the selection metric on validation against each axis, one panel per axis.
- :func:`weights_figure`: the lab's Q3 measured. Validation accuracy of every trial of every MNIST
  sweep given (MLP on pixels, MLP on HOG, CNN) against its number of weights, and against its
  training time, with the Pareto front of each: the trials that no other trial beats on both
  (as accurate or better *and* as small or cheaper).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.ticker import FuncFormatter

from shallowdeep.data import get_dataset
from shallowdeep.experiments.files import toml_value
from shallowdeep.plots import Figure, save_figure
from shallowdeep.sweeps.results import SweepResult, TrialRecord

#: MNIST families by the features their experiments read.
FAMILIES = {"raw": "MLP on pixels", "hog": "MLP on HOG", "image": "CNN"}
_MARKERS = {"raw": "o", "hog": "s", "image": "^"}


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the points no other point dominates (cost <= and score >=, one of them strictly),
    by increasing cost: the best score reachable at each cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i]))
    front, best = [], float("-inf")
    for index in order:
        if scores[index] > best:
            front.append(index)
            best = scores[index]
    return front


def _complete(result: SweepResult) -> list[TrialRecord]:
    return [trial for trial in result.trials if trial.value is not None]


def _short(value: float) -> str:
    """``2500000`` -> ``2.5M``, ``40000`` -> ``40k``, ``0.5`` -> ``0.5``."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _plain_log_scale(axis) -> None:
    """A log scale labelled with plain numbers (``0.5``, ``20``, ``100k``), 2 and 5 between decades."""
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
    axis.xaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: _short(value) if f"{value:e}"[0] in "25" else ""))
    axis.tick_params(axis="x", which="minor", labelsize=7)


def axis_figure(result: SweepResult) -> Figure:
    """The validation metric of every complete trial against each axis; the chosen trial starred.

    A list axis is shown in the order it was written (numbers on a numeric scale), a range on its
    own scale, log or linear."""
    trials, best = _complete(result), result.best
    figure = Figure(figsize=(3.6 * len(result.axes) + 0.6, 3.4))
    axes = figure.subplots(1, len(result.axes), squeeze=False)[0]
    for axis, described in zip(axes, result.axes):
        key, choices = described["key"], described.get("choices")
        values = [trial.point.get(key) for trial in trials]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in choices or values)
        if numeric:
            xs = values
            spread = [v for v in (choices or values) if v > 0]
            if described.get("log") or (spread and max(spread) / min(spread) >= 20 and len(spread) == len(choices or values)):
                _plain_log_scale(axis)
            if choices:
                axis.set_xticks(choices, [f"{v:g}" for v in choices])
        else:
            labels = [toml_value(v) for v in choices] if choices else sorted({toml_value(v) for v in values})
            xs = [labels.index(toml_value(v)) for v in values]
            axis.set_xticks(range(len(labels)), labels, rotation=20 if max(map(len, labels), default=0) > 6 else 0,
                            fontsize=8)
        axis.plot(xs, [trial.value for trial in trials], "o", alpha=0.7, label="trial")
        if best is not None:
            chosen = xs[trials.index(best)]
            axis.plot([chosen], [best.value], "*", markersize=14, color="crimson", label=f"chosen (#{best.number})")
        axis.set_xlabel(described["name"])
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"validation {result.metric}")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"sweep {result.name}: validation {result.metric} against each axis", fontsize=11)
    return figure


def weights_figure(results: Sequence[SweepResult]) -> Figure:
    """Validation accuracy against weights and against training time, every MNIST trial given,
    by family, with both Pareto fronts."""
    points = [(result.features, trial) for result in results if get_dataset(result.dataset).lab_part == "digits"
              for trial in _complete(result) if trial.validation_accuracy is not None and trial.weights]
    figure = Figure(figsize=(10, 4))
    panels = figure.subplots(1, 2, sharey=True)
    for panel, (label, cost) in zip(panels, (("weights (parameters)", lambda t: t.weights),
                                             ("training time (s)", lambda t: max(t.training_seconds or 0, 1e-3)))):
        for family, name in FAMILIES.items():
            members = [trial for kind, trial in points if kind == family]
            if members:
                panel.plot([cost(t) for t in members], [t.validation_accuracy for t in members], _MARKERS[family],
                           alpha=0.75, label=name)
        if points:
            costs = [cost(trial) for _, trial in points]
            scores = [trial.validation_accuracy for _, trial in points]
            front = pareto_front(costs, scores)
            panel.step([costs[i] for i in front], [scores[i] for i in front], "-", where="post", color="black",
                       linewidth=1.2, label="Pareto front")
        _plain_log_scale(panel)
        panel.set_xlabel(label)
        panel.grid(alpha=0.3, which="both")
    panels[0].set_ylabel("validation accuracy")
    panels[0].legend(fontsize=8, loc="best")
    figure.suptitle("Q3 measured: accuracy against the number of weights and against training time (MNIST)",
                    fontsize=11)
    return figure


def write_figures(result: SweepResult, folder: Path) -> list[Path]:
    """The sweep's figures as PNGs in ``folder``: the axes, and for MNIST the Q3 figure."""
    if not _complete(result):
        return []
    written = [save_figure(axis_figure(result), folder / "metric-by-axis.png")]
    if get_dataset(result.dataset).lab_part == "digits":
        written.append(save_figure(weights_figure([result]), folder / "accuracy-vs-weights.png"))
    return written
