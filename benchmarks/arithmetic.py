"""The arithmetic of each seed experiment, and the rate at which a measured lab ran it.

    python benchmarks/arithmetic.py                                  # the seed suite's floating-point operations
    python benchmarks/arithmetic.py --lab benchmarks/results/lab-zen4.json   # and the rate of each experiment's passes

Counts the multiply-adds of the ``Conv2D`` and ``Dense`` layers; the rest (pooling, activations,
dropout, the optimizer's update) is a few operations per activation or weight, well under 1 % of
these models' arithmetic. A training example costs its forward pass, the gradient of every layer's
weights (as many multiply-adds again) and the gradient of every layer's input but the first
layer's (as many again); a validation example costs its forward pass. One multiply-add is two
floating-point operations. The examples come from the dataset's splits
(:func:`shallowdeep.estimates.split_sizes`) and the preset's epochs. With ``--lab`` (a result of
``benchmarks/gpu.py``), each experiment's rate: its operations over the seconds of its passes over
the data (``phase_seconds.passes``: the compiled training and validation steps), and what the
whole lab's arithmetic would take at the fastest of those rates. Nothing is trained here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def multiply_adds(model) -> tuple[int, int]:
    """One example's multiply-adds in the forward pass, and those of the first layer alone."""
    counts = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            height, width, channels_out = layer.output.shape[1:]
            kernel_height, kernel_width = layer.kernel_size
            counts.append(height * width * channels_out * kernel_height * kernel_width * layer.input.shape[-1])
        elif kind == "Dense":
            counts.append(layer.input.shape[-1] * layer.units)
    return sum(counts), counts[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", type=Path, help="a benchmarks/gpu.py result, e.g. benchmarks/results/lab-zen4.json")
    arguments = parser.parse_args()

    from shallowdeep.estimates import split_sizes
    from shallowdeep.experiments import load_experiment, suite_members
    from shallowdeep.training import build_model

    passes, where = {}, ""
    if arguments.lab is not None:
        path = arguments.lab if arguments.lab.exists() else HERE / arguments.lab  # or under benchmarks/
        try:
            lab = json.loads(path.read_text())["backends"][0]
        except (OSError, ValueError, KeyError, IndexError) as error:
            raise SystemExit(f"{path}: not a benchmarks/gpu.py result ({error}); run benchmarks/gpu.py first")
        passes = {row["experiment"]: row["phase_seconds"]["passes"]
                  for row in lab["experiments"] if row.get("phase_seconds", {}).get("passes")}
        where = f" ({lab['backend']} {lab['version']}, {lab['precision']}, {lab['device']}, {path.name})"

    rows, total = [], 0.0
    for name in suite_members("seed"):
        experiment = load_experiment(name)
        forward, first = multiply_adds(build_model(experiment))
        train, validation, _ = split_sizes(experiment)
        epochs = experiment["training"]["epochs"]
        operations = 2 * ((3 * forward - first) * train + forward * validation) * epochs
        total += operations
        rows.append((name, 2 * forward / 1e6, operations / 1e12, passes.get(name)))

    print(f"| experiment | forward MFLOP an example | TFLOP (training and validation) | seconds in passes{where} | GFLOP/s |")
    print("|---|---:|---:|---:|---:|")
    for name, forward, tera, seconds in rows:
        rate = f"{tera * 1e3 / seconds:.0f}" if seconds else "-"
        print(f"| {name} | {forward:.2f} | {tera:.2f} | {f'{seconds:.1f}' if seconds else '-'} | {rate} |")
    print(f"\nThe seed lab's arithmetic: {total / 1e12:.1f} TFLOP.")
    rates = [tera * 1e12 / seconds for _, _, tera, seconds in rows if seconds]
    if rates:
        print(f"At its fastest experiment's rate ({max(rates) / 1e9:.0f} GFLOP/s{where}) it would take "
              f"{total / max(rates):.0f} s; the passes took {sum(passes.values()):.0f} s.")


if __name__ == "__main__":
    main()
