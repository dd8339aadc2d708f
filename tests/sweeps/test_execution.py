"""One trial's work: pruned after the epoch its rule judges hopeless, its partial run kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from shallowdeep.runs import Run
from shallowdeep.sweeps import TrialStatus, load_sweep
from shallowdeep.sweeps.execution import TrialTask, pack_run, receive_run, run_trial
from shallowdeep.sweeps.search import PruningJudge, PruningPlan

OLD_RUNS = Path(__file__).parents[1] / "fixtures" / "runs-0.1.0"
#: Three finished trials that reached a perfect validation accuracy at every epoch.
PERFECT = tuple(((1, 1.0), (2, 1.0), (3, 1.0)) for _ in range(3))


def test_the_median_rule_stops_a_trial_below_the_finished_ones_after_the_warm_up():
    judge = PruningJudge(PruningPlan("val_accuracy", "maximize", startup_trials=3, warmup_epochs=1, finished=PERFECT))
    assert not judge.should_stop(1, 0.5)  # still warming up
    assert judge.should_stop(2, 0.5)
    assert not PruningJudge(PruningPlan("val_accuracy", "maximize", 3, 0, PERFECT)).should_stop(1, 1.0)
    too_few = PruningPlan("val_accuracy", "maximize", startup_trials=4, warmup_epochs=0, finished=PERFECT)
    assert not PruningJudge(too_few).should_stop(1, 0.1)


@pytest.mark.slow
def test_a_hopeless_trial_stops_after_its_first_epoch_and_keeps_its_partial_run(real_data_dir, tmp_path):
    spec = load_sweep("raw", overrides={"training.epochs": 3, "dataset.train_limit": 300, "dataset.test_limit": 100})
    experiments = spec.experiments({"model.args.hidden": [128], "model.args.dropout": 0.0, "training.batch_size": 128})
    plan = PruningPlan("val_accuracy", "maximize", startup_trials=3, warmup_epochs=0, finished=PERFECT)
    outcome = run_trial(TrialTask(7, tuple(experiments), "accuracy", threads=0, folder=str(tmp_path),
                                  data_dir=str(real_data_dir), pruning=plan))
    assert outcome.status is TrialStatus.PRUNED, outcome.details
    (run,) = outcome.runs
    assert run.epochs == 1 and run.validation is None and run.test == {}  # never evaluated on test
    assert list(outcome.curve) == [1] and run.path.endswith(".partial")
    assert (tmp_path / run.path / "checkpoint-epoch001.keras").is_file()


@pytest.mark.slow
def test_a_trial_sent_again_reuses_the_run_its_dead_worker_finished(real_data_dir, tmp_path):
    # A worker can die after it finished a trial's run and before the sweep heard of it.
    spec = load_sweep("raw", overrides={"training.epochs": 1, "dataset.train_limit": 300, "dataset.test_limit": 100})
    experiments = tuple(spec.experiments({"model.args.hidden": [64], "model.args.dropout": 0.0,
                                          "training.batch_size": 128}))
    task = TrialTask(3, experiments, "accuracy", threads=0, folder=str(tmp_path), data_dir=str(real_data_dir))
    first = run_trial(task)
    again = run_trial(task)
    assert first.status is again.status is TrialStatus.COMPLETE, first.details + again.details
    assert [run.path for run in again.runs] == [run.path for run in first.runs]
    assert again.runs[0].validation == first.runs[0].validation
    assert len(list((tmp_path / "runs" / "raw").iterdir())) == 1  # nothing trained twice, no partial folder left


def test_a_packed_run_arrives_whole_under_a_name_of_its_own(tmp_path):
    original = Run.open(next((OLD_RUNS / "handout-hog").iterdir()))
    data = pack_run(original)
    first, second = receive_run(data, tmp_path), receive_run(data, tmp_path)
    assert first.path == tmp_path / "handout-hog" / original.path.name
    assert second.path.name == f"{original.path.name}-2"
    assert sorted(p.name for p in first.path.iterdir()) == sorted(p.name for p in original.path.iterdir())
    assert first.metrics == original.metrics and not list(tmp_path.glob(".incoming-*"))


def test_an_archive_that_is_not_one_run_folder_is_refused(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        entry = tarfile.TarInfo("../escaped.txt")
        entry.size = 2
        archive.addfile(entry, io.BytesIO(b"hi"))
    with pytest.raises(tarfile.OutsideDestinationError):
        receive_run(buffer.getvalue(), tmp_path / "runs")
    assert not (tmp_path / "escaped.txt").exists() and list((tmp_path / "runs").iterdir()) == []
