"""A chest X-ray screener adapted to a new site from its unlabelled images: each lever, 3 seeds.

    python benchmarks/adapt.py                       # xray-best, seeds 0 1 2 (trained if not in benchmarks/runs)
    python benchmarks/adapt.py --seeds 0             # a first look, not the benchmark
    python benchmarks/adapt.py --runs-dir /tmp/runs  # reuse finished xray-best runs kept there

The official test folder stands for the new site (it is shifted from the training folder in a way
no split of the training folder shows). It is split in two halves by patient, stratified by class
(``shallowdeep.adaptation.test_folder_halves``: the loader's patient-grouped split at 0.5, seed 0): the adaptation reads one half's images, without labels, and
the adapted run is measured on the other half's labels, then the reverse; the figure is the mean of
the two halves. "Adapted on all 624" reads every test image and is measured on the same images
(transductive: the images, never their labels, are shared), reported beside it and named as such.

Levers, each on the source run trained once per seed (``shallowdeep train xray-best --set
training.seed=S``, chosen and trained on the training folder only):
  source        the run as trained, at its validation threshold, on the same half
  batch_norm    batch-norm statistics re-estimated on the images, the run's threshold
  prevalence    the run's model, the threshold set for the prevalence EM estimates on the images
  both          batch norm re-estimated, then the prevalence and threshold (what `adapt` does)

Every result is written to benchmarks/results/adapt.json (command, versions, machine, the halves'
sizes, each (seed, lever, protocol) with its test figures, the estimated prevalence and the
threshold), then the mean and sample standard deviation over seeds and whether each target is met.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from shallowdeep import storage
from shallowdeep.adaptation import LabelledImages, adapt, test_folder_halves
from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.data.chest_xray import find_chest_xray
from shallowdeep.experiments import load_experiment
from shallowdeep.runs import Run
from shallowdeep.training import train
from shallowdeep.version import __version__

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path(__file__).resolve().parent / "runs"
TARGETS = {"accuracy": 0.93, "sensitivity": 0.93, "specificity": 0.90, "roc_auc": 0.97}
METRICS = ("accuracy", "sensitivity", "specificity", "roc_auc", "threshold")
LEVERS = {"source": (False, False), "batch_norm": (True, False), "prevalence": (False, True), "both": (True, True)}


def source_run(seed: int, runs_dir: Path) -> Run:
    experiment = load_experiment("xray-best", [f"training.seed={seed}"])
    found = Run.find_finished(runs_dir, experiment)
    if found is None:
        found = train(experiment, runs_dir=runs_dir, progress=False)
        keras.backend.clear_session()
    return found


def measure(run: Run, lever: str, images: LabelledImages, labelled: LabelledImages, out: Path) -> dict:
    batch_norm, prevalence = LEVERS[lever]
    started = time.perf_counter()
    adapted = adapt(run, list(images.paths), labelled=labelled, runs_dir=out, batch_norm=batch_norm, prevalence=prevalence,
                    progress=False)
    seconds = time.perf_counter() - started
    keras.backend.clear_session()
    record = adapted.metrics["adaptation"]
    return {
        "test": {key: adapted.metrics["test"][key] for key in METRICS},
        "prevalence": record["prevalence"]["estimated"] if record["prevalence"] else None,
        "distance": record["distance"],
        "seconds": round(seconds, 2),
    }


def _summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarise(results: list[dict]) -> dict:
    """Per lever: the cross-half figure (mean of the two halves, then over seeds) and the
    transductive one, with the targets met or missed by the mean."""
    table = {}
    for lever in LEVERS:
        row = {}
        for protocol in ("cross_half", "all_624"):
            per_seed = []
            for seed in sorted({r["seed"] for r in results}):
                mine = [r for r in results if r["seed"] == seed and r["lever"] == lever and
                        (r["protocol"] == "all_624") == (protocol == "all_624")]
                if mine:
                    per_seed.append({key: statistics.fmean(r["test"][key] for r in mine) for key in METRICS})
            if per_seed:
                row[protocol] = {key: _summary([s[key] for s in per_seed]) for key in METRICS}
                row[protocol]["targets_met_by_mean"] = {
                    key: row[protocol][key]["mean"] >= target for key, target in TARGETS.items()}
        table[lever] = row
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs-dir", type=Path, default=RUNS, help="where the xray-best runs are found or trained")
    parser.add_argument("--output", type=Path, default=RESULTS / "adapt.json")
    args = parser.parse_args(argv)
    chest_xray = find_chest_xray()
    if chest_xray is None:
        sys.exit("the chest X-ray folder is needed (see `shallowdeep data`)")
    results = []
    first, second = test_folder_halves(chest_xray)
    everything = LabelledImages(first.paths + second.paths, first.labels + second.labels, "all 624")
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            run = source_run(seed, args.runs_dir)
            for lever in LEVERS:
                for protocol, images, labelled in (("a_to_b", first, second), ("b_to_a", second, first),
                                                   ("all_624", everything, everything)):
                    result = measure(run, lever, images, labelled, Path(scratch))
                    results.append({"seed": seed, "lever": lever, "protocol": protocol, "run": str(run.path), **result})
                    test = result["test"]
                    print(f"seed {seed} {lever:<10} {protocol:<7} acc {test['accuracy']:.4f} sens "
                          f"{test['sensitivity']:.4f} spec {test['specificity']:.4f} auc {test['roc_auc']:.4f} "
                          f"thr {test['threshold']:.3f} prevalence {result['prevalence']}", flush=True)
    document = {
        "command": "python benchmarks/adapt.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": {"shallowdeep": __version__,
                        **environment(resolve_precision(load_experiment("xray-best")["training"]["precision"]))},
        "halves": {"a": len(first.paths), "b": len(second.paths)}, "targets": TARGETS, "results": results, "summary": summarise(results),
    }
    storage.write_json(args.output, document)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
