"""How long each kind of figure the lab and the notebooks draw takes to write as a PNG, against the
plots of another commit, side by side in one process.

    python benchmarks/figures.py                        # this checkout's figures alone
    python benchmarks/figures.py --against db205ab      # and db205ab's src/shallowdeep/plots.py beside them

Each figure is built and written with :func:`shallowdeep.plots.save_figure` ``--repeats`` times
per side, the two sides alternating which goes first; the median is kept. The images are real
MNIST test digits (the Grad-CAM images are digits enlarged to 128 x 128 under random heat maps, as
the arithmetic of drawing does not depend on what the pixels show). ``--against`` reads the other
commit's ``plots.py`` with ``git show`` and loads it beside this one; the rest of shallowdeep is
this checkout's. Results: ``results/figures.json`` (``--output``) and a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shallowdeep import plots
from shallowdeep.backend import cpu_features, cpu_name
from shallowdeep.storage import write_json

RESULTS = Path(__file__).resolve().parent / "results"
REPOSITORY = Path(__file__).resolve().parents[1]


def _plots_of(commit: str, folder: Path):
    """``src/shallowdeep/plots.py`` as it was at ``commit``, loaded as a module of its own."""
    source = subprocess.run(["git", "show", f"{commit}:src/shallowdeep/plots.py"], cwd=REPOSITORY, check=True,
                            capture_output=True, text=True).stdout
    path = folder / f"plots_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"plots_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases() -> dict:
    from shallowdeep.data import load_mnist

    rng = np.random.default_rng(0)
    _, (x_test, y_test) = load_mnist(progress=False)
    digits, labels = x_test[:16], y_test[:16].tolist()
    enlarged = np.stack([np.pad(np.kron(digit, np.ones((4, 4), np.uint8)), 8) for digit in digits[:8]])
    heatmaps = rng.random((8, 16, 16)).astype(np.float32)
    matrix = rng.integers(0, 60, (10, 10)) + np.diag(rng.integers(900, 1100, 10))
    history = [{"epoch": e, "loss": 1 / e, "accuracy": 1 - 0.1 / e, "val_loss": 1.1 / e, "val_accuracy": 1 - 0.12 / e}
               for e in range(1, 11)]
    strips = [(f"model-{m}", x_test[16 * m:16 * m + 9], [f"{d} → 0" for d in range(9)]) for m in range(9)]
    return {
        "confusion matrix, 10 classes": lambda p: p.confusion_figure(matrix, [str(d) for d in range(10)]),
        "training history, 10 epochs": lambda p: p.history_figure(history),
        "Grad-CAM, 8 images": lambda p: p.grad_cam_figure(
            enlarged, heatmaps, [f"NORMAL → PNEUMONIA\nP = 0.9{i}" for i in range(8)]),
        "HOG, 8 digits": lambda p: p.hog_figure(digits[:8], labels=labels[:8]),
        "examples, 16 digits": lambda p: p.examples_figure(digits, [f"{d} → {(d + 1) % 10}" for d in labels]),
        "examples, 32 filters 5x5": lambda p: p.examples_figure(
            rng.integers(0, 256, (32, 5, 5)).astype(np.uint8), [f"filter {i}" for i in range(32)]),
        "mistake strips, 9 models": lambda p: p.mistake_strips_figure(strips),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="COMMIT", help="time this commit's plots.py beside this checkout's")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--output", default="figures.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sides = {"this checkout": plots}
        if args.against:
            sides = {args.against: _plots_of(args.against, Path(folder)), **sides}
        rows = []
        for name, make in _cases().items():
            seconds: dict[str, list[float]] = {side: [] for side in sides}
            for repeat in range(args.repeats):
                for side in (list(sides) if repeat % 2 == 0 else list(sides)[::-1]):
                    started = time.perf_counter()
                    plots.save_figure(make(sides[side]), Path(folder) / "figure.png")
                    seconds[side].append(time.perf_counter() - started)
            rows.append({"figure": name, "median_seconds": {side: statistics.median(s) for side, s in seconds.items()},
                         "seconds": seconds})
    cpu = f"{cpu_name()} ({', '.join(cpu_features()) or 'no AVX2'}), {os.cpu_count()} cores"
    header = " | ".join(sides)
    print(f"| figure | {header} | CPU |\n|---|{'---:|' * len(sides)}---|")
    for row in rows:
        cells = " | ".join(f"{row['median_seconds'][side]:.3f} s" for side in sides)
        print(f"| {row['figure']} | {cells} | {cpu} |")
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / args.output, {"command": "python benchmarks/figures.py " + " ".join(sys.argv[1:]),
                                       "cpu": cpu, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
