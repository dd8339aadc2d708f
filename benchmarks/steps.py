"""Training steps per second of each seed experiment, before and after the compiled epoch loop, on
every Keras backend installed here.

    python benchmarks/steps.py                                  # every installed backend, the seed presets
    python benchmarks/steps.py --backends jax torch --presets raw-2 cnn-3 --pairs 5

"before" is how shallowdeep trained up to 0.3: Keras' ``fit`` once per epoch (so that each epoch's
order comes from (seed, epoch)), on a permuted copy of the training arrays, with its validation.
"after" is :mod:`shallowdeep.epochs`: the arrays on the device once, the epoch's order as indices,
``steps_per_execution`` batches per compiled call (one on PyTorch), then the validation pass.
On TensorFlow two more ways time the same loop with the optimizer's update compiled with XLA
(``compile_update=True``) and with Keras' own update (``False``), whatever the model's size
("after" compiles it from ``COMPILED_UPDATE_MIN_WEIGHTS`` weights). Where the experiment's
features are its pixels scaled, two more ways train on uint8 pixels, as the lab does, each batch
turned into features on the device by a division (``pixels_divided``) or through a table of the
256 values (``pixels_looked_up``), both whatever the backend's runner does by default
(TensorFlow and PyTorch divide, JAX looks up). All train the experiment's own model (its
builder, compile, batch size, class weights, precision ``auto``) on random inputs of its input
shape (the arithmetic does not depend on the pixels), ``--examples`` training and a tenth as
many validation examples, one epoch per timing, after a warm-up epoch each (tracing,
compiling). Timings come in pairs whose order alternates, so that the machine's drift cancels:
a ratio is the median over pairs of before / after seconds.
Each backend runs in a fresh process (Keras loads one). Results: ``results/steps.json``
(``--output``), and a Markdown table on stdout. Timings are never asserted in tests.
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
from collections.abc import Callable
from pathlib import Path

from shallowdeep.storage import write_json

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("tensorflow", "torch", "jax")
SEED_PRESETS = ("raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3", "cnn-1", "cnn-2", "cnn-3", "xray-1")


def worker(presets: list[str], examples: int, pairs: int) -> list[dict]:
    """In a process whose backend is set: both ways side by side for each preset."""
    import numpy as np

    from shallowdeep.backend import keras, resolve_precision, set_random_seed
    from shallowdeep.epochs import epoch_runner
    from shallowdeep.experiments import load_experiment
    from shallowdeep.prepare import training_divisor
    from shallowdeep.training import build_model, class_weights, compile_model, epoch_plan, targets

    rows = []
    for name in presets:
        experiment = load_experiment(name)
        training = experiment["training"]
        batch, classes = training["batch_size"], len(experiment.class_names)
        rng = np.random.default_rng(0)
        x = rng.random((examples, *experiment.input_shape), dtype=np.float32)
        labels = rng.integers(0, classes, examples)
        y = targets(labels, experiment, classes)
        validation = max(examples // 10, 1)
        x_val, y_val = x[:validation].copy(), y[:validation].copy()
        weights = class_weights(experiment, labels, experiment.class_names)
        per_example = None if weights is None else np.array([weights[c] for c in labels], dtype=np.float32)

        def model():
            set_random_seed(0)
            built = build_model(experiment)
            compile_model(built, experiment, train_samples=examples)
            return built

        before_model = model()
        epoch = [0]

        def before() -> None:  # shallowdeep <= 0.3: fit per epoch on a permuted copy
            order = epoch_plan(examples, 0, epoch[0]).order
            before_model.fit(x[order], y[order], batch_size=batch, epochs=epoch[0] + 1, initial_epoch=epoch[0],
                             validation_data=(x_val, y_val), class_weight=weights, shuffle=False, verbose=0)
            epoch[0] += 1

        def an_epoch(loop) -> Callable[[], None]:
            def way() -> None:
                loop.train_epoch(epoch_plan(examples, 0, epoch[0]))
                loop.validate()
            return way

        runner = epoch_runner(model(), x, y, per_example, x_val, y_val, batch_size=batch,
                              steps_per_call=training["steps_per_execution"])
        ways = {"before": before, "after": an_epoch(runner)}
        if keras.backend.backend() == "tensorflow":  # the optimizer's update compiled, and Keras' own
            for label, compiled in (("after_compiled_update", True), ("after_own_update", False)):
                ways[label] = an_epoch(epoch_runner(model(), x, y, per_example, x_val, y_val, batch_size=batch,
                                                    steps_per_call=training["steps_per_execution"],
                                                    compile_update=compiled))
        divisor = training_divisor(experiment)
        if divisor is not None:  # the lab's inputs: uint8 pixels, features made batch by batch
            pixels = rng.integers(0, 256, x.shape, dtype=np.uint8)
            for label, looks_up in (("pixels_divided", False), ("pixels_looked_up", True)):
                forced = type(type(runner).__name__, (type(runner),), {"looks_up_pixels": looks_up})
                ways[label] = an_epoch(forced(model(), pixels, y, per_example, x_val, y_val, batch_size=batch,
                                              steps_per_call=training["steps_per_execution"], divide_by=divisor))

        def timed(call) -> float:
            started = time.perf_counter()
            call()
            return time.perf_counter() - started

        warm = {label: timed(call) for label, call in ways.items()}
        seconds: dict[str, list[float]] = {label: [] for label in ways}
        for pair in range(pairs):
            for label, call in list(ways.items())[:: 1 if pair % 2 == 0 else -1]:
                seconds[label].append(timed(call))
        steps = runner.batches
        rows.append({
            "preset": name, "backend": keras.backend.backend(), "precision": resolve_precision("auto").name,
            "batch_size": batch, "steps_per_epoch": steps, "examples": examples,
            "first_epoch_seconds": warm,
            **{f"steps_per_s_{label}": steps / statistics.median(seconds[label]) for label in ways},
            "speedup": statistics.median(b / a for b, a in zip(seconds["before"], seconds["after"])),
            **({"speedup_of_compiled_update": statistics.median(
                o / c for o, c in zip(seconds["after_own_update"], seconds["after_compiled_update"]))}
               if "after_own_update" in ways else {}),
            **({"speedup_of_dividing": statistics.median(
                lookup / divided for lookup, divided in zip(seconds["pixels_looked_up"], seconds["pixels_divided"]))}
               if "pixels_divided" in ways else {}),
            "seconds": seconds,
        })
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "seconds"}), file=sys.stderr, flush=True)
        keras.backend.clear_session()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=[b for b in BACKENDS if importlib.util.find_spec(b)])
    parser.add_argument("--presets", nargs="+", default=list(SEED_PRESETS))
    parser.add_argument("--examples", type=int, default=12_800, help="training examples per epoch (default 12800)")
    parser.add_argument("--pairs", type=int, default=3, help="timed (before, after) pairs per preset (default 3)")
    parser.add_argument("--output", default="steps.json", help="file name under benchmarks/results (default steps.json)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps(worker(arguments.presets, arguments.examples, arguments.pairs)))
        return

    from shallowdeep.backend import cpu_features, cpu_name  # after the workers' choice of backend: the default
    from shallowdeep.version import __version__

    started = time.perf_counter()
    rows = []
    for backend in arguments.backends:
        done = subprocess.run([sys.executable, __file__, "--worker", "--presets", *arguments.presets,
                               "--examples", str(arguments.examples), "--pairs", str(arguments.pairs)],
                              env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{backend}: {done.stderr[-3000:]}")
        rows += json.loads(done.stdout.splitlines()[-1])
    versions = {}
    for name in ("keras", "tensorflow-cpu", "tensorflow", "torch", "jax"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    result = {"command": " ".join(["python", "benchmarks/steps.py", *sys.argv[1:]]), "shallowdeep": __version__,
              "cpu": cpu_name(), "cpu_features": cpu_features(), "cpu_count": os.cpu_count(), "versions": versions,
              "seconds": time.perf_counter() - started, "rows": rows}
    write_json(RESULTS / arguments.output, result)
    print(f"{cpu_name()} ({', '.join(cpu_features()).upper()}), {os.cpu_count()} cores; {arguments.examples} examples per epoch, "
          f"median of {arguments.pairs} pairs\n")
    print("| preset | backend | precision | batch | steps/s before | steps/s after | speed-up "
          "| steps/s, update compiled | steps/s, Keras' own update | compiled update's speed-up "
          "| steps/s, pixels divided | steps/s, pixels looked up | dividing's speed-up |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        own = (f"{row['steps_per_s_after_compiled_update']:.0f} | {row['steps_per_s_after_own_update']:.0f} | "
               f"{row['speedup_of_compiled_update']:.2f}x" if "speedup_of_compiled_update" in row else "- | - | -")
        pixels = (f"{row['steps_per_s_pixels_divided']:.0f} | {row['steps_per_s_pixels_looked_up']:.0f} | "
                  f"{row['speedup_of_dividing']:.2f}x" if "speedup_of_dividing" in row else "- | - | -")
        print(f"| {row['preset']} | {row['backend']} | {row['precision']} | {row['batch_size']} | "
              f"{row['steps_per_s_before']:.0f} | {row['steps_per_s_after']:.0f} | {row['speedup']:.2f}x | {own} | {pixels} |")


if __name__ == "__main__":
    main()
