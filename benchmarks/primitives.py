"""Where a seed experiment's training step spends its time on the CPU, primitive by primitive.

    python benchmarks/primitives.py                              # cnn-1, cnn-2, cnn-3, raw-3
    python benchmarks/primitives.py --presets cnn-2 --steps 40

TensorFlow runs its convolutions, matrix products, pooling and softmax through oneDNN. With
``ONEDNN_VERBOSE=1`` oneDNN prints each primitive it executes: its implementation (``brg_conv``,
``jit_bf16``, ``gemm``...), its propagation (forward, backward_data, backward_weights), the
problem's shape and the milliseconds it took. For each preset, a process with that setting trains
the experiment's own model (its builder, batch size, precision ``auto``) through the lab's epoch
loop on random inputs of its input shape, a warm-up epoch then ``--steps`` timed batches, and the
milliseconds are summed per training step by (primitive, implementation, propagation, problem).
Another process, without the verbose output, times the same step. Both run one TensorFlow
operation at a time (``inter_op_parallelism_threads=1``; the lab's default runs two at once,
which made no difference to these steps' times, README), so that a primitive's milliseconds are
its own, not shared with another operation on the same cores. The step's time that no primitive
accounts for is TensorFlow's own kernels: casts, ReLU's gradient, dropout's random numbers, the
optimizer's update, and the executor between them.

Results: ``results/primitives.json`` (``--output``), and a Markdown table on stdout; the machine's
CPU and its instruction sets are in the JSON. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from shallowdeep.storage import write_json

RESULTS = Path(__file__).resolve().parent / "results"
MARK = "primitives.py: timed steps follow"


def worker(name: str, steps: int) -> float:
    """Train ``name`` for a warm-up epoch, print :data:`MARK`, train ``steps`` batches; seconds a step."""
    import numpy as np

    from shallowdeep.backend import set_random_seed
    from shallowdeep.epochs import epoch_runner
    from shallowdeep.experiments import load_experiment
    from shallowdeep.training import build_model, compile_model, epoch_plan, targets

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    experiment = load_experiment(name)
    training = experiment["training"]
    batch, classes = training["batch_size"], len(experiment.class_names)
    examples = steps * batch
    rng = np.random.default_rng(0)
    x = rng.random((examples, *experiment.input_shape), dtype=np.float32)
    y = targets(rng.integers(0, classes, examples), experiment, classes)
    set_random_seed(0)
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=examples)
    runner = epoch_runner(model, x, y, None, x[:batch], y[:batch], batch_size=batch,
                          steps_per_call=training["steps_per_execution"])
    runner.train_epoch(epoch_plan(examples, 0, 0))
    sys.stdout.flush()
    ctypes.CDLL(None).fflush(None)  # oneDNN prints with C's stdio: what the warm-up printed comes first
    os.write(1, f"{MARK}\n".encode())
    started = time.perf_counter()
    runner.train_epoch(epoch_plan(examples, 0, 1))
    return (time.perf_counter() - started) / runner.batches


def primitive_times(output: str, steps: int) -> list[dict]:
    """Milliseconds per step of each (primitive, implementation, propagation, problem) after :data:`MARK`."""
    totals: dict[tuple[str, str, str, str], float] = defaultdict(float)
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    lines = output.split(MARK, 1)[1].splitlines()
    for line in lines:
        fields = line.split(",")
        # onednn_verbose,v1,primitive,exec,cpu,<primitive>,<implementation>,<propagation>,<memory>,<attributes>,<auxiliary>,<problem>,<ms>
        if len(fields) < 13 or fields[0] != "onednn_verbose" or fields[3] != "exec":
            continue
        key = (fields[5], fields[6], fields[7], fields[-2])
        totals[key] += float(fields[-1])
        counts[key] += 1
    rows = [{"primitive": key[0], "implementation": key[1], "propagation": key[2], "problem": key[3],
             "ms_per_step": total / steps, "calls_per_step": counts[key] / steps} for key, total in totals.items()]
    return sorted(rows, key=lambda row: -row["ms_per_step"])


def write_results(script: str, output: str, **fields) -> str:
    """``results/<output>``: the command, the machine and its environment, then ``fields``. Returns
    the machine as the tables name it: the CPU, the instruction sets that set its speed, its cores."""
    from shallowdeep.backend import cpu_features, cpu_name, environment, resolve_precision

    machine = f"{cpu_name()} ({', '.join(cpu_features()).upper()}), {os.cpu_count()} cores"
    write_json(RESULTS / output, {"command": " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]]),
                                  "machine": machine, "environment": environment(resolve_precision("auto")), **fields})
    return machine


def _run(name: str, steps: int, verbose: bool) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "ONEDNN_VERBOSE": "1" if verbose else "0"}
    done = subprocess.run([sys.executable, __file__, "--worker", name, "--steps", str(steps)], env=environment,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name}: {done.stderr[-3000:]}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["cnn-1", "cnn-2", "cnn-3", "raw-3"])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per preset (default 30)")
    parser.add_argument("--top", type=int, default=8, help="primitives shown per preset on stdout (default 8)")
    parser.add_argument("--output", default="primitives.json", help="file name under benchmarks/results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps({"seconds_per_step": worker(arguments.worker, arguments.steps)}))
        return

    from shallowdeep.backend import resolve_precision

    rows = []
    for name in arguments.presets:
        plain = _run(name, arguments.steps, verbose=False)
        step_ms = 1000 * json.loads(plain.stdout.splitlines()[-1])["seconds_per_step"]
        primitives = primitive_times(_run(name, arguments.steps, verbose=True).stdout, arguments.steps)
        rows.append({"preset": name, "step_ms": step_ms,
                     "primitives_ms": sum(row["ms_per_step"] for row in primitives), "primitives": primitives})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "primitives"}), file=sys.stderr, flush=True)
    machine = write_results("primitives.py", arguments.output, steps=arguments.steps, rows=rows)
    print(f"{machine}, precision {resolve_precision('auto').name}; milliseconds per training step, "
          f"{arguments.steps} steps after a warm-up epoch\n")
    print("| preset | step (no verbose output) | primitive | implementation | propagation | problem | ms per step |")
    print("|---|---:|---|---|---|---|---:|")
    for row in rows:
        for primitive in row["primitives"][:arguments.top]:
            print(f"| {row['preset']} | {row['step_ms']:.1f} | {primitive['primitive']} | {primitive['implementation']} "
                  f"| {primitive['propagation']} | {primitive['problem']} | {primitive['ms_per_step']:.2f} |")
        print(f"| {row['preset']} | {row['step_ms']:.1f} | all oneDNN primitives | | | | {row['primitives_ms']:.1f} |")


if __name__ == "__main__":
    main()
