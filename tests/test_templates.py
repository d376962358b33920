"""The 33 official templates, their cells and placeholder fillers (mcdlib.data.templates)."""

from __future__ import annotations

from collections import Counter

import pytest

from mcdlib.data.templates import (
    CELLS, INSTRUMENTS, PLACEHOLDER_FILLERS, TEMPLATES, canonical_template, cell_index, find_template,
    placeholders_of,
)


def test_33_distinct_templates_cover_the_9_cells_in_official_order():
    assert len(TEMPLATES) == 33
    assert len({t.text for t in TEMPLATES}) == 33
    per_cell = Counter(t.cell for t in TEMPLATES)
    assert list(per_cell) == list(CELLS)  # grouped in the official order
    assert [per_cell[c] for c in CELLS] == [3, 3, 4, 4, 3, 4, 4, 4, 4]


def test_canonical_spelling_has_ascii_question_mark_and_no_trailing_space():
    for t in TEMPLATES:
        assert t.text.endswith("?") and t.text == t.text.strip() and "\uff1f" not in t.text


@pytest.mark.parametrize("spelling, cell", [
    ("How many sounding <Object> in the video\uff1f", ("Audio-Visual", "Counting")),
    ("Are there <Object> and <Object> sound? ", ("Audio", "Counting")),
    ("What kind of instrument is the <LRer> instrument? ", ("Visual", "Location")),
    ("Where is the performance?", ("Visual", "Location")),
])
def test_file_quirks_find_their_template(spelling, cell):
    assert find_template(spelling).cell == cell
    assert canonical_template(spelling).endswith("?") and not canonical_template(spelling).endswith(" ")


def test_unknown_template_is_none():
    assert find_template("Is the piano out of tune?") is None


def test_placeholders_in_order_and_every_placeholder_has_fillers():
    assert placeholders_of("Is the <Object> on the <LR> louder than the <Object> on the <LR>?") == (
        "<Object>", "<LR>", "<Object>", "<LR>")
    used = {p for t in TEMPLATES for p in t.placeholders}
    assert used == set(PLACEHOLDER_FILLERS)
    assert PLACEHOLDER_FILLERS["<Object>"] == INSTRUMENTS and len(INSTRUMENTS) == 22
    assert PLACEHOLDER_FILLERS["<TH>"] == ("first", "second", "third", "fourth", "fifth")


def test_cell_index_roundtrip_and_error():
    assert [cell_index(*c) for c in CELLS] == list(range(9))
    with pytest.raises(ValueError, match="not a MUSIC-AVQA question cell"):
        cell_index("Audio", "Temporal")
