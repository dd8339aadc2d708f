"""The course's four notebooks run from top to bottom on the real data (small settings), and are
stored without outputs."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_course_s_four_notebooks_are_there():
    assert [path.stem for path in NOTEBOOKS] == ["01-mlp-on-pixels", "02-mlp-on-hog", "03-cnn", "04-pneumonia-cnn"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert sum("parameters" in cell.metadata.get("tags", ()) for cell in code) == 1


def _run_install_cell(path: Path, cwd: Path, monkeypatch, source: str | None = None) -> list[str]:
    """The notebook's install cell run where shallowdeep is not installed, from ``cwd``: what it
    would hand to ``%pip install`` (IPython's magic, replaced here by a list)."""
    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.cell_type == "code" and "install" in cell.metadata.get("tags", ())
    installed: list[str] = []
    code = cell.source.replace("%pip install --quiet {SOURCE}", "installed.append(SOURCE)")
    if source is not None:
        code = code.replace("SOURCE = None\n", f"SOURCE = {source!r}\n")
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None)
    exec(compile(code, str(path), "exec"), {"installed": installed})
    return installed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_never_installs_a_package_by_a_name_anyone_could_register(path, tmp_path, monkeypatch):
    """shallowdeep has no release on PyPI yet: outside a clone, the install cell asks where to
    install from instead of taking whatever a package index holds under that name."""
    commands = [line.strip() for line in nbformat.read(path, as_version=4).cells[0].source.splitlines()
                if "pip " in line and not line.lstrip().startswith("#")]
    assert commands == ["%pip install --quiet {SOURCE}"]
    with pytest.raises(RuntimeError, match="set SOURCE in this cell"):
        _run_install_cell(path, tmp_path, monkeypatch)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_in_a_clone_installs_that_clone_without_a_backend_extra(path, monkeypatch):
    clone = path.parents[1]
    assert _run_install_cell(path, path.parent, monkeypatch) == [f'-e "{clone}"']
    repository = "git+https://example.org/owner/shallowdeep.git"
    assert _run_install_cell(path, path.parent, monkeypatch, source=repository) == [repository]


async def _execute(path: Path, folder: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", ()))
    parameters.source += "\nQUICK = True  # set by the test suite"
    folder.mkdir()
    await NotebookClient(notebook, timeout=300, kernel_name="python3",
                         resources={"metadata": {"path": str(folder)}}).async_execute()
    return notebook


@pytest.mark.slow
def test_every_notebook_runs_from_top_to_bottom(real_data_dir, real_chest_xray, tmp_path, monkeypatch):
    """The four notebooks run at once, each in its own kernel: most of a kernel's time is starting
    and importing, which two cores can overlap."""
    monkeypatch.setenv("SHALLOWDEEP_DATA", str(real_data_dir))  # the kernels inherit the environment

    async def every_notebook():
        return await asyncio.gather(*(_execute(path, tmp_path / path.stem) for path in NOTEBOOKS))

    for path, notebook in zip(NOTEBOOKS, asyncio.run(every_notebook())):
        outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
        assert not [output for output in outputs if output.output_type == "error"], path.stem
        images = [output for output in outputs if "image/png" in output.get("data", {})]
        assert len(images) >= 2, f"{path.stem} shows its figures"
        assert list((tmp_path / path.stem).glob("runs/*/*/metrics.json")), f"{path.stem} keeps the runs it trained"
