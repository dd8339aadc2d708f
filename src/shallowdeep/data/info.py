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
    #: Only a test split, never trained on (the experiment schema refuses it).
    evaluation_only: bool = False
    #: The files ship inside the installed package (``shallowdeep/data/``), not in a data directory.
    packaged: bool = False
    #: How the set was made, when the project made it.
    how_made: str = ""


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



@dataclass(frozen=True)
class FontFile:
    """A font face used to render synthdigits: where it comes from and which version it was."""

    name: str
    kind: str  # "handwriting" or "typeface"
    package: str  # the Debian package, or "matplotlib" for the faces matplotlib ships
    version: str
    file: str  # an absolute path (Debian), or a file name in matplotlib's mpl-data/fonts/ttf
    sha256: str


_DEBIAN_FONTS = "/usr/share/fonts/"

#: The 22 handwriting faces (Debian packages, installed with `apt-get install PACKAGE`) and the 12
#: typefaces (shipped inside matplotlib) that synthdigits renders.
SYNTHDIGITS_FONTS: tuple[FontFile, ...] = (
    *(FontFile(f"Because We {word} Regular", "handwriting", "fonts-bwht", "0.1-3",
               f"{_DEBIAN_FONTS}opentype/bwht/BecauseWe{word}-Regular.otf", digest)
      for word, digest in (
          ("Build", "202160d49b0cfbe8a812c5a75487058f7caba2398324214a1e6d34f24b68d855"),
          ("Connect", "c9c7135605a5c8cd143b611881c93383c6804166c4770810ab0c07dbbff3aac9"),
          ("Create", "abdbea89b7de43bccae63975af1714a26a473584341d5c395fca1cb1c51ff48f"),
          ("Learn", "d5551a6a1449de4ee2e8ddcd0bcc3e7d292d24c61fc6515d8db9b03a65b127dd"),
          ("Mentor", "b71888fd9a79936e44a55baf1bf0bb4e594827be890882c4fc9918409e8c2509"),
          ("Organize", "f97f8557caa4de42f743d8d4ea0851993b12c112e8713fd6d6d08881e6a24c5e"))),
    *(FontFile(f"DkgHandwriting {style}", "handwriting", "fonts-dkg-handwriting", "0.17-1",
               f"{_DEBIAN_FONTS}truetype/fifthhorseman/{file}", digest)
      for style, file, digest in (
          ("Roman", "dkg.ttf", "93eb07f57b84f04fa975ebf49ecec43d9b2c85834a9b63864072c6b993efd131"),
          ("Bold", "dkgBd.ttf", "62b88a2819923a5f0ab3944713122d0a0957a4081c0294d00c3205e225d5c3f2"),
          ("Oblique", "dkgIt.ttf", "911843f094cbe0508dd5049e3e610020d97b395cdaa8ed088f0f3af8e3a6e661"),
          ("Bold Oblique", "dkgBI.ttf", "42699be9d77fc2b580b7bb83e664855e835b3306801187a6577f802409dd0f48"))),
    FontFile("Breip Medium", "handwriting", "fonts-breip", "1:0.5.1-3", f"{_DEBIAN_FONTS}truetype/breip/Breip.ttf",
             "cded2aeeeb7d35baa8aa5b57df35a25836910498271d3d2eec502f6aa7033eb7"),
    FontFile("Humor Sans Regular", "handwriting", "fonts-humor-sans", "1.0-4",
             f"{_DEBIAN_FONTS}truetype/humor-sans/Humor-Sans.ttf",
             "2ded6a27448c9ed30aaff177744e2bcf1e52e0aab018b2a8be64565df633318f"),
    FontFile("Rufscript Regular", "handwriting", "fonts-rufscript", "010-6",
             f"{_DEBIAN_FONTS}truetype/rufscript/Rufscript010.ttf",
             "99b16515f19ab35d18049235797b0dbe3ec73535d455994442b206c96405050f"),
    FontFile("Delphine Regular", "handwriting", "fonts-sjfonts", "2.1-2", f"{_DEBIAN_FONTS}truetype/sjfonts/Delphine.ttf",
             "afeea795e392f6b8e0cc4ba3978375908d1f29f8d82f1b7b15d9fdc755a05288"),
    FontFile("Steve Hand", "handwriting", "fonts-sjfonts", "2.1-2", f"{_DEBIAN_FONTS}truetype/sjfonts/SteveHand.ttf",
             "51e0820b832b2cd3db9dc9a759520c868166ae291f19afc3d94689e668d0435e"),
    FontFile("Tomson Talks Regular", "handwriting", "fonts-tomsontalks", "1.1-9",
             f"{_DEBIAN_FONTS}truetype/tomsontalks/TomsonTalks.ttf",
             "f7beeee4f3e11e38281f528dcf8a20218c6ce9b7a5b2acdca9f8bef303dd8526"),
    FontFile("Dancing Script Regular", "handwriting", "fonts-dancingscript", "1.2-2",
             f"{_DEBIAN_FONTS}opentype/dancingscript/DancingScript-Regular.otf",
             "38178945aaefdea573f4998d8b984985aaebb95964da337b23e77e682d7d3d17"),
    FontFile("Dancing Script Bold", "handwriting", "fonts-dancingscript", "1.2-2",
             f"{_DEBIAN_FONTS}opentype/dancingscript/DancingScript-Bold.otf",
             "0ef9febbf9cf763e47b51170bc74c5ac0e0cc65918469ec6521729ce11dacd46"),
    *(FontFile(f"Comic Neue {style}", "handwriting", "fonts-comic-neue", "2.51-4",
               f"{_DEBIAN_FONTS}opentype/comic-neue/ComicNeue-{style}.otf", digest)
      for style, digest in (
          ("Regular", "2728ee8f303e31934e62bf27b044fd7657b0613412d51f7444db1078cc3a7cb2"),
          ("Bold", "0637fea8f858cd1d9a6e0ff786bed3d8cc2dc59b871a28e268a5a0106f052a92"),
          ("Italic", "e5b8b4c03b0a93b058038401f722074cef03da066a8653d92436e8ee597cbc53"),
          ("Light", "2b8a7a8c1a6b670a9ca2673bec28affd02d411415dc763648386c8b0bb165006"))),
    *(FontFile(name, "typeface", "matplotlib", "3.11.2", file, digest) for name, file, digest in (
        ("DejaVu Sans", "DejaVuSans.ttf", "3fdf69cabf06049ea70a00b5919340e2ce1e6d02b0cc3c4b44fb6801bd1e0d22"),
        ("DejaVu Sans Bold", "DejaVuSans-Bold.ttf", "b184b89e3c1075f22f6b71575b6fc20d4972b3cfd3b23322ca6fd596dcaef167"),
        ("DejaVu Sans Oblique", "DejaVuSans-Oblique.ttf",
         "ccdf74b350f11fd3dd5774de50e5e6346a1a5da1f5b7d5fb83590665e97a5213"),
        ("DejaVu Serif", "DejaVuSerif.ttf", "107244956e9962b9e96faccdc551825e0ae0898ae13737133e1b921a2fd35ffa"),
        ("DejaVu Serif Italic", "DejaVuSerif-Italic.ttf",
         "3e7994fbc54fa10ce3352a42d548fadd7d9cadb69cb1109bc9d960f6dac57f04"),
        ("DejaVu Sans Mono", "DejaVuSansMono.ttf", "602ec86b8948cfcd956482fe64f94c36c867770149ef2f791d4613f443bcecb3"),
        ("STIX General", "STIXGeneral.ttf", "167378031e2dddc6216d67819c9260e9a06ffc4c478e4e23cb98a6fd44b183c2"),
        ("STIX General Italic", "STIXGeneralItalic.ttf",
         "6cfcb333d22b7c3c623bdfd40174f14c85c3d6731ca6166c1edc80140eae8527"),
        ("Computer Modern Roman", "cmr10.ttf", "4dd9761b058c009db9b2145f55ee6617d093c273dd3d6c5b3e43ff6110fa9bf6"),
        ("Computer Modern Sans", "cmss10.ttf", "7df91a83d05b2e471ec638cb0b435a360a3c792b09fc42a7da67e91f2e79115a"),
        ("Computer Modern Typewriter", "cmtt10.ttf", "6211f09ae93599991afda970c24669dad1a77e253d915624fbf212f702f071d7"),
        ("Computer Modern Italic", "cmti10.ttf", "f9f1f9f654308ae82f7be4441ae89b080896b34cc220bbea173c5e9adcfe3ef7"),
    )),
)

