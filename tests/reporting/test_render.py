"""The report's two renderings: Markdown beside its images, and one HTML page that needs nothing else."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from shallowdeep.reporting.document import Document
from shallowdeep.reporting.render import to_html, to_markdown


def _document(tmp_path: Path) -> Document:
    picture = tmp_path / "images" / "dot.png"
    picture.parent.mkdir()
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(picture)
    document = Document("Lab <report>", "en")
    document.banner("QUICK RUN")
    document.heading(1, "Q1. Optimizer")
    document.paragraph("**RMSprop** with `rho = 0.9` & friends <script>alert(1)</script>")
    document.heading(2, "raw-1: an MLP")
    document.table(["model", "accuracy"], [["raw-1", "0.9724"], ["a|b", "1"]], right={1})
    document.heading(2, "raw-1: an MLP")  # a second heading of the same text gets its own anchor
    document.equations(["w ← w − η·g"])
    document.bullets(["one", "two"])
    document.heading(1, "Q2. Weights")
    document.image(picture, "a dot")
    return document


def test_markdown_writes_every_block_and_links_images_relatively(tmp_path):
    document = _document(tmp_path)
    markdown = to_markdown(document, {image.path: "images/dot.png" for image in document.images})
    assert markdown.splitlines()[:5] == ["# Lab <report>", "", "> **QUICK RUN**", "", "## Q1. Optimizer"]
    assert "| model | accuracy |\n|---|---:|\n| raw-1 | 0.9724 |\n| a\\|b | 1 |" in markdown
    assert "```text\nw ← w − η·g\n```" in markdown and "- one\n- two" in markdown
    assert "![a dot](images/dot.png)\n*a dot*" in markdown


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.scripts = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        self.scripts += tag == "script"


def test_html_escapes_text_keeps_the_inline_markup_and_embeds_images(tmp_path):
    html = to_html(_document(tmp_path))
    assert "<strong>RMSprop</strong> with <code>rho = 0.9</code> &amp; friends &lt;script&gt;" in html
    assert "<title>Lab &lt;report&gt;</title>" in html
    page = _Page()
    page.feed(html)
    assert page.scripts == 0
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")
    assert '<td class="num">0.9724</td>' in html


def test_the_table_of_contents_links_every_part_and_experiment_to_its_heading(tmp_path):
    html = to_html(_document(tmp_path), contents_label="Sommaire")
    page = _Page()
    page.feed(html)
    assert page.links == ["#q1-optimizer", "#raw-1-an-mlp", "#raw-1-an-mlp-2", "#q2-weights"]
    assert set(page.links) <= {f"#{anchor}" for anchor in page.ids}
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    assert "Sommaire" in toc
    # Experiments are nested under their part.
    assert re.search(r'<li><a href="#q1-optimizer">Q1\. Optimizer</a><ol><li><a href="#raw-1-an-mlp">', toc)
