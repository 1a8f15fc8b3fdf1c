"""Before/after composition: sizes, where each half comes from, the divider, both bit depths."""

from __future__ import annotations

import numpy as np
import pytest

from deblur_cli.pipeline.compare import compose, divider_width


def pair(h: int, w: int, dtype=np.uint8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    peak = np.iinfo(dtype).max
    # Keep both well away from white so the divider is unambiguous.
    before = rng.integers(0, peak // 2, (h, w, 3), dtype=dtype)
    after = rng.integers(0, peak // 2, (h, w, 3), dtype=dtype)
    return before, after


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("w", [64, 63])
def test_side_by_side_doubles_the_width(dtype, w):
    before, after = pair(48, w, dtype)
    out = compose(before, after, "side")
    assert out.shape == (48, 2 * w, 3) and out.dtype == dtype
    assert out.shape[1] % 2 == 0  # yuv420 needs an even width, whatever the input width
    np.testing.assert_array_equal(out[:, :w], before)
    np.testing.assert_array_equal(out[:, w:], after)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("w", [64, 63, 1920])
def test_split_keeps_the_size_with_a_divider(dtype, w):
    before, after = pair(8, w, dtype)
    out = compose(before, after, "split")
    assert out.shape == before.shape and out.dtype == dtype
    line = divider_width(w)
    middle = w // 2
    lo, hi = middle - line // 2, middle + line // 2
    assert (out[:, lo:hi] == np.iinfo(dtype).max).all()
    np.testing.assert_array_equal(out[:, :lo], before[:, :lo])
    np.testing.assert_array_equal(out[:, hi:], after[:, hi:])
    assert 2 <= line <= max(2, w // 100)  # thin


def test_inputs_are_not_modified():
    before, after = pair(8, 16)
    copies = before.copy(), after.copy()
    compose(before, after, "split")
    np.testing.assert_array_equal(before, copies[0])
    np.testing.assert_array_equal(after, copies[1])


def test_mismatch_and_bad_mode_are_refused():
    before, after = pair(8, 16)
    with pytest.raises(ValueError, match="must match"):
        compose(before, after[:, :8], "side")
    with pytest.raises(ValueError, match="must match"):
        compose(before, after.astype(np.uint16), "side")
    with pytest.raises(ValueError, match="unknown comparison mode"):
        compose(before, after, "overlay")
    with pytest.raises(ValueError, match="uint8 or uint16"):
        compose(before.astype(np.float32), after.astype(np.float32), "side")
