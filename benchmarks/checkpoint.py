"""What the per-epoch checkpoint costs, measured directly instead of as a difference of two noisy runs.

    python benchmarks/checkpoint.py             # the seed presets
    python benchmarks/checkpoint.py raw-1 cnn-3

The checkpoint (model, optimizer state, history and state file, written after every epoch so that
an interrupted run can resume) is the one thing shallowdeep's training adds to Keras' own ``fit``
of the same model. For each preset this times one whole training epoch on the full training set
(without checkpoint) and the checkpoint itself (median of 10 writes), and prints the checkpoint's
share of an epoch. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.experiments import load_experiment, suite_members
from shallowdeep.prepare import prepare_data
from shallowdeep.runs import Run
from shallowdeep.training import build_model, compile_model, targets


def measure(name: str) -> dict:
    experiment = load_experiment(name)
    data = prepare_data(experiment, progress=False)
    batch = experiment["training"]["batch_size"]
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=len(data.y_train))
    y = targets(data.y_train, experiment, len(data.class_names))
    model.fit(data.x_train[: batch * 8], y[: batch * 8], batch_size=batch, epochs=1, verbose=0)  # warm-up
    started = time.perf_counter()
    model.fit(data.x_train, y, batch_size=batch, epochs=1, verbose=0)
    epoch = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        run = Run.create(folder, experiment, environment(resolve_precision(experiment["training"]["precision"])))
        history, writes = [], []
        for index in range(12):
            history.append({"epoch": index + 1, "loss": 0.0, "seconds": epoch})
            started = time.perf_counter()
            run.save_checkpoint(model, history)
            writes.append(time.perf_counter() - started)
    keras.backend.clear_session()
    checkpoint = statistics.median(writes[2:])
    return {"preset": name, "epoch_s": epoch, "checkpoint_s": checkpoint, "share": checkpoint / epoch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", help="presets (default: the seed suite)")
    names = parser.parse_args().presets or suite_members("seed")
    print("| preset | one epoch (s) | checkpoint (ms) | checkpoint / epoch |")
    print("|---|---:|---:|---:|")
    for name in names:
        row = measure(name)
        print(f"| {name} | {row['epoch_s']:.2f} | {1000 * row['checkpoint_s']:.0f} | {100 * row['share']:.1f} % |",
              flush=True)


if __name__ == "__main__":
    main()
