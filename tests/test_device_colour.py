"""YUV planes <-> RGB in PyTorch (inference/colour.py) agree with today's swscale path (io/colour.py via PyAV).

Tolerances are the colour tests' (tests/test_pipeline.py): RGB within 2.5/255,
YUV codes within 2 (8-bit) or 8 (10-bit). Measured on these frames: within
1.1/255 and 1 code (8-bit) or 4 codes (10-bit).
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from deblur_cli.inference.colour import PLANE_FORMATS, ColourSpec, planes_to_rgb, rgb_to_planes
from deblur_cli.io.colour import ColourInfo, colour_of, frame_to_rgb, rgb_to_frame
from tests.clipgen import BT601_LIMITED, BT709_FULL, BT709_LIMITED, BT2020_LIMITED, make_clip
from tests.test_pipeline import EXPECTED_RGB, FLAT_YUV, FLAT_YUV_10, limited_ycbcr_to_rgb

BT2020_FULL = ColourInfo(primaries=9, trc=14, matrix=9, range=2)
FCC_LIMITED = ColourInfo(matrix=4, range=1)
SMPTE240M_LIMITED = ColourInfo(matrix=7, range=1)
UNTAGGED = ColourInfo()  # BT.601 matrix, limited range: swscale's and our default
CASES = [("yuv420p", BT709_LIMITED), ("yuv420p", BT601_LIMITED), ("yuvj420p", BT709_FULL), ("nv12", BT709_LIMITED),
         ("yuv420p", FCC_LIMITED), ("yuv420p", SMPTE240M_LIMITED), ("yuv420p", UNTAGGED), ("yuv444p", BT601_LIMITED),
         ("yuv420p10le", BT2020_LIMITED), ("yuv420p10le", BT2020_FULL), ("p010le", BT709_LIMITED),
         ("yuv444p10le", BT709_FULL)]


def _deep(pix_fmt: str) -> bool:
    return PLANE_FORMATS[pix_fmt].bits > 8


def smooth_rgb(height: int, width: int, seed: int, peak: int) -> np.ndarray:
    """Random colours that vary over ~8 pixels: chroma resampling differences stay small but not zero."""
    small = torch.from_numpy(np.random.default_rng(seed).random((3, height // 8 + 2, width // 8 + 2)))
    big = torch.nn.functional.interpolate(small[None], size=(height, width), mode="bicubic", align_corners=False)
    return (big[0].clamp(0, 1).permute(1, 2, 0).numpy() * peak).round().astype(np.uint16 if peak > 255 else np.uint8)


def planes_of(frame) -> list[torch.Tensor]:
    """A decoded frame's planes as they are in memory (line padding cut off), as integer tensors."""
    deep = frame.format.name.endswith("10le") or frame.format.name.startswith("p010")
    dtype = np.uint16 if deep else np.uint8
    planes = []
    for index, plane in enumerate(frame.planes):
        pairs = 2 if index == 1 and frame.format.name in ("nv12", "p010le") else 1
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : plane.width * pairs]
        rows = rows.reshape(plane.height, plane.width, 2) if pairs == 2 else rows
        planes.append(torch.from_numpy(rows.view(np.int16) if deep else rows.copy()))
    return planes


def _codes(t: torch.Tensor) -> np.ndarray:
    return (t.to(torch.int32) & 0xFFFF).numpy()


@pytest.mark.parametrize("size", [(48, 64), (47, 63)], ids=["even", "odd"])
@pytest.mark.parametrize("pix_fmt, colour", CASES, ids=[f"{p}-m{c.matrix}r{c.range}" for p, c in CASES])
def test_both_directions_match_swscale(pix_fmt, colour, size):
    deep = _deep(pix_fmt)
    peak, rgb_format = (65535, "rgb48le") if deep else (255, "rgb24")
    rgb = smooth_rgb(*size, seed=sum(size), peak=peak)
    frame = rgb_to_frame(rgb, rgb_format, pix_fmt, colour)
    spec = ColourSpec.of(colour)

    want_rgb = frame_to_rgb(frame, colour, rgb_format).astype(np.float64) / peak
    got_rgb = planes_to_rgb(planes_of(frame), pix_fmt, spec).permute(1, 2, 0).double().numpy()
    assert got_rgb.shape == want_rgb.shape
    assert np.abs(got_rgb - want_rgb).max() <= 2.5 / 255

    got_planes = rgb_to_planes(torch.from_numpy(rgb.astype(np.float32) / peak).permute(2, 0, 1), pix_fmt, spec)
    step = 4 if deep else 1
    for got, want in zip(got_planes, planes_of(frame)):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.abs(_codes(got).astype(int) - _codes(want)).max() <= 2 * step * (64 if pix_fmt == "p010le" else 1)


@pytest.mark.parametrize("name, tags", [("bt601_limited", BT601_LIMITED), ("bt709_limited", BT709_LIMITED),
                                        ("bt709_full", BT709_FULL)])
def test_flat_patch_of_a_decoded_file_has_the_expected_colour(tmp_path, name, tags):
    """The decoder's planes as they come (a real H.264 file), the expected RGB of test_pipeline's colour test."""
    src = make_clip(tmp_path / "flat.mkv", frames=2, flat_yuv=FLAT_YUV, colour=tags, lossless=True)
    with av.open(str(src)) as container:
        frame = next(container.decode(video=0))
        colour = colour_of(frame, container.streams.video[0])
    rgb = planes_to_rgb(planes_of(frame), frame.format.name, ColourSpec.of(colour))
    assert np.abs(rgb[:, 20, 30].numpy() * 255 - EXPECTED_RGB[name]).max() <= 2.5
    codes = [int(_codes(p).flat[0]) for p in rgb_to_planes(rgb, frame.format.name, ColourSpec.of(colour))]
    assert np.abs(np.array(codes) - FLAT_YUV).max() <= 2


def test_ten_bit_bt2020_flat_patch_matches_the_textbook_formula():
    frame = rgb_to_frame(np.zeros((16, 16, 3), np.uint16), "rgb48le", "yuv420p10le", BT2020_LIMITED)
    planes = [torch.full_like(p, v) for p, v in zip(planes_of(frame), FLAT_YUV_10)]
    rgb = planes_to_rgb(planes, "yuv420p10le", ColourSpec.of(BT2020_LIMITED))
    want = limited_ycbcr_to_rgb(FLAT_YUV_10, kr=0.2627, kb=0.0593, bits=10)
    assert np.abs(rgb[:, 5, 5].numpy() - want).max() <= 0.5 / 255


def test_unknown_pixel_format_is_refused():
    with pytest.raises(ValueError, match="no device colour conversion"):
        planes_to_rgb([torch.zeros(4, 4, dtype=torch.uint8)] * 3, "gbrp", ColourSpec())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_gives_the_cpu_result():
    rgb = torch.from_numpy(smooth_rgb(64, 96, seed=3, peak=255).astype(np.float32) / 255).permute(2, 0, 1)
    planes = rgb_to_planes(rgb, "nv12", ColourSpec(1, False))
    on_gpu = planes_to_rgb([p.cuda() for p in planes], "nv12", ColourSpec(1, False)).cpu()
    torch.testing.assert_close(on_gpu, planes_to_rgb(planes, "nv12", ColourSpec(1, False)), atol=1e-5, rtol=0)
