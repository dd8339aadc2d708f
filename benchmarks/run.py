"""What the lab costs, measured side by side in one run on this machine.

    python benchmarks/run.py            # everything, full length (about 14 minutes on 2 cores)
    python benchmarks/run.py --quick    # the same measurements, shorter (a few minutes)

1. Overhead: training throughput (images/s over a fixed number of steps, after a warm-up) of
   each seed preset through shallowdeep (its model, compile and per-epoch checkpoint) against the
   same model written as the lab wrote it in plain Keras (benchmarks/lab_keras.py), on the same
   arrays in memory. Runs alternate and the median of each side is kept.
2. Distance to the hardware: training FLOPs per image of cnn-3 and xray-1 counted from their
   layers (3 x the forward FLOPs), the FLOP/s they achieve, and this machine's peak measured here
   with large matrix multiplies, in fp32 and bf16.
3. HOG: shallowdeep's batched HOG against the scikit-image loop (benchmarks/hog.py).
4. The whole lab: wall time and peak memory (RSS) of `shallowdeep lab --quick` and of the full
   `shallowdeep lab --precision bf16`, each in a fresh process and a fresh folder.

Every figure says what it was compared with. Results go to benchmarks/results/run.json (or
run-quick.json) and a Markdown table is printed at the end. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shallowdeep.backend import Precision, environment, keras, resolve_precision, set_random_seed  # noqa: E402

from hog import time_ours, time_skimage  # noqa: E402
from lab_keras import lab_model  # noqa: E402
from shallowdeep.data import load_mnist  # noqa: E402
from shallowdeep.experiments import load_experiment, suite_members  # noqa: E402
from shallowdeep.prepare import prepare_data  # noqa: E402
from shallowdeep.runs import Run  # noqa: E402
from shallowdeep.storage import write_json  # noqa: E402
from shallowdeep.training import build_model, class_weights, compile_model, epoch_plan, random_state, targets  # noqa: E402
from shallowdeep.epochs import epoch_runner  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


# -- 1. overhead ------------------------------------------------------------------------------------

_RUNNERS: dict = {}


def _images_per_second(model, x, y, batch: int, steps: int, class_weight, run: Run | None = None) -> float:
    """Plain Keras' ``fit``; with ``run``, the epoch as shallowdeep trains it (the compiled loop of
    shallowdeep.epochs, one batch per call as plain Keras does by default) and its checkpoint."""
    count = min(batch * steps, len(x))
    if run is not None and (id(model), count) not in _RUNNERS:  # built and traced once, as a run does
        labels = y[:count].argmax(-1) if y.shape[1] > 1 else y[:count, 0].astype(int)
        sample_weight = None if class_weight is None else np.array([class_weight[c] for c in labels], np.float32)
        _RUNNERS[id(model), count] = epoch_runner(model, x[:count], y[:count], sample_weight, x[:batch], y[:batch],
                                                  batch_size=batch, steps_per_call=1)
    start = time.perf_counter()
    if run is None:
        model.fit(x[:count], y[:count], batch_size=batch, epochs=1, verbose=0, shuffle=True, class_weight=class_weight)
    else:
        _RUNNERS[id(model), count].train_epoch(epoch_plan(count, 0, 0))
        run.save_checkpoint(model, [{"epoch": 1}], random_state=random_state(model))
    return count / (time.perf_counter() - start)


def measure_training(name: str, precision: str, steps: int | None, repeats: int, with_plain: bool,
                     data_cache: dict) -> dict:
    """Images/s of one preset through shallowdeep and (optionally) through plain lab-style Keras,
    over ``steps`` batches (``None``: one whole epoch, as a user trains it)."""
    # One step per call, as plain Keras does by default: this measures what the toolkit adds, not
    # its faster default (steps_per_execution = 128, measured separately in the lab's time).
    experiment = load_experiment(name, [f'training.precision="{precision}"', "training.steps_per_execution=1"])
    key = (experiment["dataset"]["name"], json.dumps(experiment["features"], sort_keys=True))
    if key not in data_cache:
        data_cache[key] = prepare_data(experiment, progress=False)
    data = data_cache[key]
    batch = experiment["training"]["batch_size"]
    classes = len(data.class_names)
    x, y = data.x_train, targets(data.y_train, experiment, classes)
    weights = class_weights(experiment, data.y_train, data.class_names)
    steps = steps or len(x) // batch

    set_random_seed(0)
    ours = build_model(experiment)
    compile_model(ours, experiment, train_samples=len(x))
    contenders = {}
    if with_plain:
        contenders["plain_keras"] = lab_model(name)
        assert contenders["plain_keras"].count_params() == ours.count_params(), name
    contenders["shallowdeep"] = ours
    with tempfile.TemporaryDirectory() as runs_dir:
        run = Run.create(runs_dir, experiment, environment(resolve_precision(precision)))
        for model in contenders.values():  # warm-up: tracing and the first allocations
            _images_per_second(model, x, y, batch, 5, weights)
        speeds: dict[str, list[float]] = {label: [] for label in contenders}
        for repeat in range(repeats):
            # Alternate which side goes first: the second run of a pair finds the memory the first
            # one freed, which favours it when an epoch copies a large array.
            order = list(contenders.items())
            for label, model in order if repeat % 2 == 0 else reversed(order):
                speeds[label].append(_images_per_second(model, x, y, batch, steps, weights,
                                                        run if label == "shallowdeep" else None))
    result = {"preset": name, "precision": precision, "batch_size": batch, "steps": steps, "repeats": repeats,
              "params": int(ours.count_params())}
    for label, values in speeds.items():
        result[f"{label}_images_per_s"] = statistics.median(values)
        result[f"{label}_runs"] = values
    if with_plain:
        # Each shallowdeep run is compared with the plain run beside it, so that the machine's slow
        # drifts (other tenants) cancel; the median of those ratios is the overhead.
        ratios = [plain / ours for plain, ours in zip(speeds["plain_keras"], speeds["shallowdeep"])]
        result["overhead"] = statistics.median(ratios) - 1.0
        result["overhead_runs"] = [ratio - 1.0 for ratio in ratios]
    result["model"] = ours
    return result


# -- 2. FLOPs and peak ---------------------------------------------------------------------------------

def forward_flops(model) -> int:
    """Multiply-adds x 2 of the Conv2D and Dense layers for one image (plus their bias adds)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k_h, k_w, c_in, c_out = layer.kernel.shape
            _, height, width, _ = layer.output.shape
            total += (2 * k_h * k_w * c_in + 1) * c_out * height * width
        elif isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.kernel.shape
            total += (2 * n_in + 1) * n_out
    return int(total)


