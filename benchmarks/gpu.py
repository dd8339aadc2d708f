"""The seed lab, report included, on every Keras backend installed here, and where its time goes.

    python benchmarks/gpu.py                                   # every installed backend, the seed suite
    python benchmarks/gpu.py --backends jax torch --data-dir .data --budget 200
    python benchmarks/gpu.py --backends tensorflow             # on a CPU: the lab's time by phase

Made for one GPU (the target: the whole seed lab in at most 60 s per backend), and it runs as well
on a CPU. Each backend runs ``shallowdeep.run_lab`` in a fresh process (Keras loads one backend)
into an empty folder, so that everything trains, with the forecast (``estimate=True``) as a user
gets it. For each backend the JSON keeps the lab's wall time and phases (forecast, training,
synthdigits, report), and for each experiment its seconds, its run's phases (data, model, the
training and validation passes, checkpoints, the rest of the epochs, evaluation; saving is the
rest) and the share of its time inside the training and validation passes (compiled calls on
TensorFlow and JAX; on PyTorch, an eager step called batch by batch); the process's peak
resident memory (RSS, ``peak_rss_gib``); with the device's name (the GPU's, or the CPU's), the
versions and the command. ``--budget`` is the seconds of the whole script (default 450, within
the 8 minutes a GPU call may take), shared equally by the backends still to run: a backend that
outlasts its share is stopped and recorded as such, with the figures of the runs it finished
(read from their ``metrics.json``), so the whole script ends in bounded time.

xray-1 needs the chest X-ray folder; where the data folder has none, the lab skips it and the JSON
says so (time it in a second call with a folder that has it, ``--experiments xray-1``).
Results: ``results/gpu.json`` (``--output``), and a Markdown table on stdout. Never asserted in tests.

    python benchmarks/gpu.py --summarize benchmarks/results/lab-zen3-quiet.json benchmarks/results/lab-xeon.json

prints the lab's time by phase (the issue's table: probe, data, passes, per-epoch work,
evaluation, saving, report) for each backend of each results file, one row each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("tensorflow", "jax", "torch")


def worker(out: Path, experiments: list[str] | None, data_dir: str | None, quick: bool) -> dict:
    """In a process whose backend is set: the lab, then what each of its runs measured."""
    import shallowdeep as sd
    from shallowdeep.backend import current_device, environment, resolve_precision

    result = sd.run_lab(out=out, experiments=experiments, data_dir=data_dir, quick=quick, force=True,
                        estimate=True, progress=False)
    rows = []
    for record in result.records:
        row = {"experiment": record.name, "outcome": record.outcome.value, "seconds": record.seconds}
        if record.run is not None and record.outcome.value == "trained":
            metrics = record.run.metrics
            phases = metrics.get("phase_seconds", {})
            row.update(epochs=metrics["epochs"], test_accuracy=metrics["test"]["accuracy"], phase_seconds=phases,
                       passes_share=phases.get("passes", 0.0) / record.seconds if record.seconds else None)
        elif record.error:
            row["error"] = record.error
        rows.append(row)
    machine = environment(resolve_precision("auto"))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"backend": machine["backend"], "version": machine[machine["backend"]], "keras": machine["keras"],
            "precision": machine["precision"], "device": current_device().name, "cpu": machine["cpu"],
            "cpu_features": machine["cpu_features"],
            "seconds": result.seconds, "peak_rss_gib": peak_kib / 2**20,
            "phase_seconds": result.phase_seconds, "experiments": rows}


def finished_runs(out: Path) -> list[dict]:
    """What each run a stopped lab finished measured, from its ``metrics.json``."""
    rows = []
    for metrics_file in sorted(out.glob("runs*/*/*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        phases = metrics.get("phase_seconds", {})
        rows.append({"experiment": metrics["experiment"], "epochs": metrics["epochs"],
                     "test_accuracy": metrics["test"]["accuracy"], "phase_seconds": phases,
                     "seconds": sum(phases.values())})
    return rows


#: The lab's phases, in the order it meets them: (column, what it sums).
LAB_PHASES = (
    ("probe", "the forecast: probing each model, or reading the timings kept"),
    ("data", "loading and preparing each experiment's data"),
    ("model", "building and compiling each model"),
    ("passes", "the training and validation passes (the compiled steps)"),
    ("per epoch", "checkpoints and the rest of each epoch"),
    ("evaluation", "the final evaluations on validation and test"),
    ("saving", "writing each run's results and figures"),
    ("synthdigits", "every MNIST model evaluated on synthdigits"),
    ("report", "the report and its figures"),
    ("other", "the rest of the lab's wall time"),
)


def lab_phases(entry: dict) -> dict[str, float]:
    """One backend's lab (an entry of a results file) as seconds by :data:`LAB_PHASES`."""
    runs = [row for row in entry["experiments"] if row.get("phase_seconds")]
    summed = {name: sum(row["phase_seconds"][name] for row in runs)
              for name in ("data", "model", "passes", "checkpoints", "epochs_other", "evaluation")}
    lab = entry["phase_seconds"]
    phases = {"probe": lab["forecast"], "data": summed["data"], "model": summed["model"], "passes": summed["passes"],
              "per epoch": summed["checkpoints"] + summed["epochs_other"], "evaluation": summed["evaluation"],
              "saving": sum(row["seconds"] - sum(row["phase_seconds"].values()) for row in runs),
              "synthdigits": lab["outside_digits"], "report": lab["report"] + lab.get("adaptation", 0.0)}
    phases["other"] = entry["seconds"] - sum(phases.values())
    return phases


