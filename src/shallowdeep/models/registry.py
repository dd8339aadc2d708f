"""Model builders, registered by name (after timm's ``list_models`` / ``create_model``).

Every builder takes the input shape, the number of outputs and their activation (decided by the
task: 10 softmax outputs for digits, 1 sigmoid output for a binary task), a Keras dtype policy
(``"float32"`` or ``"mixed_bfloat16"``) and its own keyword arguments, which an experiment file
sets under ``[model.args]``. Register a builder of your own with :func:`register_model`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from shallowdeep.backend import keras
from shallowdeep.errors import ShallowDeepError

_REGISTRY: dict[str, Callable[..., keras.Model]] = {}


class ModelError(ShallowDeepError, ValueError):
    """A model cannot be built with the arguments given."""


def register_model(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Decorator: make ``builder`` available to experiment files under its function name."""
    _REGISTRY[builder.__name__] = builder
    return builder


def list_models() -> list[str]:
    """The names of all registered builders, sorted."""
    return sorted(_REGISTRY)


def model_arguments(name: str) -> dict[str, Any]:
    """A builder's own arguments and their defaults (what ``[model.args]`` may set)."""
    builder = _builder(name)
    shared = {"input_shape", "outputs", "output_activation", "dtype"}
    return {
        parameter.name: parameter.default
        for parameter in inspect.signature(builder).parameters.values()
        if parameter.name not in shared
    }


def _builder(name: str) -> Callable[..., keras.Model]:
    if name not in _REGISTRY:
        raise ModelError(f"no model builder named {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(
    name: str,
    input_shape: tuple[int, ...],
    outputs: int,
    output_activation: str = "softmax",
    dtype: str = "float32",
    **arguments: Any,
) -> keras.Model:
    """Build the registered model ``name``; unknown arguments are refused by name."""
    allowed = model_arguments(name)
    unknown = sorted(set(arguments) - set(allowed))
    if unknown:
        raise ModelError(
            f"model {name!r} has no argument {', '.join(unknown)}; it takes: {', '.join(allowed)}"
        )
    return _builder(name)(
        input_shape=tuple(input_shape), outputs=outputs,
        output_activation=output_activation, dtype=dtype, **arguments,
    )
