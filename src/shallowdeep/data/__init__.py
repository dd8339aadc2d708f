"""Datasets of the lab, loaded offline from a data directory or downloaded and verified.

>>> from shallowdeep.data import load_mnist
>>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP

Where data comes from: ``data_dir=``, else ``$SHALLOWDEEP_DATA``, else the user's cache folder.
Files present there and verified are used without any network access; missing ones are downloaded
from their official URLs (see :mod:`shallowdeep.data.info`). synthdigits, the digits that are not
MNIST's, ships inside the package and is only ever evaluated on.
"""

from shallowdeep.data.chest_xray import find_chest_xray, load_chest_xray, patient_id
from shallowdeep.data.info import DATASETS
from shallowdeep.data.medmnist import load_pneumoniamnist
from shallowdeep.data.mnist import load_mnist, read_idx
from shallowdeep.data.registry import Dataset, dataset_names, get_dataset
from shallowdeep.data.status import DataStatus, FileCheck, check_datasets, data_status
from shallowdeep.data.synthdigits import load_synthdigits
from shallowdeep.errors import DataError, DataWarning
from shallowdeep.paths import resolve_cache_dir, resolve_data_dir

__all__ = [
    "DATASETS",
    "DataError",
    "DataStatus",
    "DataWarning",
    "Dataset",
    "FileCheck",
    "check_datasets",
    "data_status",
    "dataset_names",
    "find_chest_xray",
    "get_dataset",
    "load_chest_xray",
    "load_mnist",
    "load_pneumoniamnist",
    "load_synthdigits",
    "patient_id",
    "read_idx",
    "resolve_cache_dir",
    "resolve_data_dir",
]
