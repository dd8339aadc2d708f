"""A :class:`~shallowdeep.reporting.document.Document` rendered two ways: Markdown beside its images,
and one self-contained HTML page (images embedded as data URIs, styles inline, no script, no
external request) with a table of contents that stays in view while scrolling.

The HTML comes from a Jinja2 template (``templates/report.html.j2``), escaped automatically; the
Markdown is a few lines of Python, because Markdown is line-oriented and a template would spend
more on whitespace control than it saves.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import jinja2
from markupsafe import Markup

from shallowdeep.reporting.document import (
    Banner, Bullets, Document, Equations, Heading, Image, Paragraph, Table,
)


def to_markdown(document: Document, image_links: dict[Path, str]) -> str:
    """Markdown; ``image_links`` maps each image path to the link to write for it."""
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * (block.level + 1)} {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Banner):
            lines += [f"> **{block.text}**", ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(block.headers) + " |")
            lines.append("|" + "|".join("---:" if i in block.right else "---" for i in range(len(block.headers))) + "|")
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Equations):
            lines += ["```text", *block.lines, "```", ""]
        elif isinstance(block, Image):
            lines += [f"![{block.caption}]({image_links[block.path]})", f"*{block.caption}*", ""]
    return "\n".join(lines)


def _inline(text: str) -> Markup:
    """Escape ``text``, then turn ``**bold**`` and ```code``` into tags."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", escaped))


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _table_of_contents(document: Document, deepest: int = 3) -> Markup:
    """Nested ordered lists of links to the headings down to level ``deepest``."""
    return Markup(_nested([heading for heading in document.headings if heading.level <= deepest]))


def _nested(headings: list[Heading]) -> str:
    """Each heading as a list item holding the deeper headings that follow it."""
    items, start = [], 0
    while start < len(headings):
        end = start + 1
        while end < len(headings) and headings[end].level > headings[start].level:
            end += 1
        children = headings[start + 1:end]
        items.append(f'<li><a href="#{headings[start].anchor}">{_inline(headings[start].text)}</a>'
                     f'{_nested(children) if children else ""}</li>')
        start = end
    return "<ol>" + "".join(items) + "</ol>"


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("shallowdeep.reporting", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
)
_ENVIRONMENT.filters.update(inline=_inline, data_uri=_data_uri, kind=lambda block: type(block).__name__)


def to_html(document: Document, contents_label: str = "Contents") -> str:
    """One HTML file that opens offline: every image is embedded, nothing is fetched."""
    template = _ENVIRONMENT.get_template("report.html.j2")
    return template.render(document=document, toc=_table_of_contents(document), contents_label=contents_label)
