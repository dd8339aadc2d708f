"""Keras' backends side by side on this machine: training throughput of cnn-3 and xray-1 on
TensorFlow, PyTorch and JAX, on this CPU as it is and capped to AVX2.

    python benchmarks/backends.py                 # 3 rounds (a few minutes on 2 cores)
    python benchmarks/backends.py --rounds 5 --steps 40

Each measurement is a fresh process (a backend is chosen once, when Keras loads) that trains the
preset exactly as ``shallowdeep train`` does (its model, compile, ``steps_per_execution``, class
weights) for ``--steps`` batches after a warm-up, and reports images/s. Two kinds of CPU:

- ``native``: this CPU, precision ``auto`` (what a user gets: bf16 where the CPU has native
  bfloat16) and ``fp32``;
- ``AVX2``: an AVX2-only CPU emulated on this one (precision ``auto``, which is then fp32), every
  backend's kernels capped: ``ONEDNN_MAX_CPU_ISA=AVX2`` (TensorFlow's and PyTorch's oneDNN),
  ``ATEN_CPU_CAPABILITY=avx2`` (PyTorch's own kernels), ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (PyTorch's
  MKL) and ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` (JAX).

A round runs every configuration once, in an order that rotates from round to round; each figure
is divided by TensorFlow's in the same round and CPU setting, and the table gives the median over
rounds and the range. Two measures: images per second of wall time (what a user waits for) and
images per second of CPU time, all threads (user + system) of the process. On a machine shared
with other work the first falls with whatever else runs; the second much less, since time the
process waits for a core is not counted (a backend whose threads spin while they wait pays for it).
Results go to benchmarks/results/backends.json. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from shallowdeep.storage import write_json

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("tensorflow", "torch", "jax")
PRESETS = ("cnn-3", "xray-1")
#: What makes every backend's kernels stop at AVX2 on a CPU that has more.
AVX2_CAPS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
#: (CPU setting, precision) pairs measured on each backend.
SETTINGS = (("native", "auto"), ("native", "fp32"), ("AVX2", "auto"))


def worker(steps: int) -> None:
    """In a process whose backend and caps are set: images/s of each preset, printed as JSON."""
    from shallowdeep.backend import keras, resolve_precision, set_random_seed
    from shallowdeep.experiments import load_experiment
    from shallowdeep.prepare import prepare_data
    from shallowdeep.training import build_model, class_weights, compile_model, targets

    precision = os.environ["BENCHMARK_PRECISION"]
    rows = {}
    for name in PRESETS:
        experiment = load_experiment(name, [f'training.precision="{precision}"'])
        data = prepare_data(experiment, progress=False)
        batch = experiment["training"]["batch_size"]
        count = min(batch * steps, len(data.y_train))
        x, y = data.x_train[:count], targets(data.y_train[:count], experiment, len(data.class_names))
        weights = class_weights(experiment, data.y_train, data.class_names)
        set_random_seed(0)
        model = build_model(experiment)
        compile_model(model, experiment, train_samples=len(data.y_train))
        model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0, class_weight=weights)
        started, cpu_started = time.perf_counter(), time.process_time()  # after the warm-up: tracing, compiling
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, class_weight=weights)
        rows[name] = {"images_per_s": count / (time.perf_counter() - started),
                      "images_per_cpu_s": count / (time.process_time() - cpu_started), "images": count,
                      "precision": resolve_precision(precision).name}
        keras.backend.clear_session()
    print("RESULT " + json.dumps({"backend": keras.backend.backend(), "rows": rows}), flush=True)


def measure(backend: str, cpu: str, precision: str, steps: int) -> dict:
    environment = {key: value for key, value in os.environ.items() if key not in AVX2_CAPS}
    environment.update(KERAS_BACKEND=backend, BENCHMARK_PRECISION=precision, **(AVX2_CAPS if cpu == "AVX2" else {}))
    done = subprocess.run([sys.executable, __file__, "--worker", "--steps", str(steps)], env=environment,
                          capture_output=True, text=True)
    result = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if done.returncode or result is None:
        raise SystemExit(f"{backend} {cpu} {precision} failed:\n{done.stderr[-3000:]}")
    return json.loads(result[len("RESULT "):])["rows"]


def _other_load() -> str:
    """The 1-minute load average and the busiest other processes, to say what ran beside the benchmark."""
    mine = {os.getpid()}  # ps's figures are each process's CPU share over its lifetime
    listing = subprocess.run(["ps", "-eo", "pid,pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout
    rows = [line.split() for line in listing.splitlines()[1:]]
    busy = [" ".join(row[1:]) for row in rows if int(row[0]) not in mine and row[2:] != ["ps"]][:4]
    return f"load average {os.getloadavg()[0]:.2f}; busiest: {', '.join(busy)}"


def _cpu() -> dict:
    from shallowdeep.backend import cpu_features, cpu_name

    return {"name": cpu_name(), "flags": cpu_features(), "cores": os.cpu_count()}


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    reference = result["table"][0]["backend"]
    lines = [f"CPU: {cpu['name']} ({', '.join(cpu['flags'])}), {cpu['cores']} cores; {result['rounds']} rounds of "
             f"{result['steps']} batches. Ratio: images/s over {reference}'s in the same round and CPU setting "
             f"(median, range); {reference}'s own range in images/s.", "",
             f"| preset | CPU | precision | backend | images/s | vs {reference} (range) | images/CPU-s | "
             f"vs {reference} (range) |",
             "|---|---|---|---|---:|---:|---:|---:|"]

    def cell(row, quantity):
        if row["backend"] == reference:
            return f"1 ({row[quantity + '_min']:,.0f}-{row[quantity + '_max']:,.0f})"
        return (f"{row[quantity + '_ratio']:.2f}x ({row[quantity + '_ratio_min']:.2f}-"
                f"{row[quantity + '_ratio_max']:.2f})")

    for row in result["table"]:
        lines.append(f"| {row['preset']} | {row['cpu']} | {row['precision']} | {row['backend']} | "
                     f"{row['images_per_s']:,.0f} | {cell(row, 'images_per_s')} | {row['images_per_cpu_s']:,.0f} | "
                     f"{cell(row, 'images_per_cpu_s')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="batches timed per preset and run")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=BACKENDS,
                        help="which backends (default: all three; TensorFlow is the reference of the ratios)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    backends = [name for name in BACKENDS if name in args.backends and importlib.util.find_spec(name) is not None]
    missing = sorted(set(args.backends) - set(backends))
    if missing:
        print(f"not installed, not measured: {', '.join(missing)} (pip install -e \".[torch,jax]\")")
    configurations = [(backend, cpu, precision) for cpu, precision in SETTINGS for backend in backends]
    started = time.perf_counter()
    runs: list[dict] = []
    beside = []
    for round_index in range(args.rounds):
        shift = round_index % len(configurations)
        for backend, cpu, precision in configurations[shift:] + configurations[:shift]:
            beside.append(_other_load())
            for preset, row in measure(backend, cpu, precision, args.steps).items():
                runs.append({"round": round_index, "backend": backend, "cpu": cpu, "asked": precision,
                             "preset": preset, **row})
                print(f"round {round_index + 1}: {preset:<7} {cpu:<6} {row['precision']:<4} {backend:<10} "
                      f"{row['images_per_s']:8,.0f} images/s {row['images_per_cpu_s']:8,.0f} images/CPU-s", flush=True)
    table = []
    for preset in PRESETS:
        for cpu, precision in SETTINGS:
            same = [run for run in runs if (run["preset"], run["cpu"], run["asked"]) == (preset, cpu, precision)]
            reference = {run["round"]: run for run in same if run["backend"] == backends[0]}
            for backend in backends:
                mine = [run for run in same if run["backend"] == backend]
                row = {"preset": preset, "cpu": cpu, "precision": mine[0]["precision"], "backend": backend}
                for quantity in ("images_per_s", "images_per_cpu_s"):
                    values = [run[quantity] for run in mine]
                    ratios = [run[quantity] / reference[run["round"]][quantity] for run in mine]  # vs the first backend
                    row.update({quantity: statistics.median(values), f"{quantity}_min": min(values),
                                f"{quantity}_max": max(values), f"{quantity}_ratio": statistics.median(ratios),
                                f"{quantity}_ratio_min": min(ratios), f"{quantity}_ratio_max": max(ratios)})
                table.append(row)
    versions = {}
    for name in ("keras", "tensorflow-cpu", "tensorflow", "torch", "jax", "jaxlib"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    result = {"command": "python benchmarks/backends.py " + " ".join(sys.argv[1:]), "cpu": _cpu(),
              "versions": versions, "rounds": args.rounds, "steps": args.steps, "avx2_caps": AVX2_CAPS,
              "seconds": time.perf_counter() - started, "beside": beside, "table": table, "runs": runs}
    out = write_json(RESULTS / "backends.json", result)
    print()
    print(markdown(result))
    print(f"\n(written to {out}; {result['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
