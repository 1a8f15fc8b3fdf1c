"""Video input/output pieces: probing, stream choice, colour conversion, encoder plans, atomic writes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from av.stream import Disposition

from deblur_cli.errors import InputError, OutputError
from deblur_cli.io import encode_plan
from deblur_cli.io.atomic import atomic_output, check_output
from deblur_cli.io.colour import ColourInfo, frame_to_rgb, rgb_to_frame
from deblur_cli.io.copy_plan import plan_copy
from deblur_cli.io.encoders import EncoderStatus
from deblur_cli.io.sink import plan_encoder
from deblur_cli.io.source import VideoSource, choose_video_stream
from tests.clipgen import BT601_LIMITED, BT709_FULL, BT709_LIMITED, make_clip

# One flat colour, as Y/U/V codes, and what it is in RGB under each interpretation
# (textbook formulas; swscale agrees within about one code).
FLAT_YUV = (110, 80, 190)
EXPECTED_RGB = {
    "bt601_limited": (208.4, 77.8, 12.6),
    "bt709_limited": (220.6, 86.7, 8.1),
    "bt709_full": (207.6, 90.0, 20.9),
}
TAGS = {"bt601_limited": BT601_LIMITED, "bt709_limited": BT709_LIMITED, "bt709_full": BT709_FULL}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("io_clips")
    return {
        "plain": make_clip(folder / "plain.mkv", frames=6, audio=["aac"], subtitles=[(0.05, 0.15, "hi")],
                           colour=BT709_LIMITED, rotation=90),
        "mp4": make_clip(folder / "plain.mp4", frames=7, fps=30, audio=["aac", "libopus"]),
        "ten": make_clip(folder / "ten.mkv", frames=3, codec="libx265", pix_fmt="yuv420p10le"),
        "cover": make_clip(folder / "cover.mkv", frames=4, cover_art=True, audio=["aac"]),
    }


# --- probing ---------------------------------------------------------------------------------

def test_facts_of_a_clip(clips):
    with VideoSource(clips["plain"]) as src:
        f = src.facts
        assert (f.width, f.height, f.pix_fmt, f.bit_depth) == (64, 48, "yuv420p", 8)
        assert f.time_base == Fraction(1, 1000) and f.average_rate == 25
        assert f.colour == ColourInfo(primaries=1, trc=1, matrix=1, range=1)
        assert f.rotation == 90
        assert [(o.type, o.codec) for o in f.other_streams] == [("audio", "aac"), ("subtitle", "srt")]
        assert f.frame_count is None and f.estimated_frames == 6  # Matroska has no index count
        assert sum(1 for _ in src.frames()) == 6


def test_facts_of_mp4_and_ten_bit(clips):
    with VideoSource(clips["mp4"]) as src:
        assert src.facts.frame_count == 7 and src.facts.average_rate == 30
        assert [o.codec for o in src.facts.other_streams] == ["aac", "opus"]
    with VideoSource(clips["ten"]) as src:
        assert (src.facts.pix_fmt, src.facts.bit_depth) == ("yuv420p10le", 10)


def test_cover_art_is_never_the_main_video(clips):
    with VideoSource(clips["cover"]) as src:
        assert (src.facts.width, src.facts.height, src.facts.codec) == (64, 48, "h264")
        cover = [o for o in src.facts.other_streams if o.attached_pic]
        assert len(cover) == 1 and cover[0].codec == "png"

    def stream(index, w, h, disposition=0, codec="h264"):
        return SimpleNamespace(index=index, type="video", disposition=disposition,
                               codec_context=SimpleNamespace(width=w, height=h, name=codec))

    # cover art first and bigger than the film: still not chosen
    streams = [stream(0, 1000, 1000, Disposition.attached_pic), stream(1, 64, 48)]
    assert choose_video_stream(streams).index == 1
    assert choose_video_stream([stream(0, 500, 500, Disposition.attached_pic)]) is None
    # a cover that lost its flag (an ordinary one-picture JPEG/PNG track, as AVI stores it): not the film either
    for codec in ("mjpeg", "png"):
        assert choose_video_stream([stream(0, 64, 48), stream(1, 96, 96, codec=codec)]).index == 0
    assert choose_video_stream([stream(0, 96, 96, codec="mjpeg")]).index == 0  # a motion-JPEG camera file


@pytest.mark.parametrize("case", ["missing", "empty", "text", "folder", "audio_only", "cover_only"])
def test_unusable_inputs_are_input_errors(tmp_path, case):
    path = tmp_path / "in.mkv"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n" * 50)
    elif case == "folder":
        path.mkdir()
    elif case == "audio_only":
        with av.open(str(path), "w") as out:
            s = out.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(s.encode(frame))
            out.mux(s.encode(None))
    elif case == "cover_only":
        with av.open(str(path), "w") as out:
            out.add_attachment("cover.png", "image/png", _png_bytes())
            s = out.add_stream("aac", rate=48000)
            out.mux(s.encode(None))
    with pytest.raises(InputError) as err:
        VideoSource(path)
    assert "\n" not in str(err.value) and str(path.name) in str(err.value)


def _png_bytes() -> bytes:
    import io
    buf = io.BytesIO()
    with av.open(buf, "w", format="image2pipe") as img:
        s = img.add_stream("png")
        s.width, s.height, s.pix_fmt = 8, 8, "rgb24"
        img.mux(s.encode(av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format="rgb24")))
        img.mux(s.encode(None))
    return buf.getvalue()


# --- colour ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TAGS))
def test_yuv_to_rgb_uses_the_inputs_matrix_and_range(tmp_path, name):
    clip = make_clip(tmp_path / f"{name}.mkv", frames=1, flat_yuv=FLAT_YUV, colour=TAGS[name], lossless=True)
    with VideoSource(clip) as src:
        frame = next(src.frames())
        rgb = frame_to_rgb(frame, src.facts.colour, "rgb24")
        back = rgb_to_frame(rgb, "rgb24", "yuv420p", src.facts.colour)
    assert np.abs(rgb[8, 8].astype(float) - EXPECTED_RGB[name]).max() <= 2.0
    codes = [np.frombuffer(bytes(p), np.uint8)[0] for p in back.planes]
    assert np.abs(np.array(codes, int) - FLAT_YUV).max() <= 1  # the round trip returns the input codes
    assert (back.colorspace, back.color_range) == (TAGS[name].matrix, TAGS[name].range)


# --- encoder plans ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def facts(clips):
    with VideoSource(clips["plain"]) as src:
        return src.facts


def test_default_encoders(facts):
    plan = plan_encoder(Path("out.mp4"), facts)
    assert (plan.muxer, plan.codec, plan.pix_fmt) == ("mp4", "libx264", "yuv420p")
    assert plan.options["crf"] == "18" and plan.options["preset"] == encode_plan.DEFAULT_PRESET["libx264"] == "faster"
    assert plan_encoder(Path("out.webm"), facts).codec == "libvpx-vp9"
    assert plan_encoder(Path("x.MKV"), facts, codec="hevc", crf=22, preset="fast").options["crf"] == "22"


def test_ten_bit_input_gets_a_ten_bit_encoder(clips):
    with VideoSource(clips["ten"]) as src:
        assert plan_encoder(Path("o.mkv"), src.facts).pix_fmt == "yuv420p10le"
        assert plan_encoder(Path("o.mkv"), src.facts, codec="libx265").pix_fmt == "yuv420p10le"
        vp9 = plan_encoder(Path("o.webm"), src.facts)  # this libvpx build is 8-bit only
        assert vp9.pix_fmt == "yuv420p" and any("8-bit" in w for w in vp9.warnings)


@pytest.mark.parametrize("output, codec, words", [
    ("out.xyz", None, "unsupported output extension"),
    ("out", None, "unsupported output extension"),
    ("out.mp4", "no-such-codec", "unknown video codec"),
    ("out.mp4", "aac", "not a video codec"),
    ("out.webm", "libx264", "cannot be stored"),
])
def test_bad_output_choices_are_output_errors(facts, output, codec, words):
    with pytest.raises(OutputError, match=words):
        plan_encoder(Path(output), facts, codec=codec)


def test_nvenc_falls_back_with_a_reason(facts, monkeypatch):
    plan = plan_encoder(Path("out.mp4"), facts, codec="h264_nvenc", preset="p7")
    if plan.codec == "h264_nvenc":
        pytest.skip("an NVIDIA encoder is usable on this machine")
    # p7 means nothing to x264: its default preset applies
    assert plan.codec == "libx264" and plan.options["preset"] == encode_plan.DEFAULT_PRESET["libx264"]
    assert "h264_nvenc cannot be opened here" in plan.warnings[0] and "libx264 instead" in plan.warnings[0]
    # NVENC present in general but refusing this video (e.g. below its minimum size): same fallback
    monkeypatch.setattr(encode_plan, "encoder_status", lambda name: EncoderStatus(name, True, True))
    plan = plan_encoder(Path("out.mkv"), facts, codec="hevc_nvenc", crf=23)
    assert (plan.codec, plan.options["crf"]) == ("libx265", "23")
    assert "hevc_nvenc cannot encode 64x48 yuv420p here" in plan.warnings[0]


def test_copy_plan_per_container(clips, facts):
    mkv = plan_copy(clips["plain"], facts.other_streams, "matroska", ".mkv")
    assert mkv.copy == [1, 2] and not mkv.warnings
    mp4 = plan_copy(clips["plain"], facts.other_streams, "mp4", ".mp4")
    assert mp4.copy == [1] and "subtitle stream #2" in mp4.warnings[0]
    with pytest.raises(OutputError, match="aac.*cannot be copied into a .webm"):
        plan_copy(clips["plain"], facts.other_streams, "webm", ".webm")


# --- atomic output ---------------------------------------------------------------------------

def test_output_must_not_be_the_input(tmp_path):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x")
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    hard = tmp_path / "hard.mp4"
    os.link(src, hard)
    for target in (src, link, hard, tmp_path / "." / "a.mp4"):
        with pytest.raises(OutputError, match="overwrite the input"):
            check_output(src, target, overwrite=True)
    with pytest.raises(OutputError, match="exists"):
        check_output(tmp_path / "other.mp4", src, overwrite=False)
    check_output(tmp_path / "other.mp4", src, overwrite=True)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_removes_the_temp_file(tmp_path, error):
    final = tmp_path / "sub" / "out.mp4"
    with pytest.raises(error):
        with atomic_output(final) as temp:
            temp.write_bytes(b"partial")
            assert temp.parent == final.parent and temp.suffix == ".mp4"
            raise error()
    assert not final.exists() and list(final.parent.iterdir()) == []
    with atomic_output(final) as temp:
        temp.write_bytes(b"done")
    assert final.read_bytes() == b"done" and list(final.parent.iterdir()) == [final]
