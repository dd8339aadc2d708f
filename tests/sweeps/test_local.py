"""Sweeps on this machine: the four shipped sweeps on small slices, their report, and the two ways a
sweep is interrupted for real: a worker process killed, and the whole sweep killed with SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shallowdeep as sd
from shallowdeep.runs import PARTIAL_SUFFIX, Run
from shallowdeep.sweeps import SweepResult, TrialStatus

pytestmark = pytest.mark.slow  # every test here trains

TINY = {"train_limit": 300, "test_limit": 100}


@pytest.fixture(scope="module")
def quick_sweeps(real_data_dir, real_chest_xray, tmp_path_factory) -> dict[str, SweepResult]:
    """Each shipped sweep with --quick on tiny slices, in this process: two trials of raw (a choice
    to make), one of the others (that they run)."""
    out = tmp_path_factory.mktemp("sweeps")
    return {name: sd.sweep(name, out=out / name, quick=True, trials=2 if name == "raw" else 1, workers=0,
                           data_dir=real_data_dir, progress=False, **TINY)
            for name in ("raw", "hog", "cnn", "xray")}


def test_each_shipped_sweep_runs_quick_and_chooses_on_validation(quick_sweeps):
    for name, result in quick_sweeps.items():
        assert [trial.status for trial in result.trials] == [TrialStatus.COMPLETE] * len(result.trials), name
        assert result.best is max(result.trials, key=lambda trial: (trial.value, -trial.number))
        runs = result.runs()
        assert len(runs) == len(result.trials) and all(run.finished for run in runs)
        assert all(run.experiment["dataset"]["train_limit"] == 300 for run in runs)
        for trial, run in zip(result.trials, runs):  # each row is its run's own validation score
            assert trial.value == run.metrics["validation"][result.metric]
        assert result.csv_path.is_file() and "(chosen)" in result.markdown_path.read_text()
        assert [path.name for path in result.figure_paths()] == (
            ["accuracy-vs-weights.png", "metric-by-axis.png"] if result.dataset == "mnist" else ["metric-by-axis.png"])
    assert quick_sweeps["xray"].metric == "roc_auc" and "roc_auc" in quick_sweeps["xray"].trials[0].runs[0].test


def test_the_report_shows_each_sweep_and_q3_measured_across_the_mnist_sweeps(quick_sweeps, tmp_path):
    folders = [result.folder for result in quick_sweeps.values()]
    markdown_path, html_path = sd.report([], tmp_path / "en", sweeps=folders)
    markdown = markdown_path.read_text()
    for name in quick_sweeps:
        assert f"### Sweep {name}: " in markdown
    best = quick_sweeps["raw"].best
    assert f"**Chosen on validation:** trial {best.number} (" in markdown
    assert f"**Its test accuracy, {best.test('accuracy'):.4f}, is the one honest figure of this search.**" in markdown
    assert "## Q3, measured: accuracy against the number of weights" in markdown
    assert "(4 trials: MLP on raw pixels, MLP on HOG features, Convolutional networks)" in markdown
    assert html_path.read_text().count("data:image/png;base64,") == 5  # 4 sweeps' axes, and Q3
    french = sd.report([], tmp_path / "fr", sweeps=folders, lang="fr")[0].read_text()
    assert "### Recherche raw : " in french and "exactitude test †" in french


def test_the_lab_command_reports_finished_sweeps(quick_sweeps, tmp_path):
    from shallowdeep.cli import build_parser
    from shallowdeep.lab import run_lab

    folders = [str(quick_sweeps["raw"].folder), str(quick_sweeps["cnn"].folder)]
    assert build_parser().parse_args(["lab", "--sweeps", *folders]).sweeps == folders
    result = run_lab(out=tmp_path, experiments=[], sweeps=folders, progress=False)
    markdown = result.report_markdown.read_text()
    assert "### Sweep raw: " in markdown and "### Sweep cnn: " in markdown and "## Q3, measured" in markdown


def test_a_finished_sweep_started_again_trains_nothing(quick_sweeps, real_data_dir):
    before = quick_sweeps["raw"]
    again = sd.sweep("raw", out=before.folder, quick=True, trials=2, workers=0, data_dir=real_data_dir,
                     progress=False, **TINY)
    assert len(again.trials) == 2
    assert [trial.runs for trial in again.trials] == [trial.runs for trial in before.trials]
    assert len(list((before.folder / "runs" / "raw").iterdir())) == 2


def test_a_random_search_draws_a_range_on_its_log_scale_and_trains_it(real_data_dir, tmp_path):
    sweep_file = tmp_path / "lr.toml"
    sweep_file.write_text('base = "raw-1"\nsampler = "random"\nseed = 3\n[budget]\ntrials = 1\n[axes]\n'
                          '"training.optimizer_args.learning_rate" = { low = 1e-4, high = 1e-2, log = true }\n')
    result = sd.sweep(sweep_file, out=tmp_path / "out", quick=True, workers=0, data_dir=real_data_dir,
                      progress=False, **TINY)
    (trial,) = result.trials
    rate = trial.point["training.optimizer_args.learning_rate"]
    assert trial.status is TrialStatus.COMPLETE and 1e-4 <= rate <= 1e-2
    (run,) = result.runs()
    assert run.experiment["training"]["optimizer_args"]["learning_rate"] == rate
    assert run.training_setup["optimizer_config"]["learning_rate"] == pytest.approx(rate)


# -- interruptions, for real -------------------------------------------------------------------------

def _processes() -> dict[int, tuple[int, str, bytes]]:
    """Every process: pid -> (parent pid, state, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = (int(fields[1]), fields[0], (entry / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                continue
    return found


def _workers(driver: int) -> list[int]:
    """The sweep's worker processes: children of the driver started by multiprocessing's spawn."""
    return [pid for pid, (parent, _, command) in _processes().items() if parent == driver and b"spawn_main" in command]


def _alive(pids: list[int]) -> list[int]:
    processes = _processes()
    return [pid for pid in pids if pid in processes and processes[pid][1] != "Z"]


def _sweep_command(out: Path, data_dir: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "shallowdeep", "sweep", "raw", "--quick", "--trials", "4", "--workers", str(workers),
            "--out", str(out), "--data-dir", str(data_dir), "--set", "dataset.train_limit=300",
            "--set", "dataset.test_limit=100"]


@pytest.fixture(scope="module")
def interrupted_sweep(real_data_dir, tmp_path_factory):
    """A sweep of 4 trials on 2 worker processes: once a trial has finished and two are running, one
    worker is killed; once three trials have finished, the sweep's command is killed with SIGKILL
    (its workers go with it); then the same command, on one worker, runs again to the end."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc to find the worker processes")
    out = tmp_path_factory.mktemp("interrupted") / "sweep"
    lines, killed_worker, orphans = [], None, []
    driver = subprocess.Popen(_sweep_command(out, real_data_dir, 2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    try:
        for line in driver.stdout:
            lines.append(line)
            done = re.match(r"raw: (\d+)/4 trials done .*, (\d+) running", line)
            if done and killed_worker is None and int(done.group(1)) >= 1 and int(done.group(2)) == 2:
                killed_worker = _workers(driver.pid)[0]
                os.kill(killed_worker, signal.SIGKILL)
            if done and killed_worker and int(done.group(1)) >= 3:
                orphans = _workers(driver.pid)
                os.kill(driver.pid, signal.SIGKILL)
                break
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 10
    while _alive(orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    finished_before = {trial.number: trial.runs for trial in SweepResult.load(out).finished}
    again = subprocess.run(_sweep_command(out, real_data_dir, 1), capture_output=True, text=True, timeout=600)
    return {"first": "".join(lines), "worker": killed_worker, "orphans": orphans, "left": _alive(orphans),
            "before": finished_before, "again": again, "result": SweepResult.load(out), "out": out}


def test_a_killed_worker_s_trial_is_sent_again_and_finishes(interrupted_sweep):
    first = interrupted_sweep["first"]
    assert interrupted_sweep["worker"] is not None
    assert re.search(rf"trial \d+: worker process {interrupted_sweep['worker']} died \(killed by signal SIGKILL\); "
                     rf"sending it again", first), first


def test_the_workers_of_a_killed_sweep_die_with_it(interrupted_sweep):
    assert len(interrupted_sweep["orphans"]) == 2 and interrupted_sweep["left"] == []


def test_a_sweep_killed_with_sigkill_resumes_without_repeating_a_finished_trial(interrupted_sweep):
    again, result, before = interrupted_sweep["again"], interrupted_sweep["result"], interrupted_sweep["before"]
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(before) >= 3
    assert re.search(rf"{len(before)} trials already finished in .*; \d+ left running by an interrupted sweep are "
                     rf"sent again", again.stdout), again.stdout
    assert sorted(trial.number for trial in result.trials) == [0, 1, 2, 3]
    assert all(trial.status is TrialStatus.COMPLETE for trial in result.trials)
    for number, runs in before.items():  # the finished trials kept their runs: nothing was trained twice
        assert next(trial.runs for trial in result.trials if trial.number == number) == runs
    folders = sorted((interrupted_sweep["out"] / "runs" / "raw").iterdir())
    assert len(folders) == 4 and not [f for f in folders if f.name.endswith(PARTIAL_SUFFIX)]
    assert sorted(run.path.name for run in result.runs()) == [f.name for f in folders]
    assert all(Run(folder).finished for folder in folders)
