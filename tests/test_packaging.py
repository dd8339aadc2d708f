"""Installing shallowdeep never puts a second TensorFlow over the one a user has.

pip's own resolver decides, in a throw-away virtual environment that holds what a Colab or Kaggle
user already has (a ``tensorflow``, a ``torch``), what ``pip install shallowdeep[...]`` would
install (``--dry-run --report``). It runs offline and in about a second: every distribution is a
stub of metadata only, and shallowdeep's stub declares exactly the requirements of pyproject.toml
(PEP 621's dependencies and extras written as core-metadata ``Requires-Dist`` lines). Each
case starts pip once (2-4 s on a busy 2-core AMD EPYC Zen 4): marked slow.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
#: Stand-ins for every backend distribution pip could be asked to install.
BACKENDS = {"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0", "torch": "2.13.0", "jax": "0.10.2"}
LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"


def _metadata(name: str, version: str, requires: list[str] = (), extras: list[str] = ()) -> str:
    return "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                    *(f"Provides-Extra: {extra}\n" for extra in extras),
                    *(f"Requires-Dist: {requirement}\n" for requirement in requires)])


def _requires_dist(project: dict) -> list[str]:
    """pyproject's requirements as core metadata writes them: an extra's become ``... and extra == "x"``."""
    lines = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        for text in requirements:
            requirement = Requirement(text)
            marker, requirement.marker = requirement.marker, None
            lines.append(f'{requirement}; ({marker}) and extra == "{extra}"' if marker else
                         f'{requirement}; extra == "{extra}"')
    return lines


def _wheel(folder: Path, name: str, version: str, requires: list[str] = (), extras: list[str] = ()) -> None:
    stem = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(folder / f"{stem}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{stem}.dist-info/METADATA", _metadata(name, version, requires, extras))
        wheel.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                  "Tag: py3-none-any\n")
        wheel.writestr(f"{stem}.dist-info/RECORD", "")


def _installed(site: Path, name: str, version: str) -> None:
    """A distribution as pip sees one installed: its .dist-info folder."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(_metadata(name, version))
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """shallowdeep as pyproject.toml declares it, and every backend, as wheels pip can find offline."""
    folder = tmp_path_factory.mktemp("wheels")
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    from shallowdeep.version import __version__

    _wheel(folder, "shallowdeep", __version__, _requires_dist(project), list(project["optional-dependencies"]))
    for name, version in BACKENDS.items():
        _wheel(folder, name, version)
    return folder


def would_install(tmp_path: Path, wheels: Path, already: dict[str, str], target: str) -> list[str]:
    """The distributions ``pip install --dry-run TARGET`` would install into a fresh environment that
    holds ``already`` and shallowdeep's own dependencies other than a backend (at the versions this
    environment has)."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(environment), "platbase": str(environment)}))
    core = [Requirement(text) for text in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    for requirement in core:
        if requirement.name not in BACKENDS and (requirement.marker is None or requirement.marker.evaluate()):
            _installed(site, requirement.name, importlib.metadata.version(requirement.name))
    for name, version in already.items():
        _installed(site, name, version)
    python = environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    report = tmp_path / "report.json"
    # No configuration, index, cache or extra path of this machine's: the stubs are all pip may see.
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "PYTHON"))}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--quiet",
                    "--no-index", "--no-cache-dir", "--find-links", str(wheels), "--report", str(report), target],
                   check=True, env={**clean, "PIP_CONFIG_FILE": os.devnull}, timeout=120)
    return sorted(item["metadata"]["name"] for item in json.loads(report.read_text())["install"])


@pytest.mark.slow
@pytest.mark.parametrize(("already", "target"), [
    ({"tensorflow": "2.21.0"}, "shallowdeep"),        # Colab: TensorFlow with CUDA
    ({"tensorflow": "2.21.0"}, "shallowdeep[gpu]"),
    ({"torch": "2.13.0"}, "shallowdeep"),             # a PyTorch user
])
def test_shallowdeep_installs_beside_the_backend_a_user_has(already, target, tmp_path, wheels):
    assert would_install(tmp_path, wheels, already, target) == ["shallowdeep"]


@pytest.mark.slow
def test_the_cpu_extra_brings_tensorflow_to_a_fresh_environment(tmp_path, wheels):
    """README's command on a new machine: the CPU build where it is a wheel of its own."""
    expected = "tensorflow-cpu" if LINUX_X86_64 else "tensorflow"
    assert would_install(tmp_path, wheels, {}, "shallowdeep[cpu]") == ["shallowdeep", expected]


def test_the_licence_is_an_spdx_expression():
    assert tomllib.loads(PYPROJECT.read_text())["project"]["license"] == "MIT"


def _name(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _imports(tree: ast.Module) -> Iterator[tuple[str, bool]]:
    """(top-level module, whether the import runs when the file is imported) of each import."""
    def walk(node: ast.AST, at_import: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                yield from ((alias.name.split(".")[0], at_import) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                yield child.module.split(".")[0], at_import
            else:
                inside = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from walk(child, at_import and not inside)
    yield from walk(tree, True)


def test_every_library_the_package_imports_is_declared():
    """A module imported when shallowdeep is must be a dependency of the package (a user with
    any extra, or none, has it); one imported inside a function only may come from an extra
    instead (the Keras backends, Ray), and is asked for only where that extra is in use."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    core = {_name(Requirement(text).name) for text in project["dependencies"]}
    from_extras = {_name(Requirement(text).name) for texts in project["optional-dependencies"].values()
                   for text in texts}
    distributions = importlib.metadata.packages_distributions()
    undeclared = []
    for path in sorted((PYPROJECT.parent / "src" / "shallowdeep").rglob("*.py")):
        for module, at_import in _imports(ast.parse(path.read_text(), filename=str(path))):
            if module in sys.stdlib_module_names or module == "shallowdeep" or module == "__future__":
                continue
            names = {_name(name) for name in distributions.get(module, [module])}
            if not names & (core if at_import else core | from_extras):
                undeclared.append(f"{path.relative_to(PYPROJECT.parent)}: {module} ({', '.join(sorted(names))})"
                                  f"{'' if at_import else ' inside a function'}")
    assert not undeclared, "imported, not declared in pyproject.toml:\n" + "\n".join(undeclared)
