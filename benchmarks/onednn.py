"""TensorFlow's training step with its oneDNN operations off and on, for each seed experiment.

    python benchmarks/onednn.py                                # every seed preset, 3 pairs
    python benchmarks/onednn.py --presets cnn-3 raw-2 --pairs 5

TensorFlow runs its convolutions, matrix products and pooling through oneDNN by default only on
CPUs with AVX512_VNNI, AVX512_BF16 or AMX; on the others (an AVX2-only AMD Zen 3, say) it runs them
through Eigen, unless ``TF_ENABLE_ONEDNN_OPTS=1``, which shallowdeep sets before it imports
TensorFlow (``shallowdeep.backend``; a value the user set wins). This script shows what that
changes: each preset's own model (its builder, batch size, precision ``auto``) trains through the
lab's epoch loop on random inputs, a warm-up epoch then a timed one (``primitives.py``'s worker),
in a fresh process with ``TF_ENABLE_ONEDNN_OPTS=0`` and another with ``1``, the two in pairs whose
order alternates so that the machine's drift cancels; the ratio is the median over pairs of
off / on. On a CPU where TensorFlow's default is already on, "off" shows what that default is worth.

Results: ``results/onednn.json`` (``--output``), with the CPU's name and instruction sets, and a
Markdown table on stdout. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from primitives import write_results  # noqa: E402

PRIMITIVES = Path(__file__).resolve().parent / "primitives.py"
SEED_PRESETS = ("raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3", "cnn-1", "cnn-2", "cnn-3", "xray-1")


def seconds_per_step(name: str, steps: int, onednn: bool) -> float:
    """One fresh process: ``name``'s training step with TensorFlow's oneDNN operations on or off."""
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0",
                   "ONEDNN_VERBOSE": "0"}
    done = subprocess.run([sys.executable, str(PRIMITIVES), "--worker", name, "--steps", str(steps)],
                          env=environment, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name} (TF_ENABLE_ONEDNN_OPTS={int(onednn)}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])["seconds_per_step"]


def steps_for(name: str, image_steps: int, vector_steps: int) -> int:
    """Enough steps for a timing well above a process's noise: a dense model's step is about a
    millisecond, a convolutional one's tens to hundreds."""
    from shallowdeep.experiments import load_experiment

    return image_steps if len(load_experiment(name).input_shape) > 1 else vector_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(SEED_PRESETS))
    parser.add_argument("--pairs", type=int, default=3, help="timings each way per preset (default 3)")
    parser.add_argument("--image-steps", type=int, default=20, help="timed steps of a CNN (default 20)")
    parser.add_argument("--vector-steps", type=int, default=300, help="timed steps of an MLP (default 300)")
    parser.add_argument("--output", default="onednn.json", help="file name under benchmarks/results")
    arguments = parser.parse_args()

    from shallowdeep.backend import resolve_precision

    rows = []
    for name in arguments.presets:
        steps = steps_for(name, arguments.image_steps, arguments.vector_steps)
        off, on = [], []
        for pair in range(arguments.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for onednn in order:
                (on if onednn else off).append(seconds_per_step(name, steps, onednn))
        ratios = sorted(a / b for a, b in zip(off, on))
        rows.append({"preset": name, "steps": steps, "off_ms": [1000 * s for s in off], "on_ms": [1000 * s for s in on],
                     "speedup": statistics.median(ratios), "speedup_range": [ratios[0], ratios[-1]]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    machine = write_results("onednn.py", arguments.output, pairs=arguments.pairs, rows=rows)
    print(f"{machine}, precision {resolve_precision('auto').name}; milliseconds per training step "
          f"(median of {arguments.pairs} fresh processes each way)\n")
    print("| preset | CPU | oneDNN off | oneDNN on | off / on (min-max) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['preset']} | {machine} | {statistics.median(row['off_ms']):.2f} | "
              f"{statistics.median(row['on_ms']):.2f} | {row['speedup']:.2f}x "
              f"({row['speedup_range'][0]:.2f}-{row['speedup_range'][1]:.2f}) |")


if __name__ == "__main__":
    main()