def peak_flops(dtype: str, size: int = 4096, seconds: float = 3.0) -> float:
    """FLOP/s of repeated size x size matrix multiplies in ``dtype`` (best of the timed runs), on
    whichever Keras backend is loaded. Reading one element back waits for the product (JAX
    dispatches asynchronously) without timing a copy of it."""
    ops = keras.ops
    a = keras.random.normal((size, size), dtype="float32", seed=0)
    a, b = ops.cast(a, dtype), ops.cast(ops.transpose(a), dtype)

    def multiply():
        ops.convert_to_numpy(ops.cast(ops.matmul(a, b)[0, 0], "float32"))

    multiply()
    best, spent = 0.0, 0.0
    while spent < seconds:
        start = time.perf_counter()
        multiply()
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, 2 * size**3 / elapsed)
    return best


# -- 4. the whole lab ------------------------------------------------------------------------------------

def _memory_kib(pid: int) -> dict[str, int]:
    """The process's current and peak RSS (VmRSS, VmHWM) in KiB; empty once it is gone.
    (getrusage's ru_maxrss of a child would also count the pages it shared with this large
    process between fork and exec.)"""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) for line in lines if line.startswith(("VmRSS:", "VmHWM:"))}


_STARTED = re.compile(r"^\[\d+/\d+\] (\S+): (training|reusing)")


def measure_lab(arguments: list[str]) -> dict:
    """Wall time and peak RSS of one `shallowdeep lab ...` in a fresh process and folder, with each
    experiment's training time and the largest RSS seen while it ran (which one sets the peak)."""
    command = Path(sys.executable).with_name("shallowdeep")
    rss_by_experiment: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryFile("w+") as log:
        full = [str(command), "lab", "--out", out, "--no-progress", *arguments]
        start = time.perf_counter()
        process = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT, text=True)
        peak, current = 0, "start-up"
        while process.poll() is None:
            memory = _memory_kib(process.pid)
            peak = max(peak, memory.get("VmHWM", 0))
            log.seek(0)
            for line in log.read().splitlines():
                match = _STARTED.match(line)
                if match:
                    current = match.group(1)
            rss_by_experiment[current] = max(rss_by_experiment.get(current, 0.0), memory.get("VmRSS", 0) / 2**20)
            time.sleep(0.2)
        wall = time.perf_counter() - start
        log.seek(0)
        output = log.read()
        report = (Path(out) / "report.md").is_file()
        training = {path.parent.parent.name: json.loads(path.read_text())["training_seconds"]
                    for path in Path(out).glob("runs*/*/*/metrics.json")}
    return {"command": "shallowdeep lab " + " ".join(arguments), "exit_code": process.returncode,
            "wall_s": wall, "peak_rss_gib": peak / 2**20, "report_written": report,
            "training_seconds": training, "rss_gib_while_running": rss_by_experiment,
            "tail": output.strip().splitlines()[-2:]}


# -- report ----------------------------------------------------------------------------------------------

