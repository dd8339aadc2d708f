"""The best suite against its targets: every preset trained with three seeds, mean and spread.

    python benchmarks/best.py                        # every preset of the suite, seeds 0 1 2
    python benchmarks/best.py mnist-fast xray-best   # some presets only
    python benchmarks/best.py --seeds 0              # one seed (a first look, not the benchmark)
    python benchmarks/best.py xray-best-v1           # the first xray-best, kept for comparison
    python benchmarks/best.py --suite seed           # the seed lab's presets over seeds (their spread)

Each (preset, seed) run is the same as ``shallowdeep train PRESET --set training.seed=SEED``:
trained from scratch, evaluated once on the test set at the end (binary tasks at the threshold
chosen on validation). Its figures are written to benchmarks/results/best.json as soon as it
finishes, so an interrupted benchmark keeps what it measured, and running the command again skips
the runs already there for the same settings and shallowdeep version. The file records the
command, the versions and the machine, every run and, per preset, the mean, the sample standard
deviation, the minimum and maximum over seeds, and whether each target is met by the mean and by
every seed. Training time is the sum of the epochs' wall times (validation included); the total
also counts loading the data and evaluating. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from shallowdeep import storage
from shallowdeep.version import __version__
from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.experiments import load_experiment, suite_members
from shallowdeep.experiments.schema import SUITES
from shallowdeep.training import train

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path(__file__).resolve().parent / "runs"

#: The targets of the best suite on 2 CPU cores: metric -> lowest acceptable value, and the most
#: training seconds one run may take.
TARGETS = {
    "mnist-best": {"accuracy": 0.9970, "training_seconds": 600},
    "mnist-fast": {"accuracy": 0.9921, "training_seconds": 60},
    "mnist-robust": {"accuracy": 0.9950, "training_seconds": 600},
    "xray-best": {"accuracy": 0.93, "sensitivity": 0.93, "specificity": 0.90, "roc_auc": 0.97,
                  "training_seconds": 900},
    "xray-best-v1": {"accuracy": 0.93, "sensitivity": 0.93, "specificity": 0.90, "roc_auc": 0.97,
                     "training_seconds": 900},
    "pneumoniamnist-best": {"accuracy": 0.90, "roc_auc": 0.97},
}
#: Published figures the targets are set against.
ANCHORS = {
    "mnist-best": "best published single models about 0.997-0.998",
    "mnist-fast": "reference report's cnn-3: 0.9921 in 4 epochs of ~38 s",
    "mnist-robust": "issue 18: >= 0.995 on MNIST in <= 10 min, and >= 0.97 on other writers' digits",
    "xray-best": "Kermany et al. 2018 (ImageNet transfer): 0.928 / 0.932 / 0.901 / AUC 0.968",
    "xray-best-v1": "the first xray-best, kept for comparison (issue 15)",
    "pneumoniamnist-best": "MedMNIST v2 ResNet-50: 0.884 / AUC 0.962; MedMNIST+ 28 px: 0.866 / 0.973",
}
METRICS = ("accuracy", "f1", "sensitivity", "specificity", "roc_auc", "threshold")
#: Presets outside the suite that this benchmark also measures, to compare with a suite member.
COMPARED = ("xray-best-v1",)


def _run_key(name: str, seed: int, digest: str) -> str:
    return f"{name}/seed{seed}/{digest}"


def measure(name: str, seed: int, runs_dir: Path) -> dict:
    """Train ``name`` with ``seed`` from scratch; its test figures and times."""
    experiment = load_experiment(name, [f"training.seed={seed}"])
    started = time.perf_counter()
    run = train(experiment, runs_dir=runs_dir, progress=False)
    total = time.perf_counter() - started
    keras.backend.clear_session()
    metrics = run.metrics
    test = metrics["test"]
    return {
        "preset": name, "seed": seed, "digest": experiment.digest(), "shallowdeep": __version__,
        "run_dir": str(run.path), "epochs": metrics["epochs"], "params": metrics["params"],
        "training_seconds": round(metrics["training_seconds"], 2), "total_seconds": round(total, 2),
        "validation": {k: metrics["validation"][k] for k in METRICS if k in metrics["validation"]},
        "test": {k: test[k] for k in METRICS if k in test},
    }


def aggregate(name: str, runs: list[dict]) -> dict:
    """Mean, sample sd, min and max of every test metric and of training time; targets checked."""
    summary: dict = {"seeds": [run["seed"] for run in runs], "anchor": ANCHORS.get(name, "")}
    columns = {key: [run["test"][key] for run in runs] for key in METRICS if key in runs[0]["test"]}
    columns["training_seconds"] = [run["training_seconds"] for run in runs]
    for key, values in columns.items():
        summary[key] = {
            "mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values),
        }
    targets = {}
    for key, bound in TARGETS.get(name, {}).items():
        values = columns[key]
        meets = (lambda v: v <= bound) if key == "training_seconds" else (lambda v: v >= bound)
        targets[key] = {"target": bound, "met_by_mean": meets(statistics.fmean(values)),
                        "met_by_every_seed": all(meets(v) for v in values)}
    summary["targets"] = targets
    return summary


def _cell(summary: dict, key: str, digits: int = 4) -> str:
    if key not in summary:
        return "–"
    value = summary[key]
    mark = ""
    target = summary["targets"].get(key)
    if target:
        mark = " ✓" if target["met_by_mean"] else " ✗"
    return f"{value['mean']:.{digits}f} ± {value['sd']:.{digits}f}{mark}"


def markdown_table(presets: dict) -> str:
    lines = ["| preset | seeds | accuracy | sensitivity | specificity | ROC AUC | training s | anchor |",
             "|---|---|---|---|---|---|---|---|"]
    for name, summary in presets.items():
        lines.append(
            f"| {name} | {len(summary['seeds'])} | {_cell(summary, 'accuracy')} | {_cell(summary, 'sensitivity', 3)} "
            f"| {_cell(summary, 'specificity', 3)} | {_cell(summary, 'roc_auc', 3)} "
            f"| {_cell(summary, 'training_seconds', 0)} | {summary['anchor']} |"
        )
    lines.append("\n✓ / ✗: the mean meets / misses the target (targets in benchmarks/best.py; "
                 "`met_by_every_seed` in the JSON).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", help="presets of the suite (default: all of them)")
    parser.add_argument("--suite", default="best", choices=SUITES, help="whose presets (default: best, the one with targets)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--out", type=Path, help="results file (default: results/best.json, results/SUITE-suite.json)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS, help="where the run folders go")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = RESULTS / ("best.json" if args.suite == "best" else f"{args.suite}-suite.json")
    measurable = [*suite_members(args.suite), *(COMPARED if args.suite == "best" else ())]
    names = args.presets or suite_members(args.suite)
    unknown = sorted(set(names) - set(measurable))
    if unknown:
        parser.error(f"not in the {args.suite} suite: {', '.join(unknown)}; choose among {', '.join(measurable)}")

    document = storage.read_json(args.out) if args.out.is_file() else {}
    runs: dict = document.get("runs", {})
    for name in names:
        for seed in args.seeds:
            digest = load_experiment(name, [f"training.seed={seed}"]).digest()
            key = _run_key(name, seed, digest)
            if key in runs and runs[key]["shallowdeep"] == __version__:
                print(f"{name} seed {seed}: already measured ({runs[key]['test']['accuracy']:.4f}), skipped", flush=True)
                continue
            print(f"{name} seed {seed}: training", flush=True)
            runs[key] = measure(name, seed, args.runs_dir)
            test = runs[key]["test"]
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items())
                  + f"; {runs[key]['training_seconds']:.0f} s training", flush=True)
            document.update({"command": "python benchmarks/best.py " + " ".join(sys.argv[1:] if argv is None else argv),
                             "environment": environment(resolve_precision("auto")), "runs": runs})
            storage.write_json(args.out, document)

    presets, earlier = {}, document.get("presets", {})
    for name in measurable:
        measured = sorted((run for run in runs.values() if run["preset"] == name
                           and run["digest"] == load_experiment(name, [f"training.seed={run['seed']}"]).digest()),
                          key=lambda run: run["seed"])
        if measured:
            presets[name] = aggregate(name, measured)
        elif name in earlier:  # measured before its settings' digest changed (a new key's default): kept
            presets[name] = earlier[name]
    document["presets"] = presets
    storage.write_json(args.out, document)
    print()
    print(markdown_table(presets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
