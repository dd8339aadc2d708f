"""What resuming exactly costs: shallowdeep's per-epoch order of examples against Keras' shuffle.

    python benchmarks/epoch_order.py                 # raw-2 and xray-1, 3 epochs, 4 pairs
    python benchmarks/epoch_order.py cnn-3 --pairs 2

To resume into the run that would have been, shallowdeep draws each epoch's order from
(seed, epoch) and calls ``fit`` once per epoch on the examples in that order (a permuted copy of
the training arrays), instead of one ``fit(shuffle=True)`` whose shuffling generator a restart
would lose. This times both on the same model and arrays, in alternating pairs (so that the
machine's drift cancels), and prints the median ratio of seconds per epoch. The memory that the
permuted copy adds shows in the whole lab's peak resident memory (``benchmarks/run.py``).
Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

from shallowdeep.backend import cpu_name, keras
from shallowdeep.experiments import load_experiment
from shallowdeep.prepare import prepare_data
from shallowdeep.training import build_model, class_weights, compile_model, epoch_order, targets


def measure(name: str, epochs: int, pairs: int) -> dict:
    experiment = load_experiment(name, precision="fp32")
    data = prepare_data(experiment, progress=False)
    batch = experiment["training"]["batch_size"]
    x, y = data.x_train, targets(data.y_train, experiment, len(data.class_names))
    weights = class_weights(experiment, data.y_train, data.class_names)
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=len(x))
    model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0, class_weight=weights)

    def keras_shuffle() -> float:
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, class_weight=weights)
        return (time.perf_counter() - started) / epochs

    def ordered() -> float:
        started = time.perf_counter()
        for epoch in range(epochs):
            order = epoch_order(len(y), 0, epoch)
            model.fit(x[order], y[order], batch_size=batch, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                      verbose=0, class_weight=weights)
        return (time.perf_counter() - started) / epochs

    ratios, seconds = [], {"keras_shuffle": [], "per_epoch_order": []}
    for pair in range(pairs):
        first, second = (keras_shuffle, ordered) if pair % 2 == 0 else (ordered, keras_shuffle)
        a, b = first(), second()
        shuffle_s, ordered_s = (a, b) if first is keras_shuffle else (b, a)
        seconds["keras_shuffle"].append(shuffle_s)
        seconds["per_epoch_order"].append(ordered_s)
        ratios.append(ordered_s / shuffle_s)
    keras.backend.clear_session()
    return {"preset": name, "train_bytes": int(x.nbytes), "ratio": statistics.median(ratios),
            "ratios": ratios, **{k: statistics.median(v) for k, v in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", default=["raw-2", "xray-1"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; fp32; {args.epochs} epochs per fit, {args.pairs} alternating pairs\n")
    print("| preset | training arrays | Keras shuffle (s/epoch) | per-epoch order (s/epoch) | ratio, median | ratios |")
    print("|---|---:|---:|---:|---:|---|")
    for name in args.presets:
        row = measure(name, args.epochs, args.pairs)
        print(f"| {name} | {row['train_bytes'] / 2**20:.0f} MiB | {row['keras_shuffle']:.2f} | {row['per_epoch_order']:.2f} "
              f"| {row['ratio']:.3f} | {', '.join(f'{r:.2f}' for r in row['ratios'])} |", flush=True)


if __name__ == "__main__":
    main()
