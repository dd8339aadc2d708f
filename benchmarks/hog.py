"""HOG speed: shallowdeep's batched HOG versus the lab's scikit-image loop, measured in one run.

    python benchmarks/hog.py            # all 70,000 MNIST images (about 1.5 min, most of it skimage)
    python benchmarks/hog.py --quick    # 5,000 images

Both compute the same numbers (tests/features/test_hog.py checks that). Ours is timed as the best
of three runs after one warm-up; the scikit-image loop, the lab's code, once. Results go to
benchmarks/results/hog.json and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import skimage
from skimage.feature import hog as skimage_hog

from shallowdeep.data import load_mnist
from shallowdeep.features import hog

SETTINGS = ({"orientations": 8, "pixels_per_cell": 4}, {"orientations": 8, "pixels_per_cell": 2})


def time_ours(images: np.ndarray, orientations: int, pixels_per_cell: int, repeats: int = 3) -> float:
    hog(images[:2048], orientations, pixels_per_cell)  # warm-up: thread pool, lookup table
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hog(images, orientations, pixels_per_cell)
        times.append(time.perf_counter() - start)
    return min(times)


def time_skimage(images: np.ndarray, orientations: int, pixels_per_cell: int) -> float:
    start = time.perf_counter()
    for image in images:
        skimage_hog(image, orientations=orientations, pixels_per_cell=(pixels_per_cell,) * 2,
                    cells_per_block=(1, 1))
    return time.perf_counter() - start


def run(images: np.ndarray) -> list[dict]:
    rows = []
    for setting in SETTINGS:
        ours = time_ours(images, **setting)
        reference = time_skimage(images, **setting)
        rows.append({**setting, "images": len(images), "shallowdeep_s": ours,
                     "skimage_loop_s": reference, "speedup": reference / ours})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| HOG setting | images | shallowdeep (s) | scikit-image loop (s) | speed-up |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| p={row['pixels_per_cell']}, o={row['orientations']} | {row['images']:,} | "
            f"{row['shallowdeep_s']:.3f} | {row['skimage_loop_s']:.1f} | {row['speedup']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 images instead of 70,000")
    parser.add_argument("--data-dir", help="data directory (default: $SHALLOWDEEP_DATA)")
    args = parser.parse_args()

    (x_train, _), (x_test, _) = load_mnist(args.data_dir)
    images = np.concatenate([x_train, x_test])[: 5000 if args.quick else None]
    rows = run(images)
    result = {
        "command": "python benchmarks/hog.py" + (" --quick" if args.quick else ""),
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {"numpy": np.__version__, "scikit-image": skimage.__version__, "python": platform.python_version()},
        "results": rows,
    }
    out = Path(__file__).parent / "results" / ("hog-quick.json" if args.quick else "hog.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    print(f"\n(written to {out})")


if __name__ == "__main__":
    main()
