"""Restore frames too large for the GPU in overlapping tiles, each with its own recurrence.

Why tiles keep their own state: STFAN's recurrent state (previous blurry and
restored frame, hidden features) is spatial, so a tile's state must come from
that same tile in the previous frame. Each tile therefore gets its own
:class:`~deblur_cli.engine.RecurrentEngine` over the shared model.

Tiles start on multiples of 4 pixels, so each tile sees the same 1/2- and
1/4-resolution sampling grid as the whole frame, and overlap by at least
``overlap`` pixels. Where tiles overlap, their outputs are blended with
raised-cosine weights that fall to zero before a tile's inner edge (where its
receptive field is cut off and its output is least like the whole-frame one)
and are normalised to sum to exactly 1, so there are no seams.

The result is not bit-identical to the untiled frame: STFAN's receptive field
spans well over 100 pixels, so output near a tile's inner edge differs. The
blending hides this; a larger overlap makes it smaller (see tests/test_tiling.py
for figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import DeviceError
from ..models import STFAN
from .engine import MULTIPLE, RecurrentEngine, pad_to_multiple
from .graphs import GraphBackend

DEFAULT_OVERLAP = 64
# A tile's output is ignored within this fraction of the overlap from its inner edge (where its receptive
# field is cut off most); the blend ramps across the central half of the overlap. Measured on 128x192
# frames, golden weights, overlap 64: max error vs untiled 9e-4 with the margin, 3.5e-3 with none.
EDGE_MARGIN = 0.25

# Peak activation memory of one STFAN step, in stored numbers per input pixel (multiply by the dtype's
# size). Measured on the CPU with a tracker of live tensors (a TorchDispatchMode adding each new storage's
# size and subtracting it when freed) at 64x96 and 128x192, which gave the same figure: the peak is at
# the 1/4-resolution FAC, where 3200-channel filter tensors (200 numbers per input pixel each) are live.
# - reference FAC: 661 (filters + the unfolded input + its product with the filters, 3 x 200 of it);
# - Triton FAC with the fused deblurring head: 251 (only the alignment filters are ever stored).
# Plus 22 for the recurrent state kept between frames. Checked on an H100 (benchmarks/RESULTS.md, 1920x1080
# fp16, torch.cuda.max_memory_allocated): these give 1080 MiB (fast) and 2701 MiB (reference), the measured
# peaks were 1214 and 2833 MiB: cuDNN workspaces and the caching allocator add 5-12 %, well inside
# MEMORY_SAFETY. benchmarks/bench_model.py prints the peak to check them again after kernel changes.
VALUES_PER_PIXEL_REFERENCE = 661 + 22
VALUES_PER_PIXEL_FAST = 251 + 22
MEMORY_SAFETY = 1.5
MIN_TILE = 256  # below this the overlap would dominate the work


@dataclass(frozen=True)
class Tile:
    """One tile: its rows and columns in the (padded) frame and its blending weights (h, w)."""

    rows: slice
    cols: slice
    weight: torch.Tensor


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) spans covering ``length`` with tiles of ``tile`` overlapping by >= ``overlap``.

    ``length``, ``tile`` and ``overlap`` are multiples of 4, and so is every start.
    Spacing is as even as 4-pixel alignment allows.
    """
    for name, value in (("length", length), ("tile", tile), ("overlap", overlap)):
        if value % MULTIPLE:
            raise ValueError(f"{name} must be a multiple of {MULTIPLE}, got {value}")
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    last = length - tile
    starts = [(k * last // (count - 1)) // MULTIPLE * MULTIPLE for k in range(count)]
    return [(start, start + tile) for start in starts]


def _raised_cosine(distance: torch.Tensor, overlap: int) -> torch.Tensor:
    """0 up to ``overlap * EDGE_MARGIN`` pixels from a tile's inner edge, 1 from ``overlap * (1 - EDGE_MARGIN)``."""
    margin = EDGE_MARGIN * overlap
    u = ((distance - margin) / (overlap - 2 * margin)).clamp(0.0, 1.0)
    return torch.sin(0.5 * math.pi * u) ** 2


def blend_weights_1d(length: int, spans: list[tuple[int, int]], overlap: int) -> list[torch.Tensor]:
    """Per-span weights along one axis that sum to 1 at every position.

    A span's weight ramps only at edges that face another tile; at the frame's
    own border it stays 1 (there is nothing to blend with).
    """
    raw = []
    for start, stop in spans:
        pos = torch.arange(start, stop, dtype=torch.float64) + 0.5
        dist = torch.full_like(pos, float(overlap))
        if start > 0:
            dist = torch.minimum(dist, pos - start)
        if stop < length:
            dist = torch.minimum(dist, stop - pos)
        raw.append(_raised_cosine(dist, overlap))
    total = torch.zeros(length, dtype=torch.float64)
    for (start, stop), w in zip(spans, raw):
        total[start:stop] += w
    return [w / total[start:stop] for (start, stop), w in zip(spans, raw)]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """The tiles of a (padded) frame, row-major, with 2D weights summing to 1 at every pixel."""
    row_spans, col_spans = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    row_w, col_w = blend_weights_1d(height, row_spans, overlap), blend_weights_1d(width, col_spans, overlap)
    return [
        Tile(slice(r0, r1), slice(c0, c1), (wr[:, None] * wc[None, :]).float())
        for (r0, r1), wr in zip(row_spans, row_w)
        for (c0, c1), wc in zip(col_spans, col_w)
    ]


class TiledEngine(RecurrentEngine):
    """A :class:`RecurrentEngine` that restores each frame as overlapping tiles.

    Same interface (``reset``, ``step``, ``process_array``, ``frames_done``);
    ``tile`` is the tile's side in pixels (a multiple of 4). Frames no larger
    than one tile go through a single tile, which is exactly the untiled engine.
    """

    def __init__(
        self,
        model: STFAN,
        *,
        tile: int,
        overlap: int = DEFAULT_OVERLAP,
        channel_order: str = "RGB",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(model, channel_order=channel_order, device=device, dtype=dtype)
        tile_spans(tile, tile, overlap)  # validates tile and overlap now, not on the first frame
        self.tile, self.overlap = tile, overlap
        self._tiles: list[tuple[Tile, RecurrentEngine]] = []
        self._frame_size: tuple[int, int] | None = None
        self._planned: tuple[int, int, int] | None = None  # (height, width, tile) of the tiles in self._tiles
        self._graph_backend: GraphBackend | None = None
        self._graphs = False

    def enable_graphs(self, backend: GraphBackend | None = None) -> None:
        """CUDA graphs for frames restored as one tile (a graph per tile would hold each tile's activations)."""
        self._graphs, self._graph_backend = True, backend
        self._tiles, self._frame_size, self._planned = [], None, None

    def reset(self) -> None:
        """Forget every tile's recurrence; tiles of an unchanged plan (and their CUDA graphs) are kept."""
        super().reset()
        self._frame_size = None  # the next frame plans its tiles again
        for _, engine in self._tiles:
            engine.reset()

    def _layout(self, height: int, width: int) -> list[tuple[Tile, RecurrentEngine]]:
        """Tiles and their engines for this frame size; a new size starts a new clip."""
        if self._frame_size != (height, width):
            if self._frame_size is not None:
                self.reset()
            self._frame_size = (height, width)
        if self._planned != (height, width, self.tile):
            self._tiles = []  # released before the new tiles' engines (and graphs) are made
            self._planned = (height, width, self.tile)
            self._tiles = [
                (
                    Tile(t.rows, t.cols, t.weight.to(self.device, self.dtype)),
                    RecurrentEngine(self.model, channel_order=self.channel_order, device=self.device, dtype=self.dtype),
                )
                for t in plan_tiles(height, width, self.tile, self.overlap)
            ]
            if self._graphs and len(self._tiles) == 1:
                self._tiles[0][1].enable_graphs(self._graph_backend)
        return self._tiles

    @torch.inference_mode()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """Restore one frame tile by tile: (3, H, W) or (1, 3, H, W) RGB in [0, 1] -> same shape."""
        batched = frame.dim() == 4
        x = frame if batched else frame.unsqueeze(0)
        x = x.to(device=self.device, dtype=self.dtype, non_blocking=True)
        x, (h, w) = pad_to_multiple(x)
        out = torch.zeros_like(x)
        for tile, engine in self._layout(*x.shape[-2:]):
            # Each tile engine flips channels for BGR weights and clamps to [0, 1] itself;
            # a convex blend of values in [0, 1] stays in [0, 1].
            out[..., tile.rows, tile.cols] += engine.step(x[..., tile.rows, tile.cols]) * tile.weight
        self.frames_done += 1
        out = out[..., :h, :w]
        return out if batched else out[0]


class AutoTiledEngine(TiledEngine):
    """Tiles only frames that would not fit in the device's free memory (:func:`choose_tile`), per frame size.

    A frame that fits goes through one tile covering all of it, which is
    exactly the untiled engine. On the CPU :func:`choose_tile` never tiles.
    """

    def __init__(self, model: STFAN, **kwargs) -> None:
        super().__init__(model, tile=MIN_TILE, **kwargs)

    def _layout(self, height: int, width: int) -> list[tuple[Tile, RecurrentEngine]]:
        if self._frame_size != (height, width):
            fast = getattr(self.model, "fused_deblur", None) is not None
            side = choose_tile(height, width, self.device, self.dtype, fast=fast)
            whole = max(height, width, self.overlap + MULTIPLE)  # one span covers the frame: no blending at all
            self.tile = side if side is not None else whole
        return super()._layout(height, width)


def tile_overlap(tile: int) -> int:
    """The overlap for a ``tile``-pixel tile: :data:`DEFAULT_OVERLAP`, or a quarter of smaller tiles."""
    return min(DEFAULT_OVERLAP, max(MULTIPLE, tile // 4 // MULTIPLE * MULTIPLE))


def choose_tile(
    height: int,
    width: int,
    device: torch.device | str,
    dtype: torch.dtype,
    *,
    fast: bool = False,
    free_bytes: int | None = None,
) -> int | None:
    """The tile side for frames of ``height`` x ``width``, or None when a whole frame fits.

    Only CUDA devices are tiled (the CPU's memory is the system's and swaps
    rather than failing). ``fast`` says whether the Triton/fused FAC is in use
    (a smaller footprint); ``free_bytes`` overrides the device's free memory
    (``torch.cuda.mem_get_info``), for tests. The estimate is explained at
    ``VALUES_PER_PIXEL_REFERENCE``.
    """
    device = torch.device(device)
    if device.type != "cuda" and free_bytes is None:
        return None
    if free_bytes is None:
        free_bytes, _total = torch.cuda.mem_get_info(device)
    per_pixel = (VALUES_PER_PIXEL_FAST if fast else VALUES_PER_PIXEL_REFERENCE) * dtype.itemsize * MEMORY_SAFETY
    pixels = free_bytes / per_pixel
    padded = (height + (-height) % MULTIPLE) * (width + (-width) % MULTIPLE)
    if padded <= pixels:
        return None
    # Square tiles; the frame's recurrent state and the blended output add ~25 numbers per frame pixel.
    frame_state = padded * 25 * dtype.itemsize
    side = int(math.sqrt(max(free_bytes - frame_state, 0) / per_pixel)) // 64 * 64
    if side < MIN_TILE:
        need = (MIN_TILE**2 * per_pixel + frame_state) / 2**20
        raise DeviceError(
            f"not enough free GPU memory for {width}x{height} frames even in {MIN_TILE}-pixel tiles "
            f"(about {need:.0f} MiB needed, {free_bytes / 2**20:.0f} MiB free): free the GPU or use --device cpu"
        )
    return side
