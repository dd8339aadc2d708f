"""Which runs the explorer shows and the keys that name them; the command's door and its refusals."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from shallowdeep.cli import main
from shallowdeep.explorer import ExplorerError, accepted_hosts, find_runs
from shallowdeep.explorer.catalog import catalog
from shallowdeep.explorer.server import bind, warn_if_exposed

OLD_RUNS = Path(__file__).parents[1] / "fixtures" / "runs-0.1.0"


@pytest.fixture
def lab_report(tmp_path) -> Path:
    """A lab's report folder whose quick runs are the two run folders of shallowdeep 0.1.0."""
    shutil.copytree(OLD_RUNS, tmp_path / "lab-report" / "runs-quick")
    return tmp_path / "lab-report"


def test_runs_are_found_in_a_lab_report_a_folder_of_runs_or_named_one_by_one(lab_report):
    names = ["handout-hog", "tiny-xray"]
    assert [run.name for run in find_runs([lab_report])] == names
    assert [run.name for run in find_runs(runs_dir=lab_report / "runs-quick")] == names
    (one,) = (lab_report / "runs-quick" / "tiny-xray").iterdir()
    assert [run.name for run in find_runs([one, one])] == ["tiny-xray"]


def test_with_nothing_named_the_lab_s_report_folder_is_looked_in(lab_report, monkeypatch):
    monkeypatch.chdir(lab_report.parent)
    assert [run.name for run in find_runs()] == ["handout-hog", "tiny-xray"]


def test_runs_of_the_same_name_get_their_own_keys_and_labels(lab_report, tmp_path):
    shutil.copytree(OLD_RUNS, tmp_path / "runs")
    entries = catalog(find_runs([lab_report, tmp_path / "runs"]))
    assert [entry.key for entry in entries] == ["handout-hog", "handout-hog-2", "tiny-xray", "tiny-xray-2"]
    assert entries[0].label.startswith("handout-hog (runs-quick/") and entries[1].label.startswith("handout-hog (runs/")


def test_a_place_without_finished_runs_is_refused_saying_what_to_give(tmp_path, monkeypatch):
    with pytest.raises(ExplorerError, match="holds no finished run; train one"):
        find_runs([tmp_path])
    with pytest.raises(ExplorerError, match="no such folder"):
        find_runs([tmp_path / "nowhere"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExplorerError, match=r"no finished runs in lab-report/runs/.*`shallowdeep lab --quick` first"):
        find_runs()
    (unfinished,) = shutil.copytree(OLD_RUNS / "tiny-xray", tmp_path / "runs" / "tiny-xray").iterdir()
    partial = unfinished.rename(unfinished.with_name(unfinished.name + ".partial"))
    with pytest.raises(ExplorerError, match="has not finished training"):
        find_runs([partial])


def test_the_command_says_in_one_line_why_it_cannot_start(tmp_path, capsys):
    assert main(["explore", str(tmp_path), "--no-browser"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("shallowdeep: error: ") and "holds no finished run" in error and error.count("\n") == 1


def test_explore_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["explore", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "shallowdeep lab --quick && shallowdeep explore" in out and "--no-browser" in out


def test_a_port_in_use_is_one_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ExplorerError, match=f"cannot listen on 127.0.0.1:{port} .*--port {port + 1}"):
            bind("127.0.0.1", port)
    finally:
        taken.close()


def test_only_loopback_is_served_without_a_warning(capsys):
    warn_if_exposed("127.0.0.1")
    warn_if_exposed("::1")
    assert capsys.readouterr().err == ""
    warn_if_exposed("0.0.0.0")
    assert "warning: listening on 0.0.0.0, not only on this computer" in capsys.readouterr().err


def test_every_loopback_address_is_called_by_this_computer_s_names_only():
    """A page of another site must not reach the server under a name of its own (DNS rebinding):
    only listening on every interface accepts every name, IPv6 loopback included."""
    names = ["127.0.0.1", "localhost", "[::1]", "::1"]
    assert accepted_hosts("127.0.0.1") == accepted_hosts("::1") == accepted_hosts("localhost") == names
    assert accepted_hosts("192.168.1.20") == [*names, "192.168.1.20"]
    assert accepted_hosts("fd00::20") == [*names, "[fd00::20]", "fd00::20"]
    assert accepted_hosts("0.0.0.0") == accepted_hosts("::") == ["*"]


def test_runs_of_version_0_1_are_shown_and_their_missing_predictions_explained(lab_report, real_data_dir):
    from fastapi.testclient import TestClient

    from shallowdeep.explorer import create_app

    client = TestClient(create_app(find_runs([lab_report]), data_dir=real_data_dir), base_url="http://127.0.0.1")
    runs = {run["key"]: run for run in client.get("/api/runs").json()}
    assert runs["handout-hog"]["inside"] == "hog" and runs["tiny-xray"]["xray"]
    confusion = client.get("/api/runs/tiny-xray/confusion").json()
    assert confusion["matrix"] and "was written by shallowdeep 0.1.0" in confusion["unavailable"]
    cell = client.get("/api/runs/tiny-xray/cell?true=0&predicted=0")
    assert cell.status_code == 409 and "was written by shallowdeep 0.1.0" in cell.json()["detail"]
