"""A trained MNIST run on synthdigits: the digits reach it exactly as `predict` brings image files, the
result is kept in the run folder, and `shallowdeep evaluate` prints it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import shallowdeep as sd
from shallowdeep.cli import main
from shallowdeep.data import load_synthdigits
from shallowdeep.runs import RunError

pytestmark = pytest.mark.slow  # a model is trained for the module

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1.0"


@pytest.fixture(scope="module")
def evaluated(real_data_dir, tmp_path_factory):
    run = sd.train("raw-1", epochs=1, train_limit=3000, test_limit=300, runs_dir=tmp_path_factory.mktemp("runs"),
                   data_dir=real_data_dir, progress=False)
    return run, sd.evaluate(run, "synthdigits")


def test_the_result_is_kept_in_the_run_and_agrees_with_its_probabilities(evaluated):
    run, metrics = evaluated
    stored = sd.load_run(run.path).evaluation("synthdigits")
    assert stored.metrics == metrics and metrics["samples"] == 2000
    labels = stored.arrays["labels"]
    for rendering in ("fill", "centred"):
        result = metrics["renderings"][rendering]
        predicted = stored.arrays[f"{rendering}_probabilities"].argmax(axis=1)
        assert result["accuracy"] == pytest.approx(np.mean(predicted == labels))
        assert set(result["by_source"]) == {"strokes", "handwriting", "typeface"}
        assert sum(map(sum, result["confusion_matrix"])) == 2000
    assert 0.3 < metrics["renderings"]["fill"]["accuracy"] < 0.99  # one epoch on 3,000 digits: it reads some
    assert abs(metrics["renderings"]["fill"]["accuracy"] - metrics["renderings"]["centred"]["accuracy"]) < 0.03


def test_the_kept_mistakes_are_real_mistakes_shown_as_the_model_saw_them(evaluated):
    run, _ = evaluated
    arrays = run.evaluation("synthdigits").arrays
    indices = arrays["mistake_indices"]
    assert len(indices) == 100 and arrays["mistake_images"].shape == (100, 28, 28)
    assert np.all(arrays["mistake_labels"] != arrays["mistake_predicted"])
    assert np.array_equal(arrays["mistake_labels"], arrays["labels"][indices])
    first_pairs = list(zip(arrays["mistake_labels"][:8], arrays["mistake_predicted"][:8]))
    assert len(set(first_pairs)) == 8  # the strip shows eight different confusions


def test_each_digit_reaches_the_model_as_predict_brings_an_image_file(evaluated, tmp_path):
    run, _ = evaluated
    images, _, _ = load_synthdigits()
    chosen = [0, 7, 444, 1999]
    files = []
    for index in chosen:
        files.append(tmp_path / f"{index}.png")
        Image.fromarray(images[index]).save(files[-1])
    predicted = np.array([list(p.probabilities.values()) for p in sd.predict_images(run, files)])
    stored = run.evaluation("synthdigits").arrays["fill_probabilities"][chosen]
    np.testing.assert_allclose(predicted, stored, atol=1e-5)


def test_shallowdeep_evaluate_prints_both_renderings_and_where_they_are_kept(evaluated, capsys):
    run, _ = evaluated
    assert main(["evaluate", str(run.path / "model.keras")]) == 0
    out = capsys.readouterr().out
    assert "raw-1 on synthdigits (2,000 digits from outside MNIST):" in out
    assert "  fill     accuracy 0." in out and "  centred  accuracy 0." in out and "strokes 0." in out
    assert f"stored in {run.path / 'evaluations' / 'synthdigits.json'}" in out


def test_a_model_trained_on_chest_x_rays_is_refused_with_the_reason(capsys):
    run = next((FIXTURES / "tiny-xray").iterdir())
    assert main(["evaluate", str(run)]) == 1
    assert "trained on chest_xray; synthdigits holds digits, for models trained on MNIST" in capsys.readouterr().err
    with pytest.raises(RunError, match="evaluations on synthdigits only"):
        sd.load_run(run).evaluation("../metrics")
