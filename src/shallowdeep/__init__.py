"""shallowdeep: shallow versus deep neural networks on MNIST and chest X-rays, on Keras 3."""

from shallowdeep.errors import DataError, ShallowDeepError

__version__ = "0.1.0"

__all__ = ["DataError", "ShallowDeepError", "__version__"]
