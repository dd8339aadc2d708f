"""Each augmentation of mnist-robust measured one at a time, on MNIST validation and synthdigits.

    python benchmarks/robust.py                       # every variant, 6 epochs of the mnist-fast network
    python benchmarks/robust.py --epochs 3 none blur  # some variants, shorter

A short proxy: the mnist-fast network (two conv blocks, 6 epochs, cosine, bf16 where native)
trained from scratch on MNIST's training set minus its last 10 %, once with no augmentation and
once with each augmentation alone, then with all of them at those strengths, then with what the
mnist-robust preset chose. Each model is scored on the held-out
10 % of MNIST's training set (validation) and on synthdigits in both renderings. MNIST's test set is
never looked at here: it is kept for the full preset, measured once. One seed per variant: on
6,000 validation digits one digit is 0.017 points, and seeds of the same recipe differ by about
0.1 point there; on synthdigits differences under 2 points are within what a seed changes.

Results go to ``benchmarks/results/robust.json`` with the command, the machine and the load
average (the machine may be shared), and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from shallowdeep.version import __version__
from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.evaluation import predict_probabilities
from shallowdeep.experiments import active_augmentations, load_experiment
from shallowdeep.generalisation import evaluate_outside
from shallowdeep.prepare import digit_renderings, prepare_data
from shallowdeep.storage import write_json
from shallowdeep.training import build_model, compile_model, targets

RESULTS = Path(__file__).resolve().parent / "results" / "robust.json"
PROXY = "mnist-fast"
#: Each augmentation alone, at the strength mnist-robust starts from, then all of them together.
VARIANTS = {
    "none": {},
    "affine": {"rotation": 10.0, "zoom": 0.1, "shift": 0.1},
    "shear": {"shear": 20.0},
    "thickness": {"thickness": 1.0},
    "blur": {"blur": 1.5},
    "low_resolution": {"low_resolution": 8},
    "elastic": {"elastic": 34.0, "elastic_sigma": 4.0},
    "all": {"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "shear": 20.0, "thickness": 1.0, "blur": 1.5,
            "low_resolution": 8, "elastic": 34.0, "elastic_sigma": 4.0},
    # Every augmentation that helped synthdigits alone, milder, stacked: a first try at the preset.
    "stacked-mild": {"rotation": 8.0, "zoom": 0.08, "shift": 0.08, "shear": 15.0, "thickness": 0.7, "blur": 1.0,
                     "low_resolution": 12},
    # What the preset chose after the rows above, on the same proxy network.
    "mnist-robust": {key: load_experiment("mnist-robust")["training"]["augmentation"][key]
                     for key in active_augmentations(load_experiment("mnist-robust")["training"]["augmentation"])},
}


def measure(name: str, epochs: int, seed: int, data, digits) -> dict:
    augmentation = VARIANTS[name]
    experiment = load_experiment(PROXY, {"training.epochs": epochs, "training.seed": seed,
                                         **{f"training.augmentation.{k}": v for k, v in augmentation.items()}})
    keras.utils.set_random_seed(seed)
    model = build_model(experiment)
    compile_model(model, experiment, len(data.y_train))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(data.x_train, targets(data.y_train, experiment, 10), batch_size=experiment["training"]["batch_size"],
              epochs=epochs, shuffle=True, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    validation = float(np.mean(predict_probabilities(model, data.x_val).argmax(axis=1) == data.y_val))
    outside = evaluate_outside(model, experiment, digits=digits).metrics["renderings"]
    keras.backend.clear_session()
    return {
        "variant": name, "augmentation": augmentation, "epochs": epochs, "seed": seed, "shallowdeep": __version__,
        "validation_accuracy": validation,
        "synthdigits": {rendering: {"accuracy": result["accuracy"], "by_source": result["by_source"]}
                        for rendering, result in outside.items()},
        "training_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "load_average": os.getloadavg()[0],
    }


def markdown_table(rows: list[dict]) -> str:
    lines = ["| augmentation | MNIST validation | synthdigits fill | centred | strokes | handwriting | typeface | training s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        fill = row["synthdigits"]["fill"]
        sources = [f"{fill['by_source'].get(kind, float('nan')):.3f}" for kind in ("strokes", "handwriting", "typeface")]
        lines.append(f"| {row['variant']} {json.dumps(row['augmentation']) if row['augmentation'] else ''} | "
                     f"{row['validation_accuracy']:.4f} | {fill['accuracy']:.4f} | "
                     f"{row['synthdigits']['centred']['accuracy']:.4f} | " + " | ".join(sources)
                     + f" | {row['training_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help=f"some of {', '.join(VARIANTS)} (default: all of them)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"no variant {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")
    document = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    rows = document.get("rows", {})
    data = prepare_data(load_experiment(PROXY), progress=False)
    digits = digit_renderings()
    for name in args.variants or list(VARIANTS):
        key = f"{name}/epochs{args.epochs}/seed{args.seed}"
        if key in rows and rows[key]["augmentation"] == VARIANTS[name] and rows[key]["shallowdeep"] == __version__:
            print(f"{key}: already measured, skipped", flush=True)
            continue
        rows[key] = measure(name, args.epochs, args.seed, data, digits)
        print(f"{key}: validation {rows[key]['validation_accuracy']:.4f}, synthdigits fill "
              f"{rows[key]['synthdigits']['fill']['accuracy']:.4f}, {rows[key]['training_seconds']:.0f} s", flush=True)
        document.update({"command": "python benchmarks/robust.py " + " ".join(sys.argv[1:] if argv is None else argv),
                         "environment": environment(resolve_precision("auto")), "rows": rows})
        write_json(args.out, document)
    print()
    print(markdown_table([row for key, row in rows.items() if f"/epochs{args.epochs}/seed{args.seed}" in key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
