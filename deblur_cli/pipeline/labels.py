"""Small text labels burnt into frames (``input`` / ``restored`` on a ``--compare`` composite).

A built-in 5x7 bitmap font (capital letters, digits, a few signs) drawn with
NumPy: no font files, no imaging library. Text is drawn in capitals, white on
a black box, scaled with the frame (1 px per font pixel up to 360 lines, 3 at
1080p), and left out where it would not fit.
"""

from __future__ import annotations

import numpy as np

GLYPH_W, GLYPH_H = 5, 7
# Each glyph: 7 rows of 5 columns, "#" = ink.
_FONT_ROWS = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
    " ": (".....",) * 7,
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "/": ("....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."),
    "%": ("##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##"),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
}
FONT = {ch: np.array([[c == "#" for c in row] for row in rows], dtype=bool) for ch, rows in _FONT_ROWS.items()}
LINES_PER_SCALE = 360  # one font pixel per frame pixel up to this height, then larger


def scale_for(height: int) -> int:
    """Font pixels to frame pixels: 1 up to 360 lines, 2 at 720, 3 at 1080, 6 at 2160."""
    return max(1, height // LINES_PER_SCALE)


def text_mask(text: str) -> np.ndarray:
    """The ink of ``text`` (in capitals; unknown characters as ``?``) as a boolean (7, 6n - 1) array."""
    glyphs = [FONT.get(ch, FONT["?"]) for ch in text.upper()]
    gap = np.zeros((GLYPH_H, 1), dtype=bool)
    parts = []
    for i, glyph in enumerate(glyphs):
        parts += [gap, glyph] if i else [glyph]
    return np.concatenate(parts, axis=1) if parts else np.zeros((GLYPH_H, 0), dtype=bool)


def label_size(text: str, scale: int) -> tuple[int, int]:
    """(width, height) in frame pixels of ``text``'s label, its box included."""
    mask = text_mask(text)
    return (mask.shape[1] + 2) * scale, (mask.shape[0] + 2) * scale


def draw_label(frame: np.ndarray, text: str, x: int, y: int, scale: int, *, limit: int | None = None) -> bool:
    """Draw ``text`` in place, its box's top-left corner at (``x``, ``y``); False (nothing drawn) if it does not fit.

    ``limit``: the right edge (exclusive) the label must stay left of (default:
    the frame's width), e.g. the middle of a composite for the left half's label.
    """
    height, width = frame.shape[:2]
    box_w, box_h = label_size(text, scale)
    right = width if limit is None else min(limit, width)
    if x < 0 or y < 0 or x + box_w > right or y + box_h > height:
        return False
    ink = np.kron(text_mask(text), np.ones((scale, scale), dtype=bool))
    peak = np.iinfo(frame.dtype).max
    frame[y:y + box_h, x:x + box_w] = 0
    region = frame[y + scale:y + scale + ink.shape[0], x + scale:x + scale + ink.shape[1]]
    region[ink] = peak
    return True
