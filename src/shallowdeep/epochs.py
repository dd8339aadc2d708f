"""An epoch of training or validation as a few compiled calls over data placed on the device once.

Calling Keras' ``fit`` once per epoch (which a resumable run with its own epoch order needs) pays
fixed costs each epoch that grow, relative to the arithmetic, with the hardware's speed: a
shuffled copy of the training set on the host, a new data adapter that copies it again (and,
on a GPU, sends it over), ``fit`` and ``evaluate`` started anew, and on PyTorch and JAX a call
into the backend per batch. Here:

- the training and validation arrays are placed on the device once per run (:func:`to_device`:
  the default device of the backend; on a CPU, PyTorch and TensorFlow read the NumPy array's
  memory in place), the training images as their uint8 pixels where the features are the pixels
  scaled, each batch's pixels divided on the device (``divide_by``);
- the optimizer's update of the weights, on TensorFlow, is one XLA function for models of at
  least :data:`COMPILED_UPDATE_MIN_WEIGHTS` weights whose step XLA does not compile already (see
  :class:`_TensorFlowRunner`);
- an epoch is a vector of indices (its order, drawn on the host from ``(seed, epoch)`` by the
  caller; 4 bytes an example) and, with mixup, each example's partner and weight; each batch is
  gathered and blended on the device;
- the model's own train and test steps (Keras': loss, class weights, metrics, loss scaling) run
  ``steps_per_call`` batches per compiled call: a ``tf.function`` loop on TensorFlow, one
  ``jax.jit`` function with ``lax.fori_loop`` over the model's stateless step on JAX on an
  accelerator (on the CPU, where XLA runs loop bodies slowly, one jitted step per batch). PyTorch runs
  one batch per Python call, gathered on the device: Keras' PyTorch trainer has no multi-step
  call, and ``torch.compile`` of the model's train step did not pay on the CPU (2-core AMD EPYC
  Zen 4, PyTorch 2.13, bf16: raw-2 10-15 % faster per step after a 35 s compile, cnn-1 1.5x
  slower after 27 s).

A run trains on the same batches as with ``fit`` (the last one smaller when the batch size does
not divide the examples), with the same loss, weights and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shallowdeep.backend import keras
from shallowdeep.memory import is_aligned


def to_device(array: np.ndarray):
    """``array`` as a tensor on the backend's default device, for a whole run.

    TensorFlow's ``convert_to_tensor`` copies a NumPy array (measured: a 327 MB array took 327 MB
    more, so the training set was held twice). On a CPU, TensorFlow reads the array's own memory
    through DLPack instead, where that memory is writable, C-contiguous and starts on a
    64-byte boundary (:mod:`shallowdeep.memory`: TensorFlow's kernels abort on any other);
    other arrays, and arrays for a GPU, are copied. PyTorch on a CPU reads the array in place
    as it is; JAX copies it.
    """
    if keras.backend.backend() == "tensorflow" and _tensorflow_reads_in_place(array):
        import tensorflow as tf

        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return keras.ops.convert_to_tensor(array)


def _tensorflow_reads_in_place(array: np.ndarray) -> bool:
    import tensorflow as tf

    return array.size > 0 and array.flags.writeable and is_aligned(array) and not tf.config.list_logical_devices("GPU")


@dataclass(frozen=True)
class EpochPlan:
    """The examples an epoch visits, in order, and with mixup the partner and weight of each.

    With mixup, example ``order[i]`` is blended with ``partners[i]``: ``w x_a + (1 - w) x_b`` and
    the same for targets, ``w = weights[i]`` (indices into the training arrays).
    """

    order: np.ndarray
    partners: np.ndarray | None = None
    weights: np.ndarray | None = None


def _blocks(length: int, batch_size: int, steps_per_call: int) -> list[tuple[int, int, int]]:
    """(first example, batches, batch size) of each call over ``length`` examples: full calls of
    ``steps_per_call`` batches, then what is left of full batches, then the smaller last batch."""
    full_batches, rest = divmod(length, batch_size)
    calls = [(start * batch_size, min(steps_per_call, full_batches - start), batch_size)
             for start in range(0, full_batches, steps_per_call)]
    if rest:
        calls.append((full_batches * batch_size, 1, rest))
    return calls


def pixel_values(divide_by: float) -> np.ndarray:
    """The float32 value of each uint8 pixel, 0..255, divided by ``divide_by`` as NumPy divides."""
    return np.arange(256, dtype=np.uint8) / np.float32(divide_by)


def gather_batch(x, y, w, indices, partners=None, weights=None, *, divisor=None, values=None):
    """The batch at ``indices`` of the arrays ``x``, ``y`` (and sample weights ``w``), blended with
    the examples at ``partners`` where mixup is on.

    Where ``divisor`` (a float32 scalar on the device) or ``values`` (:func:`pixel_values`) is
    given, ``x`` holds uint8 pixels, which become the prepared features to the bit: each divided
    by ``divisor`` in float32, or looked up in ``values``. Which one is the backend's to choose
    (:class:`EpochRunner`): XLA:CPU's division is not correctly rounded (JAX 0.10.2: 126 of the
    256 values differ from NumPy's in the last bit), so JAX looks up; TensorFlow's gather of one
    element at a time can be slow (2-core Xeon with AMX: raw-1's step 3.1 ms with the lookup, 2.4
    dividing; 2-core AMD EPYC Zen 4: the same within noise, benchmarks/steps.py), so TensorFlow
    and PyTorch divide. The divisor reaches a compiled function as an argument, never as a
    constant: TensorFlow's graph optimizer turns a division by a constant into a product with its
    reciprocal, which rounds differently."""
    take = keras.ops.take

    def inputs(at):
        pixels = take(x, at, axis=0)
        if values is not None:
            return take(values, keras.ops.cast(pixels, "int32"), axis=0)
        return pixels if divisor is None else keras.ops.divide(keras.ops.cast(pixels, "float32"), divisor)

    batch_x, batch_y = inputs(indices), take(y, indices, axis=0)
    if partners is not None:
        x_weight = keras.ops.reshape(weights, (-1,) + (1,) * (len(batch_x.shape) - 1))
        y_weight = keras.ops.reshape(weights, (-1,) + (1,) * (len(batch_y.shape) - 1))
        batch_x = x_weight * batch_x + (1 - x_weight) * inputs(partners)
        batch_y = y_weight * batch_y + (1 - y_weight) * take(y, partners, axis=0)
    return (batch_x, batch_y) if w is None else (batch_x, batch_y, take(w, indices, axis=0))


class EpochRunner:
    """Trains and validates one compiled model over arrays placed on the device once.

    ``sample_weight`` (one per training example, from class weights) may be None. ``progress`` of
    :meth:`train_epoch` is called with the number of batches done after each compiled call.
    With ``divide_by``, ``x_train`` holds uint8 pixels, which each batch turns into ``pixel /
    divide_by`` on the device (:func:`gather_batch`, :class:`shallowdeep.prepare.PreparedData`),
    dividing or, where the backend's division is not NumPy's (``looks_up_pixels``), looking up.
    """

    #: Pixels become features through a table of their 256 values rather than a division.
    looks_up_pixels = False

    def __init__(self, model: keras.Model, x_train: np.ndarray, y_train: np.ndarray,
                 sample_weight: np.ndarray | None, x_val: np.ndarray, y_val: np.ndarray, *,
                 batch_size: int, steps_per_call: int, divide_by: float | None = None):
        self.model = model
        self.batch_size = batch_size
        self.steps_per_call = steps_per_call
        #: How :func:`gather_batch` turns the training pixels into features: ``divisor`` or ``values``.
        self.pixel_scale = {}
        if divide_by is not None:
            self.pixel_scale = ({"values": to_device(pixel_values(divide_by))} if self.looks_up_pixels
                                else {"divisor": to_device(np.asarray(divide_by, dtype=np.float32))})
        self.train_size, self.val_size = len(x_train), len(x_val)
        #: Seconds spent in training and validation passes, from their first call until their
        #: results are read back (which waits for the device): the compiled steps, and on PyTorch
        #: and JAX-on-CPU their calls from Python.
        self.pass_seconds = 0.0
        weights = None if sample_weight is None else to_device(np.asarray(sample_weight, dtype=np.float32))
        self.train_arrays = (to_device(x_train), to_device(y_train), weights)
        self.val_arrays = (to_device(x_val), to_device(y_val), None)
        # The variables of the model, its optimizer, loss and metrics must exist before the first
        # compiled call (a compiled loop cannot create them); Keras' fit builds them so too.
        first_x = x_train[:batch_size] if divide_by is None else pixel_values(divide_by)[x_train[:batch_size]]
        model._symbolic_build(data_batch=(first_x, y_train[:batch_size]))

    @property
    def batches(self) -> int:
        """Batches in a training epoch."""
        return -(-self.train_size // self.batch_size)

    def train_epoch(self, plan: EpochPlan, progress: Callable[[int], None] | None = None) -> dict[str, float]:
        """One epoch in ``plan``'s order; the epoch's mean loss and metrics."""
        started = time.perf_counter()
        mixed = plan.partners is not None
        order = np.asarray(plan.order, dtype=np.int32)
        partners = np.asarray(plan.partners, dtype=np.int32) if mixed else None
        weights = np.asarray(plan.weights, dtype=np.float32) if mixed else None
        self.model.reset_metrics()
        self._begin(training=True)
        done = 0
        for first, steps, size in _blocks(len(order), self.batch_size, self.steps_per_call):
            def block(values):
                return None if values is None else values[first:first + steps * size].reshape(steps, size)
            self._train_call(block(order), block(partners), block(weights))
            done += steps
            if progress is not None:
                progress(done)
        self._end()
        results = self._results()
        self.pass_seconds += time.perf_counter() - started
        return results

    def validate(self, examples: np.ndarray | None = None) -> dict[str, float]:
        """Loss and metrics over the validation set in order, or over its ``examples`` (the probe's)."""
        started = time.perf_counter()
        order = np.arange(self.val_size, dtype=np.int32) if examples is None else np.asarray(examples, dtype=np.int32)
        self.model.reset_metrics()
        self._begin(training=False)
        for first, steps, size in _blocks(len(order), self.batch_size, self.steps_per_call):
            self._test_call(order[first:first + steps * size].reshape(steps, size))
        self._end()
        results = self._results()
        self.pass_seconds += time.perf_counter() - started
        return results

    def _results(self) -> dict[str, float]:
        return {name: float(keras.ops.convert_to_numpy(value))
                for name, value in self.model.get_metrics_result().items()}

    def _begin(self, training: bool) -> None:
        """Before a pass over the data (the model's variables are up to date)."""

    def _end(self) -> None:
        """After a pass: the model's variables must hold what the device computed."""

    def _train_call(self, indices: np.ndarray, partners: np.ndarray | None, weights: np.ndarray | None) -> None:
        raise NotImplementedError

    def _test_call(self, indices: np.ndarray) -> None:
        raise NotImplementedError


#: Trainable weights from which TensorFlow's optimizer update is compiled with XLA by default.
#: Steps per second, compiled update against Keras' own, side by side (bf16,
#: ``benchmarks/results/steps-xeon.json``):
#: raw-1, raw-2, raw-3 (407k-536k weights): 1.09x, 1.20x, 1.18x (2-core Xeon with AMX);
#: cnn-1 (411k) 1.09x, xray-1 (164k) 1.03x (2-core Xeon with AMX);
#: hog-3, hog-2, hog-1 (102k, 51k, 26k): 1.00x, 0.97x, 0.98x (another run 0.84x) (2-core Xeon with AMX),
#: where the call costs as much as the passes it saves.
COMPILED_UPDATE_MIN_WEIGHTS = 200_000


class _TensorFlowRunner(EpochRunner):
    """A ``tf.function`` runs a call's batches in a ``tf.while_loop``, the step compiled as Keras
    compiles it (XLA where Keras' ``jit_compile`` says so). Shapes are left open, so one trace
    serves every call, the smaller last batch included.

    Where the step is not XLA-compiled and the model has :data:`COMPILED_UPDATE_MIN_WEIGHTS`
    weights or more, the optimizer's update of the weights is: TensorFlow runs each of its
    element-wise operations as a kernel of its own, each a pass over every weight (RMSprop: about
    ten per weight matrix a step), where XLA fuses them into one pass, at a fixed cost per call.
    Compiling the whole step with XLA instead made raw-2 4-5 times slower (2-core Xeon with AMX;
    XLA:CPU's matrix products)."""

    def __init__(self, *args, compile_update: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        model = self.model
        if compile_update is None:
            weights = sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)
            compile_update = weights >= COMPILED_UPDATE_MIN_WEIGHTS
        self._compiled_apply = compiled_optimizer_apply(model) if compile_update and not model.jit_compile else None
        train_step = tf.function(model.train_step, jit_compile=model.jit_compile, reduce_retracing=True)
        test_step = tf.function(model.test_step, jit_compile=model.jit_compile, reduce_retracing=True)

        def loop(step, batch, count):
            def body(i):
                step(batch(i))
                return i + 1
            tf.while_loop(lambda i: i < count, body, [tf.constant(0)])

        @tf.autograph.experimental.do_not_convert
        def train(indices, divisor, partners=None, weights=None):
            loop(train_step, lambda i: gather_batch(*self.train_arrays, indices[i],
                                               None if partners is None else partners[i],
                                               None if weights is None else weights[i],
                                               **({"divisor": divisor} if self.pixel_scale else {})),
                 tf.shape(indices)[0])

        @tf.autograph.experimental.do_not_convert
        def test(indices):
            loop(test_step, lambda i: gather_batch(*self.val_arrays, indices[i]), tf.shape(indices)[0])

        # The divisor is an argument: a captured scalar would be a constant in the graph (above).
        matrix, scalar = tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.float32)
        self._train_plain = tf.function(train, input_signature=[matrix, scalar])
        self._train_mixed = tf.function(train, input_signature=[matrix, scalar, matrix,
                                                                tf.TensorSpec([None, None], tf.float32)])
        self._divisor_argument = self.pixel_scale.get("divisor", tf.constant(1.0))
        self._test = tf.function(test, input_signature=[matrix])

    def _train_call(self, indices, partners, weights):
        # The train step is traced inside the first call, and keeps the compiled update it saw
        # then: the optimizer is left as it was for anything else that trains the model.
        optimizer = self.model.optimizer
        if self._compiled_apply is not None:
            optimizer.apply = self._compiled_apply
        try:
            if partners is None:
                self._train_plain(indices, self._divisor_argument)
            else:
                self._train_mixed(indices, self._divisor_argument, partners, weights)
        finally:
            optimizer.__dict__.pop("apply", None)

    def _test_call(self, indices):
        self._test(indices)


def compiled_optimizer_apply(model: keras.Model) -> Callable:
    """``model.optimizer.apply`` for the model's trainable weights as one XLA function (learning
    rate schedule, clipping, loss scaling and the update itself); any other weights, as before."""
    import tensorflow as tf

    optimizer = model.optimizer
    weights = list(model.trainable_variables)
    own_apply = type(optimizer).apply
    compiled = tf.function(lambda gradients: own_apply(optimizer, gradients, weights), jit_compile=True)

    def apply(gradients, trainable_variables=None):
        if trainable_variables is None or [id(v) for v in trainable_variables] == [id(v) for v in weights]:
            return compiled(list(gradients))
        return own_apply(optimizer, gradients, trainable_variables)

    return apply


class _JaxRunner(EpochRunner):
    """On an accelerator, one ``jax.jit`` function per kind of call loops with ``lax.fori_loop``
    over the model's stateless step; calls are padded to ``steps_per_call`` batches and told how
    many to run, so one compiled function serves them all, and one more the smaller last batch.
    On the CPU, one jitted step per batch: XLA:CPU runs a while loop's body without its fast
    kernels (a convolution inside ``fori_loop`` measured 80 times slower than the same steps
    called one by one, jax-ml/jax#12868; cnn-1 trained 14 times slower), and JAX's asynchronous
    dispatch already hides the per-call cost there. Either way the state (weights, optimizer,
    metrics, random generators) stays on the device for a whole pass and goes back into the
    model's variables after it. Pixels are looked up (XLA's division rounds differently from
    NumPy's, :func:`gather_batch`), the table passed to each call as an argument."""

    looks_up_pixels = True

    def __init__(self, *args, loop_on_device: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        import jax

        model = self.model
        self.loop_on_device = jax.default_backend() != "cpu" if loop_on_device is None else loop_on_device

        def train_one(state, arrays, values, indices, partners, weights):
            return model.train_step(state, gather_batch(*arrays, indices, partners, weights, values=values))[1]

        def test_one(state, arrays, indices):
            return model.test_step(state, gather_batch(*arrays, indices))[1]

        self._train_one = jax.jit(train_one, donate_argnums=0)
        self._test_one = jax.jit(test_one, donate_argnums=0)

        def train(state, arrays, values, indices, partners, weights, count):
            def body(i, state):
                batch = gather_batch(*arrays, indices[i], None if partners is None else partners[i],
                                None if weights is None else weights[i], values=values)
                return model.train_step(state, batch)[1]
            return jax.lax.fori_loop(0, count, body, state)

        def test(state, arrays, indices, count):
            def body(i, state):
                return model.test_step(state, gather_batch(*arrays, indices[i]))[1]
            return jax.lax.fori_loop(0, count, body, state)

        self._train = jax.jit(train, donate_argnums=0)
        self._test = jax.jit(test, donate_argnums=0)
        self._values = self.pixel_scale.get("values")
        self._variables: list[list] = []
        self._state: tuple = ()

    def _begin(self, training: bool) -> None:
        model = self.model
        self._variables = [model.trainable_variables, model.non_trainable_variables,
                           *([model.optimizer.variables] if training else []), model.metrics_variables]
        self._state = tuple([variable.value for variable in group] for group in self._variables)

    def _end(self) -> None:
        for group, values in zip(self._variables, self._state):
            for variable, value in zip(group, values):
                variable.assign(value)
        self._variables, self._state = [], ()

    def _pad(self, values: np.ndarray | None) -> np.ndarray | None:
        """A call's rows padded to ``steps_per_call`` batches (the padding is never run)."""
        if values is None or values.shape[1] != self.batch_size or len(values) == self.steps_per_call:
            return values
        return np.concatenate([values, np.repeat(values[:1], self.steps_per_call - len(values), axis=0)])

    def _train_call(self, indices, partners, weights):
        if self.loop_on_device:
            self._state = self._train(self._state, self.train_arrays, self._values, self._pad(indices),
                                      self._pad(partners), self._pad(weights), np.int32(len(indices)))
            return
        for i in range(len(indices)):
            self._state = self._train_one(self._state, self.train_arrays, self._values, indices[i],
                                          None if partners is None else partners[i],
                                          None if weights is None else weights[i])

    def _test_call(self, indices):
        if self.loop_on_device:
            self._state = self._test(self._state, self.val_arrays, self._pad(indices), np.int32(len(indices)))
            return
        for row in indices:
            self._state = self._test_one(self._state, self.val_arrays, row)


class _TorchRunner(EpochRunner):
    """One batch per call of the model's eager train step, gathered on the device."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import torch

        self._torch = torch
        self._device = self.train_arrays[0].device

    def _on_device(self, values: np.ndarray | None):
        if values is None:
            return None
        return self._torch.as_tensor(values.astype(np.int64) if values.dtype.kind == "i" else values,
                                     device=self._device)

    def _train_call(self, indices, partners, weights):
        self.model.train()
        indices, partners, weights = (self._on_device(values) for values in (indices, partners, weights))
        for i in range(len(indices)):
            self.model.train_step(gather_batch(*self.train_arrays, indices[i], None if partners is None else partners[i],
                                          None if weights is None else weights[i], **self.pixel_scale))

    def _test_call(self, indices):
        self.model.eval()
        with self._torch.no_grad():
            for row in self._on_device(indices):
                self.model.test_step(gather_batch(*self.val_arrays, row))


def epoch_runner(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, sample_weight: np.ndarray | None,
                 x_val: np.ndarray, y_val: np.ndarray, *, batch_size: int, steps_per_call: int,
                 divide_by: float | None = None, **options) -> EpochRunner:
    """The :class:`EpochRunner` of the Keras backend in use (``divide_by``: ``x_train`` holds uint8
    pixels, which each batch turns into ``pixel / divide_by`` on the device); ``options`` go to it (JAX's
    ``loop_on_device``: ``fori_loop`` over the batches of a call, by default on accelerators only;
    TensorFlow's ``compile_update``: the optimizer's update as one XLA function, by default where
    the step itself is not XLA-compiled and the model has :data:`COMPILED_UPDATE_MIN_WEIGHTS`
    weights or more)."""
    runner = {"tensorflow": _TensorFlowRunner, "jax": _JaxRunner, "torch": _TorchRunner}[keras.backend.backend()]
    return runner(model, x_train, y_train, sample_weight, x_val, y_val, batch_size=batch_size,
                  steps_per_call=steps_per_call, divide_by=divide_by, **options)
