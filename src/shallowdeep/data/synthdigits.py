"""synthdigits: digits that are not MNIST's, rendered by shallowdeep, for evaluation only.

Models trained on MNIST are asked here to read digits written by other hands and tools. The set
is made by this module, offline and deterministically, from three sources:

* **pen strokes** (half of the set): each digit is drawn from a script of strokes, two to four
  styles per digit (a 1 with or without a flag, a 7 with or without a bar, an open or closed 4,
  ...), through control points jittered per sample (one writer's hand differs from another's),
  smoothed into Catmull-Rom splines and drawn with a round pen of random width; nothing but NumPy
  and Pillow, so every machine draws them the same;
* **handwriting fonts** (35 %): 22 faces from Debian's free font packages that imitate
  handwriting (:data:`~shallowdeep.data.info.SYNTHDIGITS_FONTS` lists them with their checksums);
* **typefaces** (15 %): 12 faces that matplotlib ships (DejaVu, STIX, Computer Modern), printed
  digits as on a form or a screen.

Each sample then goes through what writers and tools vary: stroke thickness (grey dilation or
erosion of the glyph), an affine warp (rotation within +-15 degrees, shear within +-0.3, width
0.75-1.2 of the height), then, in the 64 x 64 frame the digit fills (margins 0-4 pixels, like a
drawing or a photo cropped to the digit): a Gaussian blur (40 % of samples, radius 0.4-1.6
pixels), low-resolution resampling (30 %: down to 8-24 pixels, back up bilinear or nearest) and
dark ink (grey level 0-90) on light paper (180-255). Sample ``i`` draws from its own random stream
``numpy.random.default_rng([seed, i])``, so any sample can be rebuilt alone, and its label is
``i % 10`` (200 of each digit).

It is for **evaluation only**: nothing in shallowdeep trains on it (the experiment schema refuses
it as a training set). The augmentations of the ``mnist-robust`` preset were compared one at a
time on a validation split of MNIST's training set and here (``benchmarks/robust.py``), so that
preset's figure here is optimistic; a held-out set of real handwriting judges it fairly.

The file ships inside the package (``synthdigits.npz``, sha256 in :mod:`shallowdeep.data.info`,
checked on every load and by ``shallowdeep data``). Rebuild it with
``python -m shallowdeep.data.make_synthdigits --out synthdigits.npz``: the pen strokes and
matplotlib's faces need nothing more; the handwriting faces need the Debian packages named in
:data:`~shallowdeep.data.info.SYNTHDIGITS_FONTS`, whose files are checked against their recorded
sha256 before they are used.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shallowdeep.data.files import CORRUPT, MISSING, VERIFIED, FileCheck, local_path, verify_file
from shallowdeep.data.info import SYNTHDIGITS, SYNTHDIGITS_FONTS, FontFile
from shallowdeep.data.registry import Dataset, register
from shallowdeep.errors import DataError
from shallowdeep.storage import atomic_path

SEED = 20260418
SAMPLES = 2000
#: The frame the digit fills, in pixels.
FRAME = 64
#: The working canvas where glyphs are drawn and warped before they are cut out.
CANVAS = 160
#: Shares of the three sources.
SOURCES = (("strokes", 0.50), ("handwriting", 0.35), ("typeface", 0.15))

Point = tuple[float, float]
#: Each digit's styles; a style is a list of strokes; a stroke is a list of control points in a
#: unit box (x to the right, y downwards), smoothed into a spline through them.
STROKES: dict[int, tuple[tuple[tuple[Point, ...], ...], ...]] = {
    0: (
        (((0.5, 0.0), (0.15, 0.2), (0.05, 0.55), (0.25, 0.95), (0.6, 1.0), (0.92, 0.7), (0.9, 0.25),
          (0.6, 0.0), (0.45, 0.05)),),
        (((0.55, 0.02), (0.2, 0.1), (0.1, 0.5), (0.3, 0.98), (0.75, 0.9), (0.85, 0.45), (0.7, 0.05),
          (0.35, 0.08)),),
    ),
    1: (
        (((0.5, 0.0), (0.5, 1.0)),),
        (((0.2, 0.25), (0.55, 0.0), (0.55, 1.0)),),
        (((0.25, 0.22), (0.55, 0.0), (0.55, 1.0)), ((0.2, 1.0), (0.9, 1.0))),
    ),
    2: (
        (((0.1, 0.25), (0.45, 0.0), (0.85, 0.15), (0.75, 0.5), (0.05, 1.0), (0.95, 0.98)),),
        (((0.12, 0.2), (0.5, 0.0), (0.88, 0.25), (0.5, 0.65), (0.1, 0.95), (0.3, 0.8), (0.5, 1.0),
          (0.95, 0.95)),),
    ),
    3: (
        (((0.1, 0.12), (0.5, 0.0), (0.85, 0.2), (0.45, 0.48), (0.9, 0.72), (0.55, 1.0), (0.08, 0.88)),),
        (((0.1, 0.0), (0.85, 0.0), (0.4, 0.4), (0.85, 0.6), (0.75, 0.95), (0.35, 1.0), (0.05, 0.85)),),
    ),
    4: (
        (((0.65, 0.0), (0.05, 0.68), (0.95, 0.68)), ((0.7, 0.3), (0.7, 1.0))),
        (((0.2, 0.0), (0.12, 0.58), (0.9, 0.58)), ((0.72, 0.05), (0.75, 1.0))),
        (((0.72, 1.0), (0.72, 0.0), (0.05, 0.68), (0.98, 0.68)),),
    ),
    5: (
        (((0.85, 0.0), (0.25, 0.0), (0.18, 0.45), (0.6, 0.38), (0.92, 0.65), (0.6, 1.0), (0.08, 0.9)),),
        (((0.22, 0.02), (0.15, 0.45), (0.6, 0.38), (0.9, 0.68), (0.55, 1.0), (0.1, 0.88)),
         ((0.22, 0.02), (0.9, 0.0))),
    ),
    6: (
        (((0.75, 0.0), (0.3, 0.35), (0.12, 0.72), (0.4, 1.0), (0.82, 0.82), (0.72, 0.52), (0.35, 0.52),
          (0.15, 0.72)),),
        (((0.8, 0.05), (0.35, 0.1), (0.15, 0.55), (0.3, 0.98), (0.75, 0.9), (0.8, 0.6), (0.45, 0.5),
          (0.18, 0.65)),),
    ),
    7: (
        (((0.05, 0.0), (0.95, 0.0), (0.35, 1.0)),),
        (((0.05, 0.0), (0.95, 0.0), (0.4, 1.0)), ((0.3, 0.52), (0.85, 0.52))),
        (((0.05, 0.18), (0.08, 0.0), (0.95, 0.02), (0.55, 0.5), (0.4, 1.0)),),
    ),
    8: (
        (((0.8, 0.12), (0.5, 0.0), (0.18, 0.15), (0.3, 0.4), (0.72, 0.58), (0.88, 0.85), (0.5, 1.0),
          (0.12, 0.85), (0.3, 0.6), (0.72, 0.4), (0.82, 0.15), (0.5, 0.0)),),
        (((0.5, 0.45), (0.2, 0.25), (0.5, 0.0), (0.8, 0.22), (0.5, 0.45), (0.15, 0.72), (0.5, 1.0),
          (0.88, 0.72), (0.5, 0.45)),),
    ),
    9: (
        (((0.82, 0.25), (0.5, 0.0), (0.15, 0.2), (0.3, 0.48), (0.72, 0.42), (0.85, 0.2), (0.82, 0.6),
          (0.72, 1.0)),),
        (((0.85, 0.28), (0.55, 0.0), (0.2, 0.15), (0.25, 0.45), (0.65, 0.45), (0.85, 0.25), (0.8, 0.8),
          (0.5, 1.0), (0.2, 0.9)),),
    ),
}


@dataclass(frozen=True)
class Sample:
    """One rendered digit: the 64 x 64 frame (dark ink on light paper), its label, its source."""

    image: np.ndarray
    label: int
    source: str


# -- sources ---------------------------------------------------------------------------------------

def _catmull_rom(points: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """A smooth curve through ``points`` (Catmull-Rom spline with the end points repeated)."""
    if len(points) == 2:
        return np.linspace(points[0], points[1], per_segment + 1)
    padded = np.vstack([points[0], points, points[-1]])
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    pieces = []
    for p0, p1, p2, p3 in zip(padded[:-3], padded[1:-2], padded[2:-1], padded[3:]):
        pieces.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                             + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    return np.vstack(pieces + [points[-1:]])


def _pen_digit(digit: int, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """The digit drawn with a round pen: a style, jittered control points, a random pen width.

    Drawn at twice the canvas and shrunk by area averaging, for anti-aliased edges."""
    styles = STROKES[digit]
    style = int(rng.integers(len(styles)))
    scale, width = 2 * 100, 2 * int(rng.integers(6, 17))
    offset = 2 * (CANVAS - 100) / 2
    big = Image.new("L", (2 * CANVAS, 2 * CANVAS), 0)
    draw = ImageDraw.Draw(big)
    for stroke in styles[style]:
        points = np.asarray(stroke, dtype=np.float64) + rng.normal(0.0, 0.035, size=(len(stroke), 2))
        curve = [(float(x), float(y)) for x, y in _catmull_rom(points) * scale + offset]
        draw.line(curve, fill=255, width=width, joint="curve")
        for x, y in (curve[0], curve[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return big.resize((CANVAS, CANVAS), Image.Resampling.BOX), f"strokes/{digit}{'abcd'[style]}"


@lru_cache(maxsize=None)
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, 100)


def font_path(font: FontFile) -> Path:
    """Where ``font`` is on this machine: matplotlib's own folder, or the Debian package's path."""
    if font.package == "matplotlib":
        import matplotlib

        return Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / font.file
    return Path(font.file)


@lru_cache(maxsize=None)
def _checked_font(font: FontFile) -> str:
    path = font_path(font)
    install = ("pip install matplotlib" if font.package == "matplotlib"
               else f"apt-get install {font.package}")
    if not path.is_file():
        raise DataError(f"font {font.name} not found at {path}; install it (`{install}`) to rebuild synthdigits")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != font.sha256:
        raise DataError(f"{path} is another version of {font.name} (sha256 {digest}, recorded {font.sha256}); "
                        f"the rebuilt set would differ from the shipped one. Install {font.package} "
                        f"{font.version}")
    return str(path)


def _font_digit(digit: int, font: FontFile, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """The digit in ``font``, its strokes thickened or thinned by grey dilation or erosion."""
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), str(digit), font=_font(_checked_font(font)),
                                fill=255, anchor="mm")
    change = int(rng.integers(-1, 4))  # pixels of ink added (or removed) on each side of a stroke
    if change > 0:
        canvas = canvas.filter(ImageFilter.MaxFilter(2 * change + 1))
    elif change < 0:
        thinner = canvas.filter(ImageFilter.MinFilter(3))
        if np.count_nonzero(np.asarray(thinner) > 127) > 0.4 * np.count_nonzero(np.asarray(canvas) > 127):
            canvas = thinner  # a hairline face would lose its strokes altogether
    return canvas, f"{font.kind}/{font.name}"


# -- what writers and tools vary ---------------------------------------------------------------------

def _warp(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotation, shear and width, about the canvas centre (one bicubic resampling)."""
    angle = np.radians(rng.uniform(-15.0, 15.0))
    shear, width = rng.uniform(-0.3, 0.3), rng.uniform(0.75, 1.2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([width, 1.0])
    inverse = np.linalg.inv(forward)
    centre = np.array([CANVAS / 2, CANVAS / 2])
    shift = centre - inverse @ centre
    coefficients = (inverse[0, 0], inverse[0, 1], shift[0], inverse[1, 0], inverse[1, 1], shift[1])
    return canvas.transform(canvas.size, Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC)


def _fill_frame(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The ink cut out and scaled so that its longer side fills the frame but for a small margin."""
    box = canvas.point(lambda level: 255 if level > 24 else 0).getbbox()
    ink = canvas.crop(box)
    margin = int(rng.integers(0, 5))
    scale = (FRAME - 2 * margin) / max(ink.size)
    size = (max(1, round(ink.width * scale)), max(1, round(ink.height * scale)))
    frame = Image.new("L", (FRAME, FRAME), 0)
    frame.paste(ink.resize(size, Image.Resampling.LANCZOS), ((FRAME - size[0]) // 2, (FRAME - size[1]) // 2))
    return frame


def _degrade(frame: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Blur, low resolution, and dark ink on light paper: uint8, 0 = black."""
    if rng.random() < 0.4:
        frame = frame.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.6)))
    if rng.random() < 0.3:
        small = int(rng.integers(8, 25))
        method = Image.Resampling.BILINEAR if rng.random() < 0.5 else Image.Resampling.NEAREST
        frame = frame.resize((small, small), Image.Resampling.BOX).resize((FRAME, FRAME), method)
    paper, ink = rng.uniform(180.0, 255.0), rng.uniform(0.0, 90.0)
    level = np.asarray(frame, dtype=np.float64) / 255.0
    return np.round(paper - (paper - ink) * level).astype(np.uint8)


