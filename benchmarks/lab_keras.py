"""The seed models written the way the lab wrote them: plain ``keras.Sequential``, no shallowdeep.

The benchmark trains these beside shallowdeep's own models to measure what the toolkit costs.
Parameter counts equal the reference report's (the benchmark checks it).
"""

from __future__ import annotations

import keras
from keras import layers


def _mlp(inputs: int, hidden: list[tuple[int, str]], dropout: float) -> keras.Model:
    stack = [keras.Input((inputs,))]
    for units, activation in hidden:
        stack.append(layers.Dense(units, activation=activation))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(10, activation="softmax"))
    return keras.Sequential(stack)


def _report_cnn(kernel: int, dense: int, dropout: float) -> keras.Model:
    # As the report's code runs: three chained convolutions, one pool.
    stack = [keras.Input((28, 28, 1))]
    stack += [layers.Conv2D(32, (kernel, kernel), padding="same", activation="relu") for _ in range(3)]
    stack += [layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(dense, activation="relu")]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(10, activation="softmax"))
    return keras.Sequential(stack)


def _xray_cnn() -> keras.Model:
    stack = [keras.Input((128, 128, 1))]
    for filters in (8, 16, 32, 64, 128):
        stack += [layers.Conv2D(filters, (3, 3), padding="same", activation="relu"), layers.MaxPooling2D((2, 2))]
    stack += [layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(16, activation="relu"),
              layers.Dense(1, activation="sigmoid")]
    return keras.Sequential(stack)


BUILDERS = {
    "raw-1": lambda: _mlp(784, [(512, "sigmoid")], 0.0),
    "raw-2": lambda: _mlp(784, [(512, "sigmoid")], 0.5),
    "raw-3": lambda: _mlp(784, [(512, "sigmoid"), (256, "relu")], 0.5),
    "hog-1": lambda: _mlp(392, [(64, "relu")], 0.5),
    "hog-2": lambda: _mlp(784, [(64, "relu")], 0.5),
    "hog-3": lambda: _mlp(784, [(128, "relu")], 0.5),
    "cnn-1": lambda: _report_cnn(2, 64, 0.0),
    "cnn-2": lambda: _report_cnn(2, 128, 0.5),
    "cnn-3": lambda: _report_cnn(5, 128, 0.5),
    "xray-1": _xray_cnn,
}


def lab_model(name: str) -> keras.Model:
    """The compiled lab-style model for a seed preset: RMSprop for MNIST, Adam for the X-rays."""
    model = BUILDERS[name]()
    if name == "xray-1":
        model.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=keras.optimizers.RMSprop(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model
