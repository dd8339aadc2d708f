"""The results table: chosen on validation, the one honest test figure, the others marked; the
study's journal reopened after a kill; the Pareto front."""

from __future__ import annotations

import csv
import io

from shallowdeep.sweeps import SweepResult, TrialRecord, TrialStatus, load_sweep
from shallowdeep.sweeps.figures import pareto_front
from shallowdeep.sweeps.results import RunSummary
from shallowdeep.sweeps.search import JOURNAL, ask, finish, open_study


def _trial(number: int, dropout: float, validation: float, test: float, status=TrialStatus.COMPLETE) -> TrialRecord:
    run = RunSummary(f"runs/raw/{number}", validation, {"accuracy": test}, 1000 * (number + 1), 2.0, 1, validation)
    return TrialRecord(number, status, {"model.args.dropout": dropout}, [run])


def _result(folder, trials, metric="accuracy", direction="maximize") -> SweepResult:
    return SweepResult(folder=folder, name="raw", description="d", base="raw-1", dataset="mnist", features="raw",
                       metric=metric, direction=direction, sampler="grid",
                       axes=[{"key": "model.args.dropout", "name": "dropout", "values": "0.0, 0.5",
                              "choices": [0.0, 0.25, 0.5], "log": False}],
                       seeds=[0], quick=False, budget={"trials": 3, "minutes": None}, trials=trials)


def test_the_trial_chosen_is_the_best_on_validation_and_only_its_test_score_counts(tmp_path):
    trials = [_trial(0, 0.0, 0.95, 0.99), _trial(1, 0.25, 0.97, 0.90), _trial(2, 0.5, 0.99, 0.0, TrialStatus.PRUNED)]
    result = _result(tmp_path, trials)
    assert result.best is trials[1]  # not trial 0, the best on test; not the pruned one
    result.write()
    markdown = (tmp_path / "results.md").read_text()
    assert "Chosen on validation: trial 1 (dropout = 0.25), validation accuracy 0.9700. Its test accuracy 0.9000 " \
           "is the one honest estimate" in markdown
    assert "| **1** | complete | 0.25 | **0.9700** | 2,000 | 2.0 | **0.9000** (chosen) |" in markdown
    assert "| 0 | complete | 0.0 | 0.9500 | 1,000 | 2.0 | 0.9900 † |" in markdown
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert [row["chosen"] for row in rows] == ["", "yes", ""] and rows[2]["status"] == "pruned"
    again = SweepResult.load(tmp_path)
    assert again.best.number == 1 and again.trials[0].runs[0].test == {"accuracy": 0.99}


def test_a_loss_is_chosen_smallest():
    result = _result(None, [_trial(0, 0.0, 0.30, 0.9), _trial(1, 0.5, 0.10, 0.8)], metric="loss", direction="minimize")
    assert result.best.number == 1


def test_the_pareto_front_keeps_what_nothing_beats_on_both_counts():
    weights = [100, 200, 300, 400, 50]
    accuracy = [0.90, 0.95, 0.93, 0.97, 0.80]
    assert pareto_front(weights, accuracy) == [4, 0, 1, 3]


def test_a_journal_cut_short_by_a_kill_reopens_with_every_acknowledged_trial(tmp_path):
    spec = load_sweep("raw")
    study = open_study(spec, tmp_path)
    for _ in range(2):
        trial = ask(study, spec)
        finish(study, trial, TrialStatus.COMPLETE, 0.5, {"runs": []})
    running = ask(study, spec)
    with open(tmp_path / JOURNAL, "ab") as journal:
        journal.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 2, "sta')  # the kill hit mid-write
    again = open_study(spec, tmp_path)
    states = [trial.state.name for trial in again.get_trials()]
    assert states == ["COMPLETE", "COMPLETE", "RUNNING"]
    assert again.get_trials()[2].params == running.params
    assert ask(again, spec).number == 3  # and it takes new records after the repaired end


def test_every_point_of_a_grid_is_asked_once_and_the_last_is_told_like_the_others(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text('base = "raw-1"\n[axes]\n"training.batch_size" = [32, 64]\n')
    spec = load_sweep(path)
    study = open_study(spec, tmp_path)
    for _ in range(2):
        finish(study, ask(study, spec), TrialStatus.COMPLETE, 0.5, {})
    assert [trial.state.name for trial in study.get_trials()] == ["COMPLETE", "COMPLETE"]
    assert sorted(trial.params["training.batch_size"] for trial in study.get_trials()) == [32, 64]
