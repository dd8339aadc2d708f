"""Model builders, registered by name (after timm's ``list_models`` / ``create_model``).

Every builder takes the input shape, the number of outputs and their activation (decided by the
task: 10 softmax outputs for digits, 1 sigmoid output for a binary task), a Keras dtype policy
(``"float32"`` or ``"mixed_bfloat16"``) and its own keyword arguments, which an experiment file
sets under ``[model.args]``. Register a builder of your own with :func:`register_model`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shallowdeep.errors import ShallowDeepError

if TYPE_CHECKING:
    import keras

_REGISTRY: dict[str, Callable[..., keras.Model]] = {}


class ModelError(ShallowDeepError, ValueError):
    """A model cannot be built with the arguments given."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 1 else "a positive integer"


def _fraction_below_one(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0
    return None if ok else "a number in [0, 1)"


def _units(allow_empty: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = isinstance(value, (list, tuple)) and (allow_empty or value) and all(_is_int(v) and v >= 1 for v in value)
        return None if ok else "a list of positive integers" + ("" if allow_empty else " (at least one)")
    return check


def _blocks(value: Any) -> str | None:
    ok = isinstance(value, (list, tuple)) and value and all(_units(False)(block) is None for block in value)
    return None if ok else "a list of blocks, each a list of positive integers (filters per convolution)"


#: What the builders' numeric arguments allow; one meaning per name, whatever the builder.
ARGUMENT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "hidden": _units(allow_empty=False),
    "filters": _units(allow_empty=False),
    "dense": _units(allow_empty=True),
    "blocks": _blocks,
    "kernel_size": _positive_int,
    "pool_size": _positive_int,
    "stride": _positive_int,
    "dropout": _fraction_below_one,
    "block_dropout": _fraction_below_one,
}


def argument_problem(argument: str, value: Any) -> str | None:
    """What ``argument`` allows, if ``value`` is not allowed; None when it is (or is not checked)."""
    check = ARGUMENT_CHECKS.get(argument)
    return check(value) if check else None


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
    for argument, value in arguments.items():
        problem = argument_problem(argument, value)
        if problem:
            raise ModelError(f"{argument} = {value!r} is not allowed; expected {problem}")
    return _builder(name)(
        input_shape=tuple(input_shape), outputs=outputs,
        output_activation=output_activation, dtype=dtype, **arguments,
    )
