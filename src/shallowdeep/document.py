"""A small document model rendered two ways: Markdown beside its images, and one self-contained
HTML file (images embedded as data URIs, styles inline, no script and no external request).

Inline markup in text: ``**bold**`` and ```code```; everything else is escaped in HTML.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Document:
    title: str
    lang: str = "en"
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def banner(self, text: str) -> None:
        """A warning that must not be missed."""
        self.blocks.append(("banner", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def table(self, headers: list[str], rows: list[list], right: set[int] = frozenset()) -> None:
        self.blocks.append(("table", headers, [[str(cell) for cell in row] for row in rows], set(right)))

    def equations(self, lines: list[str]) -> None:
        self.blocks.append(("equations", lines))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(("image", Path(path), caption))


def to_markdown(document: Document, image_links: dict[Path, str]) -> str:
    """Markdown; ``image_links`` maps each image path to the link to write for it."""
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        kind = block[0]
        if kind == "heading":
            lines += [f"{'#' * (block[1] + 1)} {block[2]}", ""]
        elif kind == "paragraph":
            lines += [block[1], ""]
        elif kind == "banner":
            lines += [f"> **{block[1]}**", ""]
        elif kind == "bullets":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            _, headers, rows, right = block
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
            lines.append("")
        elif kind == "equations":
            lines += ["```text", *block[1], "```", ""]
        elif kind == "image":
            lines += [f"![{block[2]}]({image_links[block[1]]})", f"*{block[2]}*", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1d1d1f; }
h1 { font-size: 1.8rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.8rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; }
code { background: #f0f0f0; padding: 0 0.2rem; }
figure { margin: 1rem 0; } figure img { max-width: min(100%, 46rem); height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
.banner { background: #fff3cd; border: 2px solid #e0a800; padding: 0.8rem 1rem; font-weight: bold; }
"""


def to_html(document: Document) -> str:
    """One HTML file that opens offline: every image is embedded, nothing is fetched."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{document.lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(document.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(document.title)}</h1>",
    ]
    for block in document.blocks:
        kind = block[0]
        if kind == "heading":
            parts.append(f"<h{block[1] + 1}>{_inline(block[2])}</h{block[1] + 1}>")
        elif kind == "paragraph":
            parts.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "banner":
            parts.append(f'<p class="banner">{_inline(block[1])}</p>')
        elif kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            _, headers, rows, right = block
            head = "".join(f"<th>{_inline(h)}</th>" for h in headers)
            body = "".join(
                "<tr>" + "".join(
                    f'<td class="num">{_inline(c)}</td>' if i in right else f"<td>{_inline(c)}</td>"
                    for i, c in enumerate(row)
                ) + "</tr>"
                for row in rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "equations":
            parts.append("<pre>" + html.escape("\n".join(block[1])) + "</pre>")
        elif kind == "image":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            caption = html.escape(block[2])
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
                         f"<figcaption>{caption}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
