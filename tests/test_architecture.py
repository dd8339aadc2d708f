"""The package's shape: imports point one way along the data path, and importing it is cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "shallowdeep"

#: The data path, upstream first: a module may import from its own layer and the layers above it.
LAYERS = [
    {"version", "errors", "paths", "storage", "cache", "memory", "backend"},
    {"data"},
    {"features"},
    {"plots"},
    {"models"},
    {"experiments"},
    {"prepare", "evaluation", "epochs"},
    {"runs", "outcomes"},
    {"training", "predict", "generalisation", "adaptation"},
    {"estimates", "sweeps"},
    {"reporting"},
    {"lab"},
    {"explorer"},
    {"api"},
    {"cli", "__main__", "__init__"},
]


def _component(module: str) -> str:
    """``shallowdeep.models.builders`` -> ``models``; ``shallowdeep`` and names defined in the
    package's ``__init__`` -> ``__init__``."""
    parts = module.split(".")
    if len(parts) == 1 or not any((PACKAGE / parts[1]).with_suffix(suffix).exists() for suffix in ("", ".py")):
        return "__init__"
    return parts[1]


def _imports() -> dict[str, set[str]]:
    """Every component and the components its files import, anywhere in the file (functions too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(part for part in relative.parts if part != "__init__")
        here = _component(module) if path.name != "__init__.py" or "." in module else "__init__"
        targets = graph.setdefault(here, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shallowdeep"):
                names = [node.module] if node.module != "shallowdeep" else [f"shallowdeep.{a.name}" for a in node.names]
                targets.update(_component(name) for name in names)
            elif isinstance(node, ast.Import):
                targets.update(_component(a.name) for a in node.names if a.name.startswith("shallowdeep."))
        targets.discard(here)
    return graph


def test_every_module_has_a_place_on_the_data_path():
    placed = set().union(*LAYERS)
    assert set(_imports()) - placed == set()


def test_imports_point_one_way_along_the_data_path():
    layer = {name: index for index, names in enumerate(LAYERS) for name in names}
    upstream_imports_downstream = sorted(
        f"{source} imports {target}" for source, targets in _imports().items() for target in targets
        if target in layer and layer[target] > layer[source]
    )
    assert upstream_imports_downstream == []


def test_there_is_no_import_cycle():
    graph = _imports()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path + [node, target]
            if target not in state:
                found = visit(target, path + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    cycles = [cycle for node in sorted(graph) if node not in state for cycle in [visit(node, [])] if cycle]
    assert cycles == []


def test_the_cli_is_a_door_onto_the_api():
    """Every command calls the Python API, and wires nothing of its own: the CLI imports the API and
    the error type it prints, nothing else of the package."""
    assert _imports()["cli"] == {"api", "errors"}


@pytest.mark.parametrize("statement", ["import shallowdeep", "import shallowdeep; shallowdeep.presets('seed')",
                                       "import shallowdeep.plots", "import shallowdeep.cli",
                                       "import shallowdeep.cli; shallowdeep.cli.build_parser()"])
def test_importing_shallowdeep_does_not_load_keras_or_its_backend(statement):
    script = f"import sys; {statement}; print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_public_function_is_hidden_by_a_module_of_the_same_name():
    """Importing ``shallowdeep.x`` sets the package's attribute ``x`` to the module: a function
    ``sd.x`` would then be replaced by it."""
    import shallowdeep

    modules = {path.stem for path in PACKAGE.glob("*.py")} | {path.name for path in PACKAGE.iterdir() if path.is_dir()}
    assert set(shallowdeep._LAZY) & modules == set()
