"""The parameter count of each shipped preset, known without building its model.

Building a model to count its weights costs a backend's start and, on JAX, a compiled initializer
per weight shape (``shallowdeep list`` took 15 s there for 22 presets on a 2-core AMD EPYC Zen 4). The counts are kept in
``presets/parameters.json``, each beside the digest of what decides it (the model section, the
input shape, the number of outputs, the augmentation in front): a preset edited since then no
longer matches its digest and is counted by building it again, never given a stale number.
``tests/experiments/test_parameters.py`` builds every preset, compares, and rewrites the file when
run as a script.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from shallowdeep.experiments.experiment import Experiment

COUNTS_FILE = Path(__file__).parent / "presets" / "parameters.json"


def architecture_digest(experiment: Experiment) -> str:
    """What decides the number of weights, and nothing else (not the name, data size or training)."""
    decisive = {
        "model": experiment["model"],
        "input_shape": list(experiment.input_shape),
        "outputs": 1 if experiment.binary else len(experiment.class_names),
        "augmentation": experiment["training"]["augmentation"],
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


@cache
def _shipped() -> dict[str, dict]:
    return json.loads(COUNTS_FILE.read_text(encoding="utf-8")) if COUNTS_FILE.is_file() else {}


def known_parameter_count(experiment: Experiment) -> int | None:
    """The shipped count of the preset ``experiment`` is, if its architecture is the one counted."""
    entry = _shipped().get(experiment.name)
    if entry is None or entry["architecture"] != architecture_digest(experiment):
        return None
    return int(entry["params"])