def render_sample(index: int, seed: int = SEED) -> Sample:
    """Sample ``index`` of the set: label ``index % 10``, drawn from its own random stream."""
    rng = np.random.default_rng([seed, index])
    digit = index % 10
    kinds, shares = zip(*SOURCES)
    kind = kinds[int(np.searchsorted(np.cumsum(shares), rng.random(), side="right"))]
    if kind == "strokes":
        canvas, source = _pen_digit(digit, rng)
    else:
        faces = [font for font in SYNTHDIGITS_FONTS if font.kind == kind]
        canvas, source = _font_digit(digit, faces[int(rng.integers(len(faces)))], rng)
    return Sample(_degrade(_fill_frame(_warp(canvas, rng), rng), rng), digit, source)


def render_synthdigits(samples: int = SAMPLES, seed: int = SEED) -> dict[str, np.ndarray]:
    """The whole set as arrays: ``images`` (n, 64, 64) uint8, ``labels`` (n,) uint8, ``sources``."""
    rendered = [render_sample(index, seed) for index in range(samples)]
    return {"images": np.stack([s.image for s in rendered]),
            "labels": np.array([s.label for s in rendered], dtype=np.uint8),
            "sources": np.array([s.source for s in rendered])}


def write_synthdigits(path: str | os.PathLike, samples: int = SAMPLES, seed: int = SEED) -> Path:
    """Render the set and write it as a compressed ``.npz`` (atomically); its path."""
    arrays = render_synthdigits(samples, seed)
    with atomic_path(path, suffix=".npz") as temporary:
        # A fixed timestamp inside the zip keeps the file's bytes, and so its checksum, reproducible.
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as stream:
                    np.lib.format.write_array(stream, array, allow_pickle=False)
    return Path(path)


