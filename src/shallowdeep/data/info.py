"""Facts about every dataset shallowdeep uses, kept as data in one place.

File names, official URLs, checksums, splits, class names and licences live here and nowhere
else (after MedMNIST's ``info.py``). Loaders, the downloader and ``shallowdeep data`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset release: where it comes from and how to recognise it.

    ``urls`` are tried in order; the first is the official one where it still answers,
    the others are the mirrors that Keras, TensorFlow Datasets and torchvision use.
    """

    name: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def checksum(self) -> tuple[str, str]:
        """``(algorithm, hex digest)``: sha256 when known, else md5."""
        if self.sha256:
            return "sha256", self.sha256
        if self.md5:
            return "md5", self.md5
        raise ValueError(f"{self.name}: no checksum recorded")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where its files live inside a data directory, and what they hold."""

    name: str
    title: str
    citation: str
    license: str
    homepage: str
    folder: str
    classes: tuple[str, ...]
    n_samples: dict[str, int]
    class_counts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    files: dict[str, RemoteFile] = field(default_factory=dict)


def _mirrored(name: str, bases: tuple[str, ...], **checksums) -> RemoteFile:
    return RemoteFile(name=name, urls=tuple(base + name for base in bases), **checksums)


# yann.lecun.com has refused downloads on and off since 2023; the mirrors serve the same bytes.
_MNIST_BASES = (
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

MNIST = DatasetInfo(
    name="mnist",
    title="MNIST handwritten digits",
    citation="Y. LeCun, C. Cortes, C.J.C. Burges, The MNIST database of handwritten digits (1998)",
    license="CC BY-SA 3.0",
    homepage="http://yann.lecun.com/exdb/mnist/",
    folder="mnist",
    classes=tuple(str(digit) for digit in range(10)),
    n_samples={"train": 60_000, "test": 10_000},
    class_counts={
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
    files={
        "train_images": _mirrored(
            "train-images-idx3-ubyte.gz", _MNIST_BASES,
            md5="f68b3c2dcbeaaa9fbdd348bbdeb94873", size=9_912_422,
        ),
        "train_labels": _mirrored(
            "train-labels-idx1-ubyte.gz", _MNIST_BASES,
            md5="d53e105ee54ea40749a09fcbcd1e9432", size=28_881,
        ),
        "test_images": _mirrored(
            "t10k-images-idx3-ubyte.gz", _MNIST_BASES,
            md5="9fb629c4189551a2d022fa330f9573f3", size=1_648_877,
        ),
        "test_labels": _mirrored(
            "t10k-labels-idx1-ubyte.gz", _MNIST_BASES,
            md5="ec29112dd5afa0611ce80d1b7f02629c", size=4_542,
        ),
    },
)

#: The single-file copy that ``keras.datasets.mnist.load_data()`` downloads; accepted as an
#: alternative to the four IDX files (never downloaded by shallowdeep itself).
MNIST_KERAS_NPZ = RemoteFile(
    name="mnist.npz",
    urls=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",),
    sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    size=11_490_434,
)

_MEDMNIST_RECORD = "https://zenodo.org/records/10519652/files/"

PNEUMONIAMNIST = DatasetInfo(
    name="pneumoniamnist",
    title="PneumoniaMNIST (MedMNIST v2; 64/128/224 px from MedMNIST+)",
    citation=(
        "J. Yang et al., MedMNIST v2: a large-scale lightweight benchmark for 2D and 3D "
        "biomedical image classification, Scientific Data 10, 41 (2023)"
    ),
    license="CC BY 4.0",
    homepage="https://medmnist.com/",
    folder="pneumoniamnist",
    classes=("normal", "pneumonia"),
    n_samples={"train": 4708, "val": 524, "test": 624},
    class_counts={"train": (1214, 3494), "val": (135, 389), "test": (234, 390)},
    files={
        "28": RemoteFile(
            "pneumoniamnist.npz",
            (_MEDMNIST_RECORD + "pneumoniamnist.npz?download=1",),
            md5="28209eda62fecd6e6a2d98b1501bb15f", size=4_170_669,
        ),
        "64": RemoteFile(
            "pneumoniamnist_64.npz",
            (_MEDMNIST_RECORD + "pneumoniamnist_64.npz?download=1",),
            md5="8f4eceb4ccffa70c672198ea285246c6",
        ),
        "128": RemoteFile(
            "pneumoniamnist_128.npz",
            (_MEDMNIST_RECORD + "pneumoniamnist_128.npz?download=1",),
            md5="05b46931834c231683c68f40c47b2971",
        ),
        "224": RemoteFile(
            "pneumoniamnist_224.npz",
            (_MEDMNIST_RECORD + "pneumoniamnist_224.npz?download=1",),
            md5="d6a3c71de1b945ea11211b03746c1fe1",
        ),
    },
)

CHEST_XRAY = DatasetInfo(
    name="chest_xray",
    title="Chest X-Ray Images (Pneumonia), pediatric, Guangzhou Women and Children's Medical Center",
    citation=(
        "D.S. Kermany et al., Identifying medical diagnoses and treatable diseases by "
        "image-based deep learning, Cell 172(5), 1122-1131 (2018); data: Mendeley Data v2, "
        "doi:10.17632/rscbjbr9sj.2"
    ),
    license="CC BY 4.0",
    homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
    folder="chest_xray",
    classes=("NORMAL", "PNEUMONIA"),
    n_samples={"train": 5216, "val": 16, "test": 624},
    class_counts={"train": (1341, 3875), "val": (8, 8), "test": (234, 390)},
)

#: Folder names under which a chest X-ray tree is looked for inside a data directory.
CHEST_XRAY_FOLDERS = ("chest_xray", "chest_xray_224")

#: How to get the chest X-ray tree: it is a 1.2 GB archive behind a click-through page.
CHEST_XRAY_HOW_TO_GET = (
    "Download 'ChestXRay2017.zip' from https://data.mendeley.com/datasets/rscbjbr9sj/2 "
    "(or the Kaggle copy 'paultimothymooney/chest-xray-pneumonia'), unzip it and put its "
    "'chest_xray' folder (with train/ and test/ inside) into the data directory, "
    "or pass its path explicitly."
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (MNIST, PNEUMONIAMNIST, CHEST_XRAY)
}
