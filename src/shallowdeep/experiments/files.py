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


def read_experiment_file(name_or_path: str | Path) -> tuple[dict, str]:
    """The raw table of a preset (by name) or of a TOML file (by path), and its source name."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"experiment file {path} does not exist")
        text, source, default_name = path.read_text(encoding="utf-8"), str(path), path.stem
    else:
        if str(name_or_path) not in list_presets():
            raise ConfigError(
                f"no preset named {str(name_or_path)!r} and no such file; presets: "
                f"{', '.join(list_presets())} (or give a path to a .toml file)"
            )
        entry = _preset_folder() / f"{name_or_path}.toml"
        text, source, default_name = entry.read_text(encoding="utf-8"), f"preset {name_or_path}", str(name_or_path)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    table.setdefault("name", default_name)
    return table, source
