"""The shipped parameter counts are those of the models the presets build; an edited preset is
counted by building it, never given its old count.

    python tests/experiments/test_parameters.py     # rewrite presets/parameters.json after editing a preset
"""

from __future__ import annotations

import json
import sys

import pytest

from shallowdeep.experiments import list_presets, load_experiment
from shallowdeep.experiments.parameters import COUNTS_FILE, architecture_digest, known_parameter_count


def _counted() -> dict[str, dict]:
    from shallowdeep.backend import keras
    from shallowdeep.training import build_model

    counts = {}
    for name in list_presets():
        experiment = load_experiment(name)
        counts[name] = {"architecture": architecture_digest(experiment),
                        "params": int(build_model(experiment).count_params())}
    keras.backend.clear_session()  # once: clearing after each model took 6 s of the 7 (TensorFlow, 2-core AMD EPYC Zen 4)
    return counts


@pytest.mark.slow
def test_the_shipped_counts_are_those_of_the_built_models():
    assert json.loads(COUNTS_FILE.read_text(encoding="utf-8")) == _counted(), (
        f"{COUNTS_FILE} is stale: rewrite it with `python tests/experiments/test_parameters.py`")


def test_a_preset_whose_model_changed_has_no_shipped_count():
    cnn = load_experiment("cnn-3")
    assert known_parameter_count(cnn) == 856_330
    assert known_parameter_count(cnn.with_settings(**{"model.args.dense": [64]})) is None
    assert known_parameter_count(load_experiment("xray-1", **{"dataset.image_size": [64, 64]})) is None


def test_what_does_not_change_the_weights_keeps_the_count():
    raw = load_experiment("raw-1", epochs=3, train_limit=100)
    assert known_parameter_count(raw) == known_parameter_count(load_experiment("raw-1"))


if __name__ == "__main__":
    COUNTS_FILE.write_text(json.dumps(_counted(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {COUNTS_FILE}", file=sys.stderr)
