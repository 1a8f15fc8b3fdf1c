"""Image sequences: ordering, every input flavour to (H, W, 3) RGB, atomic and careful PNG output."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from deblur_cli.errors import InputError, OutputError
from deblur_cli.io.images import (
    FrameWriter,
    encode_png,
    iter_frames,
    list_frames,
    read_frame,
)

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (6, 10, 3), dtype=np.uint16)


def touch_images(folder: Path, names: list[str]) -> None:
    for name in names:
        Image.fromarray(RGB8).save(folder / name)


def test_natural_order_and_only_image_files(tmp_path):
    touch_images(tmp_path, ["10.png", "2.png", "1.png", "frame_3.JPG", "b.bmp", "c.tiff", "d.jpeg", "e.tif"])
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_frames(tmp_path)]
    assert names == ["1.png", "2.png", "10.png", "b.bmp", "c.tiff", "d.jpeg", "e.tif", "frame_3.JPG"]


def test_natural_order_with_prefixes(tmp_path):
    touch_images(tmp_path, ["shot_frame10.png", "shot_frame9.png", "shot_frame100.png", "shot_frame1.png"])
    assert [p.name for p in list_frames(tmp_path)] == [
        "shot_frame1.png", "shot_frame9.png", "shot_frame10.png", "shot_frame100.png"]


def test_empty_or_missing_folder_is_an_input_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError, match="no image frames"):
        list_frames(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        list_frames(tmp_path / "missing")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "CMYK"])
def test_every_8_bit_flavour_reads_as_rgb(tmp_path, mode):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = tmp_path / f"x{suffix}"
    Image.fromarray(RGB8).convert(mode).save(path, **({"quality": 100} if suffix == ".jpg" else {}))
    frame = read_frame(path)
    assert frame.shape == (6, 10, 3) and frame.dtype == np.uint8
    expected = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_allclose(frame.astype(int), expected.astype(int), atol=2 if mode == "CMYK" else 0)
    if mode == "L":
        assert (frame[..., 0] == frame[..., 1]).all() and (frame[..., 1] == frame[..., 2]).all()


def test_16_bit_png_keeps_16_bits(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(encode_png(RGB16))
    frame = read_frame(path)
    assert frame.dtype == np.uint16
    np.testing.assert_array_equal(frame, RGB16)


def test_16_bit_grey_png_and_tiff(tmp_path):
    grey = RGB16[..., 0]
    iio.imwrite(tmp_path / "g.png", grey)  # Pillow writes 16-bit grey PNGs
    frame = read_frame(tmp_path / "g.png")
    assert frame.dtype == np.uint16
    np.testing.assert_array_equal(frame, np.dstack([grey] * 3))
    iio.imwrite(tmp_path / "rgb.tif", RGB16)
    np.testing.assert_array_equal(read_frame(tmp_path / "rgb.tif"), RGB16)


def test_bmp_and_jpeg(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "a.bmp")
    np.testing.assert_array_equal(read_frame(tmp_path / "a.bmp"), RGB8)
    Image.fromarray(RGB8).save(tmp_path / "a.jpg")
    assert read_frame(tmp_path / "a.jpg").shape == RGB8.shape


def test_unreadable_images_are_input_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="bad.png: not a readable image"):
        read_frame(tmp_path / "bad.png")
    good = encode_png(RGB8)
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="cut.png"):
        read_frame(tmp_path / "cut.png")
    with pytest.raises(InputError, match="not found"):
        read_frame(tmp_path / "missing.png")
    iio.imwrite(tmp_path / "float.tif", RGB8.astype(np.float32))
    with pytest.raises(InputError, match="unsupported sample type"):
        read_frame(tmp_path / "float.tif")


def test_frames_of_differing_size_or_depth_are_refused(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "1.png")
    Image.fromarray(RGB8[:4]).save(tmp_path / "2.png")
    frames = iter_frames(list_frames(tmp_path))
    assert next(frames).shape == RGB8.shape
    with pytest.raises(InputError, match="same size"):
        next(frames)
    (tmp_path / "2.png").write_bytes(encode_png(RGB16))
    with pytest.raises(InputError, match="16-bit"):
        list(iter_frames(list_frames(tmp_path)))


@pytest.mark.parametrize("frame", [RGB8, RGB16], ids=["8bit", "16bit"])
def test_writer_round_trip(tmp_path, frame):
    out = tmp_path / "out" / "nested"
    with FrameWriter(out) as writer:
        for k in range(3):
            writer.write(frame if k != 1 else frame[::-1].copy())
    paths = list_frames(out)
    assert [p.name for p in paths] == ["000000.png", "000001.png", "000002.png"]
    assert [p.name for p in out.iterdir()] and not any(p.name.startswith(".") for p in out.iterdir())
    read = list(iter_frames(paths))
    np.testing.assert_array_equal(read[0], frame)
    np.testing.assert_array_equal(read[1], frame[::-1])
    if frame.dtype == np.uint8:  # other readers agree
        np.testing.assert_array_equal(np.asarray(Image.open(paths[0])), frame)


def test_writer_pattern_and_start(tmp_path):
    with FrameWriter(tmp_path / "o", "frame_%04d.png", start=7) as writer:
        assert writer.write(RGB8).name == "frame_0007.png"
        assert writer.write(RGB8).name == "frame_0008.png"


def test_writer_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".DS_Store").write_bytes(b"")  # hidden files do not count
    FrameWriter(out).close()
    (out / "000005.png").write_bytes(encode_png(RGB8))
    (out / "keep.txt").write_text("user file")
    with pytest.raises(OutputError, match="not empty"):
        FrameWriter(out)
    with FrameWriter(out, overwrite=True) as writer:
        writer.write(RGB16)
        writer.write(RGB16)
    # The new sequence replaced the old frames, stale ones included; other files stay.
    assert sorted(p.name for p in out.iterdir()) == [".DS_Store", "000000.png", "000001.png", "keep.txt"]
    assert read_frame(out / "000000.png").dtype == np.uint16


def test_writer_refuses_a_file_the_input_folder_and_bad_patterns(tmp_path):
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(OutputError, match="a file is there"):
        FrameWriter(tmp_path / "file.png")
    with pytest.raises(OutputError, match="input folder"):
        FrameWriter(tmp_path, overwrite=True, input_folder=tmp_path)
    for pattern in ["frame.png", "%d_%d.png", "%06d.jpg", "sub/%06d.png", ".%06d.png"]:
        with pytest.raises(OutputError, match="pattern"):
            FrameWriter(tmp_path / "o", pattern)
    assert not (tmp_path / "o").exists()


def test_a_failed_sequence_is_removed(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with FrameWriter(out) as writer:
            writer.write(RGB8)
            raise RuntimeError("decoder died")
    assert not out.exists()


def test_no_temporary_left_when_a_write_fails(tmp_path, monkeypatch):
    import os

    out = tmp_path / "out"
    writer = FrameWriter(out)

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        writer.write(RGB8)
    assert list(out.iterdir()) == []
