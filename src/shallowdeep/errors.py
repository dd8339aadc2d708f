"""The exceptions shallowdeep raises on purpose: each names the file, key or value and the fix."""


class ShallowDeepError(Exception):
    """Base class: the CLI prints these as one clear message instead of a traceback."""


class DataError(ShallowDeepError):
    """A dataset file or folder is missing, unreadable, corrupt or not what it should be."""


class DataWarning(UserWarning):
    """Something in the data was skipped or is doubtful, and the result is still usable."""
