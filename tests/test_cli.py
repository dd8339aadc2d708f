"""The command line: `shallowdeep data` reports every file truthfully; errors are one clear line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shallowdeep.cli import main


def test_data_reports_every_real_dataset_as_verified(real_data_dir, real_chest_xray, capsys):
    assert main(["data", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "pneumoniamnist.npz"):
        assert f"verified   {real_data_dir / 'mnist' if 'ubyte' in name else real_data_dir / 'pneumoniamnist'}/{name}" in out
    assert "train 5216 (1341 + 3875), test 624 (234 + 390)" in out
    assert "All requested data is present and verified." in out


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


@pytest.mark.parametrize("command", [[], ["data"]])
def test_help_teaches_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: shallowdeep" in out
    if command:
        assert "examples:" in out


def test_the_installed_command_runs(real_data_dir):
    command = Path(sys.executable).with_name("shallowdeep")
    done = subprocess.run(
        [str(command), "data", "mnist", "--data-dir", str(real_data_dir)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("verified   ") == 4
