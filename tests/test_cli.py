"""The command line: `data` reports every file truthfully; `list`, `train` and `predict` print what a
person needs; errors are one clear line; help teaches with examples."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from shallowdeep.cli import main
from shallowdeep.data import load_mnist
from shallowdeep.data.synthdigits import synthdigits_path

SHALLOWDEEP = str(Path(sys.executable).with_name("shallowdeep"))


def test_data_reports_every_real_dataset_as_verified(real_data_dir, real_chest_xray, capsys):
    assert main(["data", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "pneumoniamnist.npz"):
        assert f"verified   {real_data_dir / 'mnist' if 'ubyte' in name else real_data_dir / 'pneumoniamnist'}/{name}" in out
    assert "train 5216 (1341 + 3875), test 624 (234 + 390)" in out
    assert f"verified   {synthdigits_path()}" in out and "made by shallowdeep, for evaluation only" in out
    assert "All requested data is present and verified." in out


def test_output_cut_short_by_its_reader_ends_quietly():
    """``shallowdeep list | head -1``: a reader that closes the pipe early gets no traceback back,
    and the exit status a shell gives a command a closed pipe stopped."""
    read, write = os.pipe()
    os.close(read)  # closed before anything is written: every write meets a broken pipe
    try:
        listing = subprocess.run([SHALLOWDEEP, "list"], stdout=write, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert listing.stderr == b"" and listing.returncode == 141


def test_data_on_an_empty_folder_lists_what_is_missing_and_fails(tmp_path, capsys):
    assert main(["data", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"missing    {tmp_path / 'mnist' / 'train-images-idx3-ubyte.gz'}" in out
    assert "shallowdeep data --download" in out
    assert "data.mendeley.com" in out
    assert not any(tmp_path.iterdir()), "a status check must not write into the data directory"


def test_data_flags_a_corrupt_file_and_fails(real_data_dir, tmp_path, capsys):
    shutil.copytree(real_data_dir / "pneumoniamnist", tmp_path / "pneumoniamnist")
    target = tmp_path / "pneumoniamnist" / "pneumoniamnist.npz"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:1000])
    assert main(["data", "pneumoniamnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"corrupt    {target}" in out
    assert "md5" in out


def test_an_unknown_dataset_is_one_clear_error(capsys):
    assert main(["data", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("shallowdeep: error: unknown dataset(s) cifar10; known: mnist")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["data"], ["list"], ["train"], ["predict"], ["lab"]])
def test_help_teaches_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: shallowdeep" in out
    if command:
        assert "examples:" in out


def test_the_installed_command_runs(real_data_dir):
    done = subprocess.run(
        [SHALLOWDEEP, "data", "mnist", "--data-dir", str(real_data_dir)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("verified   ") == 4


@pytest.mark.slow
def test_list_json_has_every_preset_with_its_parameter_count(capsys):
    assert main(["list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["cnn-3"]["params"] == 856_330 and rows["xray-1"]["params"] == 164_353
    assert rows["hog-2"]["features"] == "HOG p=4 o=16" and rows["raw-3"]["epochs"] == 30
    assert len(rows) == 22 and rows["xray-best"]["suite"] == "best" and rows["xray-best-v1"]["suite"] == "" and rows["mnist-robust"]["params"] == 288_618


def test_list_prints_a_table(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cnn-3" in out and "856,330" in out and "shallowdeep train NAME" in out


def test_dry_run_shows_the_resolved_experiment_and_weights_without_training(capsys, tmp_path):
    assert main(["train", "cnn-1", "--dry-run", "--set", "training.epochs=7", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epochs = 7" in out and "rho = 0.9" in out
    assert "Total: 160 + 4,128 + 4,128 + 401,472 + 650 = 410,538 parameters." in out
    assert not any(tmp_path.iterdir())


def test_a_bad_setting_is_one_line_of_error(capsys):
    assert main(["train", "cnn-3", "--set", "training.batch_size=0"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("shallowdeep: error: preset cnn-3 (with --set training.batch_size=0): "
                           "training.batch_size = 0 is not allowed; expected a value of at least 1")


@pytest.fixture(scope="module")
def trained_cnn(real_data_dir, tmp_path_factory):
    """A CNN trained from the command line on 3,000 digits; its run folder and what it printed."""
    runs = tmp_path_factory.mktemp("runs")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["train", "cnn-1-pooled", "--set", "dataset.train_limit=3000", "--set", "dataset.test_limit=200",
                     "--set", "train.epochs=2", "--set", "train.batch_size=32", "--runs-dir", str(runs),
                     "--data-dir", str(real_data_dir), "--no-progress"])
    assert code == 0
    (run_dir,) = (runs / "cnn-1-pooled").iterdir()
    return run_dir, printed.getvalue()


@pytest.mark.slow
@pytest.mark.every_backend
def test_train_prints_the_test_scores_and_the_run_folder(trained_cnn):
    run_dir, printed = trained_cnn
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"test: loss {metrics['test']['loss']:.4f}, accuracy {metrics['test']['accuracy']:.4f}" in printed
    assert f"run folder: {run_dir}" in printed
    assert "2 epochs," in printed
    assert metrics["test"]["accuracy"] > 0.7  # 2 epochs on 2,700 digits: 0.785-0.895 over seeds and backends


@pytest.mark.slow
@pytest.mark.every_backend
def test_predict_gives_probabilities_through_the_training_preprocessing(trained_cnn, real_data_dir, tmp_path, capsys):
    run_dir, _ = trained_cnn
    _, (x_test, y_test) = load_mnist(real_data_dir)
    paths = []
    for index in range(6):
        path = tmp_path / f"digit{index}.png"
        Image.fromarray(x_test[index]).resize((56, 56)).save(path)  # another size, as a user's file would be
        paths.append(str(path))
    inverted = tmp_path / "dark-on-light.jpg"
    Image.fromarray(255 - x_test[0]).convert("RGB").save(inverted)
    assert main(["predict", str(run_dir / "model.keras"), *paths, str(inverted), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 7
    for result in results:
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    hits = sum(r["predicted"] == str(label) for r, label in zip(results, y_test[:6]))
    assert hits >= 4
    assert "inverted" in results[-1]["note"] and results[-1]["predicted"] == results[0]["predicted"]


@pytest.mark.slow
def test_predict_names_an_unreadable_file(trained_cnn, tmp_path, capsys):
    run_dir, _ = trained_cnn
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert main(["predict", str(run_dir), str(broken)]) == 1
    assert f"shallowdeep: error: {broken}: not a readable PNG or JPEG image" in capsys.readouterr().err


def test_predict_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "x.png"]) == 1
    assert "is not a shallowdeep run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_during_training_says_how_to_resume(real_data_dir, tmp_path, start_process):
    command = [SHALLOWDEEP, "train", "raw-1", "--set", "dataset.train_limit=20000", "--set", "training.epochs=50",
               "--set", "training.batch_size=32", "--runs-dir", str(tmp_path), "--data-dir", str(real_data_dir),
               "--no-progress"]
    process = start_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob("raw-1/*.partial/checkpoint-*.keras")):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"the completed epochs are kept under {tmp_path / 'raw-1'}" in err
    assert ("`shallowdeep train raw-1 --set dataset.train_limit=20000 --set training.epochs=50 "
            "--set training.batch_size=32 --resume`") in err
    assert "Traceback" not in err
