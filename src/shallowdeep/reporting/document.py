"""The report as a document model: a title and a list of blocks, with nothing about how they look.

:mod:`shallowdeep.reporting.render` turns a :class:`Document` into Markdown beside its images and
into one self-contained HTML file. Inline markup in text: ``**bold**`` and ```code```.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = a part of the report (rendered one level below the title)
    text: str
    anchor: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Banner:
    """A warning that must not be missed."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()  # columns aligned right (numbers)


@dataclass(frozen=True)
class Equations:
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Image:
    path: Path
    caption: str


Block = Heading | Paragraph | Banner | Bullets | Table | Equations | Image


@dataclass
class Document:
    title: str
    lang: str = "en"
    blocks: list[Block] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text, self._anchor(text)))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def banner(self, text: str) -> None:
        self.blocks.append(Banner(text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(Bullets(tuple(items)))

    def table(self, headers: list[str], rows: list[list], right: set[int] = frozenset()) -> None:
        self.blocks.append(Table(tuple(headers), tuple(tuple(str(cell) for cell in row) for row in rows),
                                 frozenset(right)))

    def equations(self, lines: list[str]) -> None:
        self.blocks.append(Equations(tuple(lines)))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(Image(Path(path), caption))

    @property
    def headings(self) -> list[Heading]:
        return [block for block in self.blocks if isinstance(block, Heading)]

    @property
    def images(self) -> list[Image]:
        return [block for block in self.blocks if isinstance(block, Image)]

    def _anchor(self, text: str) -> str:
        """A unique, URL-safe id for a heading (``Q2. The MNIST...`` -> ``q2-the-mnist...``)."""
        slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-") or "section"
        taken = {heading.anchor for heading in self.headings}
        anchor, number = slug, 1
        while anchor in taken:
            number += 1
            anchor = f"{slug}-{number}"
        return anchor
