"""Weight accounting: every layer's weights and biases, with the formula that gives them.

This answers the lab's questions 2 and 3 from the model itself:

- Dense, ``n_in -> n_out``: ``n_in * n_out`` weights + ``n_out`` biases.
- Conv2D, ``k_h x k_w`` kernel, ``c_in -> c_out`` channels: ``k_h * k_w * c_in * c_out`` weights +
  ``c_out`` biases (one kernel per output channel, one bias per output channel).
- BatchNormalization over ``c`` channels: ``2c`` trained (scale, offset) + ``2c`` running statistics.
- Pooling, Flatten, Dropout, Activation: no parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from shallowdeep.backend import keras


@dataclass(frozen=True)
class LayerWeights:
    """One row of the weight table.

    ``layer_type`` is the Keras class (``"Dense"``, ``"Conv2D"``, ...), for code to test;
    ``kind`` describes the layer for a reader (``"Conv2D 5x5, 32 -> 32"``).
    """

    layer: str
    layer_type: str
    kind: str
    output_shape: tuple
    weights: int
    biases: int
    formula: str

    @property
    def total(self) -> int:
        return self.weights + self.biases

    def to_record(self) -> dict:
        """JSON-ready, with the total spelled out for readers of the file."""
        return {**asdict(self), "output_shape": list(self.output_shape), "total": self.total}

    @classmethod
    def from_record(cls, record: dict) -> LayerWeights:
        """The row written by :meth:`to_record`; files written before ``layer_type`` existed take it
        from the first word of ``kind``."""
        fields = {key: record[key] for key in ("layer", "kind", "weights", "biases", "formula")}
        return cls(layer_type=record.get("layer_type", record["kind"].split(" ")[0]),
                   output_shape=tuple(record["output_shape"]), **fields)


def _shape(tensor) -> tuple:
    return tuple(tensor.shape[1:])


def _row(layer) -> LayerWeights:
    kind = type(layer).__name__
    out = _shape(layer.output)
    if isinstance(layer, keras.layers.Dense):
        n_in, n_out = layer.kernel.shape
        weights, biases = n_in * n_out, (n_out if layer.use_bias else 0)
        formula = f"{n_in}*{n_out} + {biases}" if biases else f"{n_in}*{n_out}"
        return LayerWeights(layer.name, kind, f"Dense {n_in} -> {n_out}", out, weights, biases,
                            f"{formula} = {weights + biases:,}")
    if isinstance(layer, keras.layers.Conv2D):
        k_h, k_w, c_in, c_out = layer.kernel.shape
        weights, biases = k_h * k_w * c_in * c_out, (c_out if layer.use_bias else 0)
        formula = f"{k_h}*{k_w}*{c_in}*{c_out}" + (f" + {biases}" if biases else "")
        return LayerWeights(layer.name, kind, f"Conv2D {k_h}x{k_w}, {c_in} -> {c_out}", out, weights,
                            biases, f"{formula} = {weights + biases:,}")
    if isinstance(layer, keras.layers.BatchNormalization):
        channels = layer.gamma.shape[0]
        return LayerWeights(layer.name, kind, f"BatchNormalization {channels}", out, 2 * channels,
                            2 * channels, f"2*{channels} + 2*{channels} (running mean, variance) = {4 * channels:,}")
    count = layer.count_params() if layer.built else 0
    if count:
        return LayerWeights(layer.name, kind, kind, out, count, 0, f"{count:,}")
    return LayerWeights(layer.name, kind, kind, out, 0, 0, "no parameters")


def _leaf_layers(model: keras.Model):
    """The model's layers in order, a nested model (e.g. behind an augmentation layer) opened up."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def weight_table(model: keras.Model) -> list[LayerWeights]:
    """One row per layer (input layers excluded), in the model's order."""
    return [_row(layer) for layer in _leaf_layers(model)]


def total_formula(rows: list[LayerWeights]) -> str:
    """How the total follows, e.g. ``160 + 4,128 + 4,128 + 401,472 + 650 = 410,538``."""
    parts = [row.total for row in rows if row.total]
    return " + ".join(f"{part:,}" for part in parts) + f" = {sum(parts):,}"


def weight_table_markdown(rows: list[LayerWeights], input_shape: tuple[int, ...]) -> str:
    """The weight table as Markdown, ending with the total and how it adds up."""
    lines = [
        f"Input: {input_shape} ({_count(input_shape):,} values)",
        "",
        "| layer | type | output shape | weights | biases | formula |",
        "|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.layer} | {row.kind} | {row.output_shape} | {row.weights:,} | {row.biases:,} | {row.formula} |"
        )
    lines += ["", f"Total: {total_formula(rows)} parameters."]
    return "\n".join(lines)


def _count(shape: tuple) -> int:
    total = 1
    for side in shape:
        total *= side
    return total
