"""synthdigits: the shipped set is verified, balanced and rebuilt sample by sample from its recipe (that
no experiment can train on it is in tests/experiments/test_schema.py)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from shallowdeep.data import DataError, check_datasets, load_synthdigits
from shallowdeep.data.info import SYNTHDIGITS, SYNTHDIGITS_FONTS
from shallowdeep.data.synthdigits import font_path, render_sample, synthdigits_path


@pytest.fixture(scope="module")
def shipped():
    return load_synthdigits()


def test_the_shipped_set_is_2000_digits_200_of_each_dark_on_light_filling_their_frame(shipped):
    images, labels, sources = shipped
    assert images.shape == (2000, 64, 64) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [200] * 10
    kinds = Counter(source.split("/")[0] for source in sources)
    assert kinds.keys() == {"strokes", "handwriting", "typeface"}
    assert 900 <= kinds["strokes"] <= 1100 and 250 <= kinds["typeface"] <= 350
    assert np.median(images[:, 0, :]) > 150  # light paper along the top edge
    ink = images < images.max(axis=(1, 2), keepdims=True) - 60
    rows, columns = ink.any(axis=2).sum(axis=1), ink.any(axis=1).sum(axis=1)
    assert np.percentile(np.maximum(rows, columns), 10) >= 54  # the longer side fills the frame


def test_shallowdeep_data_verifies_it_by_its_checksum():
    [check] = check_datasets(["synthdigits"])
    assert check.ok and check.path == synthdigits_path() and SYNTHDIGITS.files["test"].sha256 in check.detail


def _available(source: str) -> bool:
    kind, _, name = source.partition("/")
    return kind == "strokes" or any(font.name == name and font_path(font).is_file() for font in SYNTHDIGITS_FONTS)


def test_any_sample_is_rebuilt_exactly_from_its_own_random_stream(shipped):
    """Pen strokes and matplotlib's faces are rebuilt everywhere; the handwriting faces where their
    Debian packages are installed (the shipped file's checksum covers them everywhere)."""
    images, labels, sources = shipped
    candidates = [index for index in range(0, 2000, 37) if _available(sources[index])]
    assert len(candidates) >= 20
    for index in candidates:
        sample = render_sample(index)
        assert (sample.label, sample.source) == (labels[index], sources[index])
        np.testing.assert_array_equal(sample.image, images[index], err_msg=f"sample {index} ({sources[index]})")


def test_a_font_of_another_version_is_refused_before_it_changes_the_set(shipped, monkeypatch):
    from shallowdeep.data import synthdigits

    _, _, sources = shipped
    tampered = tuple(dataclasses.replace(font, sha256="0" * 64) for font in SYNTHDIGITS_FONTS)
    monkeypatch.setattr(synthdigits, "SYNTHDIGITS_FONTS", tampered)
    synthdigits._checked_font.cache_clear()
    first_typeface = next(index for index, source in enumerate(sources) if source.startswith("typeface/"))
    try:
        with pytest.raises(DataError, match="is another version of .*Install matplotlib"):
            render_sample(first_typeface)
    finally:
        synthdigits._checked_font.cache_clear()
