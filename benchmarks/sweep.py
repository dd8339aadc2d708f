"""A sweep of small MLPs three ways, measured side by side in one run:

1. ``shallowdeep sweep --workers 2 --threads 1``: two worker processes of one thread each;
2. ``shallowdeep sweep --workers 1 --threads 2``: one worker process of two threads;
3. a loop of ``shallowdeep train`` commands, one trial after the other (TensorFlow's own threads).

    python benchmarks/sweep.py            # 12 trials of raw-1's MLP, 2 epochs on 12,000 images (several minutes)
    python benchmarks/sweep.py --short    # the same 12 trials, 1 epoch on 1,000 images: checks the script

Every way runs the same 12 points (hidden units x dropout) in a fresh folder, from the command line
as a user would, so each pays its own start-up (loading TensorFlow once per worker, or once per
trial for the loop). The wall time of each whole command is measured; the ratios against the
two-worker sweep are printed, with the machine (CPU model, its flags that matter, cores). Results go
to ``benchmarks/results/sweep.json`` (``sweep-short.json``). Meant for 2 cores: ``workers x threads
= cores`` in ways 1 and 2. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from shallowdeep.storage import write_json

HIDDEN = ([64], [128], [256])
DROPOUT = (0.0, 0.1, 0.25, 0.5)
SWEEP = """\
name = "benchmark"
description = "raw-1's MLP: hidden units x dropout"
base = "raw-1"
sampler = "grid"

[settings]
"training.epochs" = {epochs}
"dataset.train_limit" = {train}
"dataset.test_limit" = {test}

[axes]
"model.args.hidden" = [[64], [128], [256]]
"model.args.dropout" = [0.0, 0.1, 0.25, 0.5]
"""
#: The command as this interpreter runs it (no need for its virtual environment on PATH).
SHALLOWDEEP = [sys.executable, "-m", "shallowdeep"]
SIZES = {False: {"epochs": 2, "train": 12000, "test": 2000}, True: {"epochs": 1, "train": 1000, "test": 200}}


def cpu() -> dict:
    """The CPU's model name, the flags that decide TensorFlow's kernels, and the usable cores."""
    name, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": name, "flags": shown, "cores": cores}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def sweep(folder: Path, sweep_file: Path, workers: int, threads: int) -> float:
    return timed([*SHALLOWDEEP, "sweep", str(sweep_file), "--workers", str(workers), "--threads", str(threads),
                  "--out", str(folder), "--no-progress"])


def train_loop(folder: Path, sizes: dict) -> float:
    started = time.perf_counter()
    for hidden in HIDDEN:
        for dropout in DROPOUT:
            settings = {"model.args.hidden": json.dumps(hidden), "model.args.dropout": dropout,
                        "training.epochs": sizes["epochs"], "dataset.train_limit": sizes["train"],
                        "dataset.test_limit": sizes["test"]}
            timed([*SHALLOWDEEP, "train", "raw-1", "--runs-dir", str(folder), "--no-progress",
                   *(argument for key, value in settings.items() for argument in ("--set", f"{key}={value}"))])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="1 epoch on 1,000 images: check the script")
    short = parser.parse_args().short
    sizes = SIZES[short]
    machine = cpu()
    with tempfile.TemporaryDirectory(prefix="sweep-benchmark-") as scratch:
        root = Path(scratch)
        sweep_file = root / "benchmark.toml"
        sweep_file.write_text(SWEEP.format(**sizes))
        # Warm the data caches (decoded MNIST) so that no way pays for them alone.
        timed([*SHALLOWDEEP, "train", "raw-1", "--runs-dir", str(root / "warm-up"), "--no-progress",
               "--set", "training.epochs=1", "--set", "dataset.train_limit=100", "--set", "dataset.test_limit=100"])
        ways = {
            "sweep, 2 workers x 1 thread": lambda: sweep(root / "two-workers", sweep_file, 2, 1),
            "sweep, 1 worker x 2 threads": lambda: sweep(root / "one-worker", sweep_file, 1, 2),
            "loop of `shallowdeep train`": lambda: train_loop(root / "loop", sizes),
        }
        seconds = {name: way() for name, way in ways.items()}
        shutil.rmtree(root, ignore_errors=True)
    reference = seconds["sweep, 2 workers x 1 thread"]
    trials = len(HIDDEN) * len(DROPOUT)
    print(f"{trials} trials of raw-1's MLP, {sizes['epochs']} epoch(s) on {sizes['train']:,} images; "
          f"{machine['model']} ({', '.join(machine['flags']) or 'no AVX2'}), {machine['cores']} usable cores\n")
    print("| way | wall time (s) | time / 2 workers x 1 thread |")
    print("|---|---:|---:|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.1f} | {value / reference:.2f} |")
    results = {
        "command": "python benchmarks/sweep.py" + (" --short" if short else ""), "machine": machine,
        "versions": {name: version(name) for name in ("shallowdeep", "optuna", "keras")} | {"python": sys.version.split()[0]},
        "trials": trials, "sizes": sizes, "seconds": seconds,
        "ratios": {name: value / reference for name, value in seconds.items()},
    }
    write_json(Path(__file__).parent / "results" / ("sweep-short.json" if short else "sweep.json"), results)


if __name__ == "__main__":
    main()