SYNTHDIGITS = DatasetInfo(
    name="synthdigits",
    title="digits from outside MNIST: 2,000 pen strokes, handwriting fonts and typefaces, for evaluation only",
    citation="rendered by shallowdeep (python -m shallowdeep.data.make_synthdigits); see shallowdeep.data.synthdigits",
    license="MIT, rendered by shallowdeep with free fonts (SIL OFL, GPL with font exception, Bitstream Vera, "
            "STIX, Computer Modern)",
    homepage="",
    folder="",
    classes=MNIST.classes,
    n_samples={"test": 2000},
    class_counts={"test": (200,) * 10},
    files={"test": RemoteFile(
        "synthdigits.npz", urls=(), sha256="611347283f0a2360d4a34702511f29f1e87e346dd2729cc313ea0192d06e08b1",
        size=2_325_405,
    )},
    evaluation_only=True,
    packaged=True,
    how_made="half pen strokes scripted per digit and style with jittered control points, 35 % 22 handwriting "
             "fonts, 15 % 12 typefaces; random stroke thickness, rotation, shear, width, blur, low resolution "
             "and paper and ink levels; each digit fills a 64 x 64 frame, dark on light",
)

FOLDER = DatasetInfo(
    name="folder",
    title="your own images: a folder with train/ and test/ (and val/), one subfolder per class",
    citation="",
    license="yours",
    homepage="",
    folder="",
    classes=(),  # the class folders' names, read into each experiment's dataset.classes
    n_samples={},  # counted in the folder
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (MNIST, PNEUMONIAMNIST, CHEST_XRAY, FOLDER, SYNTHDIGITS)
}