def markdown(result: dict) -> str:
    lines = ["## 1. Overhead: shallowdeep against the lab's plain Keras script (same model, data, backend)", "",
             "| preset | params | batch | steps | plain Keras (img/s) | shallowdeep (img/s) | overhead (median of paired runs) | range |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in result["overhead"]:
        lines.append(f"| {row['preset']} | {row['params']:,} | {row['batch_size']} | {row['steps']} | "
                     f"{row['plain_keras_images_per_s']:,.0f} | "
                     f"{row['shallowdeep_images_per_s']:,.0f} | {100 * row['overhead']:+.1f} % | "
                     f"{100 * min(row['overhead_runs']):+.0f} to {100 * max(row['overhead_runs']):+.0f} % |")
    hardware = result["hardware"]
    lines += ["", "## 2. Distance to the hardware (peak = large matmul measured in this run)", "",
              f"Peak fp32 {hardware['peak_fp32_gflops']:,.0f} GFLOP/s, peak bf16 {hardware['peak_bf16_gflops']:,.0f} GFLOP/s.", "",
              "| model | training GFLOP / image | precision | img/s | achieved GFLOP/s | share of peak (same precision) | speed-up over fp32 |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for row in hardware["models"]:
        lines.append(f"| {row['preset']} | {row['training_gflops_per_image']:.4f} | {row['precision']} | "
                     f"{row['images_per_s']:,.0f} | {row['achieved_gflops']:,.1f} | {100 * row['share_of_peak']:.1f} % | "
                     f"{row['speedup_over_fp32']:.2f}x |")
    hog = result["hog"]
    lines += ["", "## 3. HOG: shallowdeep against the scikit-image loop (same numbers)", "",
              f"{hog['images']:,} MNIST images, p=4, o=8: shallowdeep {hog['shallowdeep_s']:.3f} s, "
              f"scikit-image loop {hog['skimage_loop_s']:.1f} s: {hog['speedup']:.1f}x.", "",
              "## 4. The whole lab (fresh process, fresh folder)", "",
              "| command | wall time | peak RSS | exit |", "|---|---:|---:|---:|"]
    for row in result["lab"]:
        lines.append(f"| `{row['command']}` | {row['wall_s'] / 60:.1f} min ({row['wall_s']:.0f} s) | "
                     f"{row['peak_rss_gib']:.2f} GiB | {row['exit_code']} |")
    for row in result["lab"]:
        lines += ["", f"`{row['command']}`, experiment by experiment:", "",
                  "| experiment | training (s) | largest RSS while it ran |", "|---|---:|---:|"]
        for name, rss in row["rss_gib_while_running"].items():
            seconds = row["training_seconds"].get(name)
            lines.append(f"| {name} | {'–' if seconds is None else f'{seconds:.1f}'} | {rss:.2f} GiB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and images, the quick lab only")
    args = parser.parse_args()
    # Whole epochs for the MLPs (a fraction of a second each: the per-epoch checkpoint is part
    # of what a user pays), a fixed number of steps for the CNNs.
    repeats = 3 if args.quick else 7
    cnn_steps = 30 if args.quick else 60
    started = time.perf_counter()
    data_cache: dict = {}

    print("1/4 overhead against plain Keras ...", flush=True)
    overhead = []
    for name in suite_members("seed"):
        image_model = load_experiment(name)["features"]["kind"] == "image"
        steps = cnn_steps if image_model else (40 if args.quick else None)
        row = measure_training(name, "fp32", steps, repeats, True, data_cache)
        row.pop("model")
        overhead.append(row)
        print(f"    {name}: {100 * row['overhead']:+.1f} %", flush=True)

    print("2/4 FLOPs and peak ...", flush=True)
    peak = {"fp32": peak_flops("float32"), "bf16": peak_flops("bfloat16")}
    models = []
    for name in ("cnn-3", "xray-1"):
        speeds = {}
        for precision in ("fp32", "bf16"):
            row = measure_training(name, precision, cnn_steps, 3, False, data_cache)
            flops = 3 * forward_flops(row.pop("model"))
            speeds[precision] = row["shallowdeep_images_per_s"]
            models.append({"preset": name, "precision": precision, "training_gflops_per_image": flops / 1e9,
                           "images_per_s": speeds[precision], "achieved_gflops": flops * speeds[precision] / 1e9,
                           "share_of_peak": flops * speeds[precision] / peak[precision],
                           "speedup_over_fp32": speeds[precision] / speeds["fp32"]})
    hardware = {"peak_fp32_gflops": peak["fp32"] / 1e9, "peak_bf16_gflops": peak["bf16"] / 1e9,
                "flops_convention": "training = 3 x forward; forward counts Conv2D and Dense multiply-adds x 2 plus bias adds",
                "models": models}

    print("3/4 HOG ...", flush=True)
    (x_train, _), (x_test, _) = load_mnist()
    images = np.concatenate([x_train, x_test])[: 5000 if args.quick else None]
    ours, reference = time_ours(images, 8, 4), time_skimage(images, 8, 4)
    hog = {"images": len(images), "shallowdeep_s": ours, "skimage_loop_s": reference, "speedup": reference / ours}

    print("4/4 the whole lab ...", flush=True)
    lab = [measure_lab(["--quick"])]
    if not args.quick:
        lab.append(measure_lab(["--precision", "bf16"]))

    result = {
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "environment": environment(Precision("fp32 and bf16", "both measured")),
        "seconds": time.perf_counter() - started,
        "overhead": overhead, "hardware": hardware, "hog": hog, "lab": lab,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    out = write_json(RESULTS / ("run-quick.json" if args.quick else "run.json"), result)
    print()
    print(markdown(result))
    print(f"\n(written to {out}; {result['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