def summarize(paths: list[Path]) -> str:
    """A Markdown table of :func:`lab_phases`, a row per backend of each results file."""
    columns = [name for name, _ in LAB_PHASES]
    lines = ["| file | backend | device | precision | whole lab | " + " | ".join(columns) + " |",
             "|---|---|---|---|---:|" + "---:|" * len(columns)]
    for path in paths:
        for entry in json.loads(path.read_text())["backends"]:
            if "experiments" not in entry:
                continue
            phases = lab_phases(entry)
            cells = " | ".join(f"{phases[name]:.1f} ({100 * phases[name] / entry['seconds']:.0f} %)"
                               for name in columns)
            device = entry["device"] + (f" ({', '.join(entry['cpu_features'])})" if entry.get("cpu_features") else "")
            lines.append(f"| {path.name} | {entry['backend']} | {device} | {entry['precision']} "
                         f"| {entry['seconds']:.1f} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS,
                        default=[name for name in BACKENDS if importlib.util.find_spec(name)])
    parser.add_argument("--experiments", nargs="+", help="presets instead of the seed suite")
    parser.add_argument("--data-dir", help="the data folder (default: as the shallowdeep command finds it)")
    parser.add_argument("--quick", action="store_true", help="the quick lab (1 epoch on slices): to try the script")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds for all the backends together, shared equally (default 450)")
    parser.add_argument("--output", default="gpu.json", help="file name under benchmarks/results (default gpu.json)")
    parser.add_argument("--summarize", nargs="+", type=Path, metavar="FILE",
                        help="print the lab's time by phase from these results files, and stop")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.summarize:
        print(summarize(arguments.summarize))
        return
    if arguments.worker:
        result = worker(Path(arguments.worker), arguments.experiments, arguments.data_dir, arguments.quick)
        print("RESULT " + json.dumps(result))
        return

    from shallowdeep.storage import write_json
    from shallowdeep.version import __version__

    started = time.perf_counter()
    backends = []
    for position, backend in enumerate(arguments.backends):
        share = (arguments.budget - (time.perf_counter() - started)) / (len(arguments.backends) - position)
        out = Path(tempfile.mkdtemp(prefix=f"lab-{backend}-"))
        command = [sys.executable, __file__, "--worker", str(out)]
        command += ["--experiments", *arguments.experiments] if arguments.experiments else []
        command += ["--data-dir", arguments.data_dir] if arguments.data_dir else []
        command += ["--quick"] if arguments.quick else []
        begun = time.perf_counter()
        try:
            done = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True,
                                  text=True, timeout=max(share, 1.0))
        except subprocess.TimeoutExpired as stopped:
            backends.append({"backend": backend, "timed_out_after": share, "finished_runs": finished_runs(out),
                             "output": (stopped.stdout or b"")[-3000:].decode(errors="replace")
                             if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")[-3000:]})
            print(f"{backend}: stopped after {share:.0f} s", file=sys.stderr, flush=True)
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            backends.append({"backend": backend, "failed": done.returncode,
                             "output": (done.stdout + done.stderr)[-3000:]})
            print(f"{backend}: failed ({done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr, flush=True)
            continue
        backends.append({**json.loads(lines[-1].removeprefix("RESULT ")),
                         "process_seconds": time.perf_counter() - begun})
    result = {"command": " ".join(["python", "benchmarks/gpu.py", *sys.argv[1:]]), "shallowdeep": __version__,
              "seconds": time.perf_counter() - started, "backends": backends}
    write_json(RESULTS / arguments.output, result)
    for entry in backends:
        if "experiments" not in entry:
            continue
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in entry["phase_seconds"].items())
        print(f"\n{entry['backend']} {entry['version']} on {entry['device']}: lab {entry['seconds']:.1f} s "
              f"({phases}; the forecast {100 * entry['phase_seconds']['forecast'] / entry['seconds']:.1f} % of it), "
              f"peak memory {entry['peak_rss_gib']:.2f} GiB\n")
        print("| experiment | outcome | seconds | data | model | passes | checkpoints | epochs other | evaluation "
              "| in passes |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in entry["experiments"]:
            phases = row.get("phase_seconds") or {}
            cells = " | ".join(f"{phases[name]:.1f}" if name in phases else "-"
                               for name in ("data", "model", "passes", "checkpoints", "epochs_other", "evaluation"))
            share = f"{100 * row['passes_share']:.0f} %" if row.get("passes_share") is not None else "-"
            print(f"| {row['experiment']} | {row['outcome']} | {row['seconds']:.1f} | {cells} | {share} |")


if __name__ == "__main__":
    main()