# -- loading --------------------------------------------------------------------------------------

def synthdigits_path() -> Path:
    """The shipped file, inside the installed package."""
    return local_path(SYNTHDIGITS, SYNTHDIGITS.files["test"], None)


def load_synthdigits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, sources)``: 2,000 digits that are not MNIST's, for evaluation only.

    ``images`` are (2000, 64, 64) uint8, dark ink on light paper, each digit filling its frame;
    ``labels`` uint8 0-9 (200 each); ``sources`` says how each was made (``strokes/7b``,
    ``handwriting/Humor Sans``, ``typeface/DejaVu Serif``). The file's sha256 is checked first.
    """
    path = synthdigits_path()
    remote = SYNTHDIGITS.files["test"]
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed package; reinstall shallowdeep, or rebuild it "
                        f"with `python -m shallowdeep.data.make_synthdigits --out {path}`")
    verify_file(path, remote)
    with np.load(path, allow_pickle=False) as npz:
        images, labels, sources = npz["images"], npz["labels"], npz["sources"]
    expected = SYNTHDIGITS.n_samples["test"]
    if images.shape != (expected, FRAME, FRAME) or labels.shape != (expected,):
        raise DataError(f"{path}: images {images.shape}, labels {labels.shape}; expected "
                        f"({expected}, {FRAME}, {FRAME}) and ({expected},)")
    return images, labels, sources


@register
class SynthDigits(Dataset):
    """synthdigits: digits from outside MNIST, shipped in the package, only ever evaluated on."""

    info = SYNTHDIGITS
    digits = True

    @property
    def how_to_get(self) -> str:
        return "shipped with shallowdeep"

    def load(self, section, seed, data_dir, progress, own_validation):
        raise DataError(f"{self.name} is for evaluation only: train on MNIST and evaluate on it "
                        f"(`shallowdeep evaluate RUN`)")

    def check(self, data_dir, download, progress) -> list[FileCheck]:
        remote = SYNTHDIGITS.files["test"]
        path = local_path(SYNTHDIGITS, remote, None)
        rebuild = f"reinstall shallowdeep, or rebuild it: `python -m shallowdeep.data.make_synthdigits --out {path}`"
        if not path.is_file():
            return [FileCheck(SYNTHDIGITS.name, path, MISSING, "shipped with shallowdeep, but not found", rebuild)]
        try:
            verify_file(path, remote)
        except DataError as error:
            return [FileCheck(SYNTHDIGITS.name, path, CORRUPT, str(error), rebuild)]
        return [FileCheck(SYNTHDIGITS.name, path, VERIFIED,
                          f"sha256 {remote.sha256}; made by shallowdeep, for evaluation only: {SYNTHDIGITS.how_made}")]
