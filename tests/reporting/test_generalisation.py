"""Q5 in the report: read from the runs' stored evaluations, and a run never evaluated says how to do it."""

from __future__ import annotations

from pathlib import Path

import shallowdeep as sd

FIXTURES = Path(__file__).parents[1] / "fixtures" / "runs-0.1.0"


def test_a_run_never_evaluated_on_synthdigits_is_listed_with_the_command_that_does_it(tmp_path):
    run = sd.load_run(next((FIXTURES / "handout-hog").iterdir()))
    markdown, _ = sd.report([run], tmp_path, lang="fr")
    text = markdown.read_text()
    assert "## Q5. Quels réseaux lisent des chiffres sur lesquels ils n'ont pas appris ?" in text
    assert f"| handout-hog | non évalué : `shallowdeep evaluate {run.path}` |" in text
    assert "q5-mistakes.png" not in text  # nothing to show without an evaluation
