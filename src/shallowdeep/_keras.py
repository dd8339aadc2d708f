"""Import Keras once, quietly.

TensorFlow's C++ runtime prints start-up notices (oneDNN, CPU features) straight to the process's
stderr while it loads, before any log level applies; they are hidden here unless
``SHALLOWDEEP_TF_LOGS=1``. ``TF_CPP_MIN_LOG_LEVEL`` and ``KERAS_BACKEND`` set by the user win.
"""

import contextlib
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _quiet_native_stderr():
    if os.environ.get("SHALLOWDEEP_TF_LOGS") or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _quiet_native_stderr():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow  # noqa: F401 (its native start-up happens here, quietly)

# "triggered tf.function retracing" warnings come from predicting on arrays of several sizes,
# which the lab does on purpose; they say nothing actionable to a user.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

__all__ = ["keras"]
