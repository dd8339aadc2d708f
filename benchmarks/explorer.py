"""How fast the explorer's MNIST runs answer a drawing, measured side by side in one process.

    python benchmarks/explorer.py                      # the nine MNIST runs of the seed suite, trained tiny here
    python benchmarks/explorer.py --runs lab-report    # the runs of a lab you already have

The explorer must answer a drawing with every MNIST run in under 50 ms on 2 CPU cores. The time
depends on the models' shapes, not on how well they were trained, so by default the seed suite's
nine MNIST presets (raw-1..3, hog-1..3, cnn-1..3) are trained for one epoch on 600 images in a
temporary folder. One drawing (a real MNIST test digit, enlarged, dark on white) is then answered
many times, in rounds, each way in turn:

- ``eager``: each model called directly, ``model(x, training=False)``, one after the other (on
  features computed beforehand);
- ``predict_on_batch``: each model's compiled prediction function, one after the other (same);
- ``joined``: what the explorer does, all models in one Keras model with one input per kind of
  feature, one compiled call (features included: HOG, scaling);
- ``request``: the whole ``POST /api/digit`` to a real server on 127.0.0.1 (PNG decoding, MNIST's
  normalisation, features, models, JSON), and the same with the insides of cnn-3 (feature maps).

Medians and 90th percentiles in milliseconds are printed as a Markdown table with the CPU, and
written to benchmarks/results/explorer.json.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from shallowdeep.backend import cpu_features, cpu_name, keras
from shallowdeep.data import load_mnist
from shallowdeep.experiments import load_experiment, suite_members
from shallowdeep.explorer import BackgroundServer, create_app, find_runs
from shallowdeep.features.digits import normalise_digit
from shallowdeep.prepare import features_from_images
from shallowdeep.storage import write_json
from shallowdeep.training import train
from shallowdeep.version import __version__

RESULTS = Path(__file__).parent / "results" / "explorer.json"
BUDGET_MS = 50.0


def tiny_runs(folder: Path, data_dir: str | None) -> Path:
    for name in suite_members("seed"):
        experiment = load_experiment(name)
        if experiment.dataset == "mnist":
            train(experiment.with_settings(train_limit=600, test_limit=200, epochs=1), runs_dir=folder,
                  data_dir=data_dir, progress=False)
    return folder


def drawing(data_dir: str | None) -> bytes:
    """MNIST's first test digit as someone would draw it: dark on white, ten times larger."""
    _, (x_test, _) = load_mnist(data_dir, progress=False)
    page = 255 - np.asarray(Image.fromarray(x_test[0]).resize((280, 280), Image.Resampling.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", help="run folders, folders of runs or lab report folders")
    parser.add_argument("--rounds", type=int, default=100, help="answers per way of calling (default: 100)")
    parser.add_argument("--data-dir", help="data directory (default: $SHALLOWDEEP_DATA)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        runs = find_runs(args.runs) if args.runs else find_runs([tiny_runs(Path(scratch), args.data_dir)])
        started = time.perf_counter()
        app = create_app(runs, data_dir=args.data_dir)
        startup_s = time.perf_counter() - started
        digits = app.state.explorer.digits
        names = [entry.run.name for entry in digits.entries]
        precisions = sorted({entry.run.environment.get("precision", "?") for entry in digits.entries})
        models = [entry.run.model for entry in digits.entries]
        png = drawing(args.data_dir)
        seen = normalise_digit(np.asarray(Image.open(io.BytesIO(png)).convert("L"))).image
        features = [features_from_images(seen[None], entry.run.experiment) for entry in digits.entries]
        cnns = [entry for entry in digits.entries if entry.run.experiment.features == "image"]
        inside = max(cnns, key=lambda entry: entry.run.model.count_params()).key  # the largest CNN's maps

        with BackgroundServer(app) as server:
            ways = {
                "eager": lambda: [keras.ops.convert_to_numpy(m(x, training=False)) for m, x in zip(models, features)],
                "predict_on_batch": lambda: [m.predict_on_batch(x) for m, x in zip(models, features)],
                "joined": lambda: digits.read(seen),
                "request": lambda: post(server.url + "api/digit", png),
                f"request with {inside}'s insides": lambda: post(server.url + f"api/digit?inside={inside}", png),
            }
            for call in ways.values():  # warm-up: compilation, connection, caches
                for _ in range(3):
                    call()
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.rounds):  # in turns, so that the machine's drifts fall on every way alike
                for name, call in ways.items():
                    start = time.perf_counter()
                    call()
                    times[name].append(1000 * (time.perf_counter() - start))

    rows = [{"way": name, "median_ms": statistics.median(values),
             "p90_ms": float(np.percentile(values, 90)), "runs": len(models)} for name, values in times.items()]
    eager = rows[0]["median_ms"]
    machine = {"cpu": cpu_name(), "flags": cpu_features(), "cores": len(os.sched_getaffinity(0)),
               "backend": keras.backend.backend(), "keras": keras.__version__, "python": platform.python_version()}
    print(f"{len(models)} MNIST runs ({', '.join(names)}), precision {', '.join(precisions)}; "
          f"start-up {startup_s:.1f} s")
    print(f"CPU: {machine['cpu']}, {machine['cores']} cores, flags {' '.join(machine['flags'])}; "
          f"{machine['backend']}, Keras {machine['keras']}\n")
    print("| way | median (ms) | 90th percentile (ms) | eager / this |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['way']} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | {eager / row['median_ms']:.1f}x |")
    joined = next(row for row in rows if row["way"] == "joined")
    verdict = "within" if joined["p90_ms"] < BUDGET_MS else "OVER"
    print(f"\nAll {len(models)} runs answer in {joined['median_ms']:.1f} ms (90 %: {joined['p90_ms']:.1f} ms): "
          f"{verdict} the {BUDGET_MS:.0f} ms budget.")
    write_json(RESULTS, {"command": "python benchmarks/explorer.py", "shallowdeep": __version__, "machine": machine,
                         "precisions": precisions, "startup_s": startup_s, "rounds": args.rounds, "rows": rows})
    print(f"\n(written to {RESULTS})")


if __name__ == "__main__":
    main()
