"""Captions on --compare composites: a built-in bitmap font, drawn where it fits, scaled with the frame."""

from __future__ import annotations

import numpy as np
import pytest

from deblur_cli.pipeline.compare import LABELS, compose
from deblur_cli.pipeline.labels import (
    FONT,
    GLYPH_H,
    GLYPH_W,
    draw_label,
    label_size,
    scale_for,
    text_mask,
)


def flat(h: int, w: int, value: int, dtype=np.uint8) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=dtype)


def test_the_font_has_every_letter_and_digit_in_one_cell_size():
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.:/()%+?":
        assert FONT[ch].shape == (GLYPH_H, GLYPH_W)
    assert len({FONT[ch].tobytes() for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}) == 36  # all different
    mask = text_mask("input")
    assert mask.shape == (7, 5 * 6 - 1) and (mask[:, 5] == 0).all()  # one blank column between letters
    np.testing.assert_array_equal(mask[:, :5], FONT["I"])
    assert (text_mask("é") == FONT["?"]).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_side_by_side_captions_at_1080p(dtype):
    before, after = flat(1080, 1920, 100, dtype), flat(1080, 1920, 150, dtype)
    out = compose(before, after, "side", labels=LABELS)
    plain = compose(before, after, "side")
    scale = scale_for(1080)
    assert scale == 3
    peak = np.iinfo(dtype).max
    for text, x in (("input", 2 * scale), ("restored", 3840 - 2 * scale - label_size("restored", scale)[0])):
        w, h = label_size(text, scale)
        box = out[2 * scale:2 * scale + h, x:x + w, 0]
        ink = np.kron(text_mask(text), np.ones((scale, scale), bool))
        inner = box[scale:scale + ink.shape[0], scale:scale + ink.shape[1]]
        assert (inner[ink] == peak).all() and (inner[~ink] == 0).all()
        out[2 * scale:2 * scale + h, x:x + w] = plain[2 * scale:2 * scale + h, x:x + w]
    np.testing.assert_array_equal(out, plain)  # nothing else changed
    assert label_size("restored", scale)[1] < 1080 // 20  # small: about 2 % of the height


def test_split_captions_and_frames_too_small_for_them():
    out = compose(flat(720, 1280, 90), flat(720, 1280, 160), "split", labels=LABELS)
    assert scale_for(720) == 2
    assert out[4:6 + 18, 4:80].max() == 255 and out[4:6 + 18, 1280 - 120:1276].max() == 255
    tiny = compose(flat(48, 64, 90), flat(48, 64, 160), "split", labels=LABELS)
    np.testing.assert_array_equal(tiny, compose(flat(48, 64, 90), flat(48, 64, 160), "split"))  # no room: none
    frame = flat(10, 10, 7)
    assert not draw_label(frame, "restored", 0, 0, 1) and (frame == 7).all()
