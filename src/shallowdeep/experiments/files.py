"""Experiment files: reading TOML, writing a resolved experiment back as TOML, shipped presets."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from shallowdeep.errors import ShallowDeepError


class ConfigError(ShallowDeepError, ValueError):
    """An experiment file or override is wrong; the message names file, key, value and the fix."""


def toml_value(value: Any) -> str:
    """One value as TOML writes it (``2``, ``0.5``, ``"adam"``, ``[64, 32]``, ``{ a = 1 }``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def dump_toml(table: dict, prefix: str = "") -> str:
    """``table`` as TOML: scalars and lists inline, sub-tables as ``[section]`` (small, no dependency)."""
    lines = [f"{_toml_key(k)} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict) or not v and not prefix]
    for key, value in table.items():
        if isinstance(value, dict) and (value or prefix):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            lines += ["", f"[{name}]", dump_toml(value, name)]
    return "\n".join(lines).replace("\n\n\n", "\n\n").strip("\n") + ("\n" if not prefix else "")


def parse_toml_value(text: str) -> Any:
    """``text`` read as a TOML value (``2``, ``0.5``, ``"adam"``, ``[64, 32]``); else the text itself."""
    try:
        return tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _preset_folder():
    return resources.files("shallowdeep.experiments") / "presets"


def list_presets() -> list[str]:
    """Names of the experiment files shipped with shallowdeep."""
    return sorted(entry.name[: -len(".toml")] for entry in _preset_folder().iterdir()
                  if entry.name.endswith(".toml"))


def read_toml(name_or_path: str | Path, shipped: Any, *, file_kind: str, shipped_kind: str,
              shipped_names: list[str]) -> tuple[dict, str, Path | None]:
    """A shipped TOML file by name (``shipped/<name>.toml``) or a TOML file by path: its table (with
    its name, by default the file's), its source for messages, and the folder a path lies in."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{file_kind} file {path} does not exist")
        text, source, folder, default_name = path.read_text(encoding="utf-8"), str(path), path.parent, path.stem
    else:
        if str(name_or_path) not in shipped_names:
            raise ConfigError(
                f"no {shipped_kind} named {str(name_or_path)!r} and no such file; {shipped_kind}s: "
                f"{', '.join(shipped_names)} (or give a path to a .toml file)"
            )
        entry = shipped / f"{name_or_path}.toml"
        text, source, folder, default_name = (entry.read_text(encoding="utf-8"), f"{shipped_kind} {name_or_path}",
                                              None, str(name_or_path))
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    table.setdefault("name", default_name)
    return table, source, folder


def read_experiment_file(name_or_path: str | Path) -> tuple[dict, str]:
    """The raw table of a preset (by name) or of a TOML file (by path), and its source name."""
    table, source, _ = read_toml(name_or_path, _preset_folder(), file_kind="experiment", shipped_kind="preset",
                                 shipped_names=list_presets())
    return table, source
