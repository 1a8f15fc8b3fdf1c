"""Phone and camera footage comes back playable where it came from, with what it carried (issue 20).

The inputs are generated (tests/phonegen.py: a motion photo, an iPhone QuickTime file named .mp4, Android,
GoPro and Samsung clips; HDR from tests/clipgen.py) and every property is read back with PyAV.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import pytest

from deblur_cli.io.colour import hdr_of
from deblur_cli.io.encode_plan import plan_encoder
from deblur_cli.io.mp4boxes import find_trailer
from deblur_cli.io.source import VideoSource
from deblur_cli.pipeline.video import deblur_video
from tests import phonegen as pg
from tests.clipgen import BT709_LIMITED, BT2100_HLG, BT2100_PQ, decode_video, make_clip, packet_bytes, payloads
from tests.cliutil import run_cli
from tests.test_pipeline import HDR10, MASTER_DISPLAY, IdentityEngine


@pytest.fixture
def cli_args(random_weights):
    """A CLI run that writes the input frames (--strength 0), with the small test weights on the CPU."""
    return ["--weights", random_weights, "--device", "cpu", "--strength", "0"]


def run(src, dst, **kwargs):
    return deblur_video(src, dst, IdentityEngine(), **kwargs)


def video_of(path):
    """(format name, major brand, container tags, the main video stream's facts) of ``path``."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        cc = stream.codec_context
        facts = {"codec": cc.name, "tag": stream.codec_tag, "profile": cc.profile, "pix_fmt": cc.pix_fmt,
                 "colour": (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range),
                 "sar": stream.sample_aspect_ratio, "streams": [s.type for s in c.streams]}
        return c.format.name, c.metadata.get("major_brand"), dict(c.metadata), facts


def kept(tags: dict, path) -> dict:
    """The ``tags`` that ``path`` holds (Matroska writes tag names in capitals)."""
    wanted = {key.lower(): key for key in tags}
    return {wanted[key.lower()]: value for key, value in video_of(path)[2].items() if key.lower() in wanted}


# --- 1. the main video: not a one-frame still, the most frames -----------------------------------------------

def test_a_motion_photo_restores_its_video_not_the_larger_still(tmp_path):
    src = pg.two_video_streams(tmp_path / "PXL_MP.mp4", frames=10)
    totals: list = []
    result = deblur_video(src, tmp_path / "out.mp4", IdentityEngine(), on_start=totals.append)
    assert result.frames == 10 and totals == [10]
    pts, _, _, frame = decode_video(tmp_path / "out.mp4")
    assert len(pts) == 10 and (frame.width, frame.height) == (64, 48)
    assert result.warnings == ["video stream #0 (h264) dropped: only the main video stream #1 is deblurred "
                               "and written"]


# --- 2. 10-bit and HDR: HEVC Main 10 tagged hvc1, HDR10 metadata carried, one warning for what cannot be ------

@pytest.mark.parametrize("colour, pix_fmt, suffix", [(BT2100_HLG, "yuv420p10le", ".mp4"),
                                                      (BT2100_PQ, "yuv420p10le", ".mov"),
                                                      (BT709_LIMITED, "yuv420p10le", ".mkv"),
                                                      (BT2100_HLG, "yuv420p", ".mp4")],
                         ids=["hlg-mp4", "pq-mov", "10bit-sdr-mkv", "8bit-hlg-mp4"])
def test_ten_bit_and_hdr_input_becomes_hevc_main_10_with_its_tags(tmp_path, colour, pix_fmt, suffix):
    src = make_clip(tmp_path / "in.mkv", frames=3, codec="libx265", pix_fmt=pix_fmt, colour=colour)
    result = run(src, tmp_path / f"out{suffix}")
    assert result.warnings == []
    _, _, _, out = video_of(tmp_path / f"out{suffix}")
    assert (out["codec"], out["profile"], out["pix_fmt"]) == ("hevc", "Main 10", "yuv420p10le")
    assert out["colour"] == (colour.primaries, colour.trc, colour.matrix, colour.range)
    assert out["tag"] == ("hvc1" if suffix in (".mp4", ".mov") else out["tag"])


def test_eight_bit_sdr_stays_h264_and_explicit_hevc_is_tagged_hvc1(tmp_path, cli_args):
    src = make_clip(tmp_path / "in.mp4", frames=3, codec="libx265")
    run(src, tmp_path / "out.mp4")
    assert (video_of(tmp_path / "out.mp4")[3]["codec"], video_of(tmp_path / "out.mp4")[3]["tag"]) == ("h264", "avc1")
    result = run_cli([src, "-o", tmp_path / "x265.mp4", "--codec", "libx265", "-q", *cli_args])
    assert result.exit_code == 0, result.output
    assert video_of(tmp_path / "x265.mp4")[3]["tag"] == "hvc1"


def test_nvenc_means_the_nvidia_encoder_that_suits_the_input(tmp_path):
    for pix_fmt, wanted in (("yuv420p", ("h264_nvenc", "libx264")), ("yuv420p10le", ("hevc_nvenc", "libx265"))):
        src = make_clip(tmp_path / f"{pix_fmt}.mkv", frames=2, codec="libx265", pix_fmt=pix_fmt)
        with VideoSource(src) as source:
            plan = plan_encoder(tmp_path / "out.mp4", source.facts, "nvenc")
        assert plan.codec in wanted  # the software twin where this machine has no NVENC (a warning says so)
        assert plan.codec_tag == ("hvc1" if "hevc" in wanted[0] else None)


def test_hdr10_metadata_goes_to_the_default_hevc_encoder(tmp_path):
    params = f"master-display={MASTER_DISPLAY}:max-cll=1000,400"
    src = make_clip(tmp_path / "hdr10.mp4", frames=3, codec="libx265", pix_fmt="yuv420p10le", colour=BT2100_PQ,
                    params=params)
    assert run(src, tmp_path / "out.mp4").warnings == []
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].codec_tag == "hvc1"
        frame = next(c.decode(video=0))
    assert hdr_of(frame) == HDR10 and frame.color_trc == 16


def test_hdr10_metadata_stored_only_in_the_container_is_carried_too(tmp_path):
    staged = make_clip(tmp_path / "staged.mp4", frames=3, codec="libx265", pix_fmt="yuv420p10le", colour=BT2100_PQ)
    src = pg.add_hdr10_boxes(pg.remux(staged, tmp_path / "boxes.mp4", "mp4", {}))  # 'mdcv' + 'clli', no SEI
    assert run(src, tmp_path / "out.mp4").warnings == []
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert hdr_of(next(c.decode(video=0))) == HDR10


def test_explicit_h264_ten_bit_and_dolby_vision_each_get_one_warning(tmp_path, cli_args):
    src = make_clip(tmp_path / "ten.mp4", frames=3, codec="libx265", pix_fmt="yuv420p10le", colour=BT2100_HLG)
    result = run_cli([src, "-o", tmp_path / "h264.mp4", "--codec", "libx264", *cli_args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "High 10" in line]
    assert len(lines) == 1 and lines[0].startswith("warning:"), result.stderr
    assert video_of(tmp_path / "h264.mp4")[3]["pix_fmt"] == "yuv420p10le"  # what was asked for, warned about

    dv = pg.add_dolby_vision_box(pg.iphone_clip(tmp_path, "dv.mp4"))
    warnings = run(dv, tmp_path / "dv-out.mp4").warnings
    assert len(warnings) == 1 and "Dolby Vision" in warnings[0] and "HLG" in warnings[0]
    assert video_of(tmp_path / "dv-out.mp4")[3]["colour"] == (9, 18, 9, 1)


# --- 3 and 4. metadata keys and timed-metadata tracks -------------------------------------------------------

@pytest.mark.parametrize("make, tags, writer", [(pg.iphone_clip, pg.APPLE_KEYS, "mov"),
                                                (pg.android_clip, pg.ANDROID_KEYS, "mov"),
                                                (pg.gopro_clip, pg.GOPRO_KEYS, "mp4")],
                         ids=["iphone", "android", "gopro"])
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_phone_keys_and_metadata_tracks_are_kept(tmp_path, make, tags, writer, suffix):
    src = make(tmp_path)
    dst = tmp_path / f"out{suffix}"
    result = run(src, dst)
    assert result.warnings == [] and result.frames == 6
    assert kept(tags, dst) == tags
    brand = video_of(dst)[1]
    assert brand == ("qt  " if writer == "mov" or suffix == ".mov" else "isom")
    assert payloads(dst, "data") == payloads(src, "data") and len(payloads(dst, "data")[0]) >= 5
    assert packet_bytes(dst) == packet_bytes(src)  # the audio, bit-exact and in time


def test_a_segmented_run_keeps_what_a_one_pass_run_keeps(tmp_path):
    src = pg.iphone_clip(tmp_path, frames=30, params="keyint=6:min-keyint=6:scenecut=0")
    one, seg = tmp_path / "one.mp4", tmp_path / "seg.mp4"
    assert run(src, one, segment=0).warnings == run(src, seg, segment=0.3).warnings == []
    assert video_of(seg)[:3] == video_of(one)[:3] and video_of(seg)[3]["tag"] == "hvc1"  # brand, keys
    assert kept(pg.APPLE_KEYS, seg) == pg.APPLE_KEYS
    assert payloads(seg, "data") == payloads(src, "data") and packet_bytes(seg) == packet_bytes(src)
    assert len(decode_video(seg)[0]) == 30


def test_classic_tags_stay_classic_where_no_key_needs_metadata_keys(tmp_path):
    staged = make_clip(tmp_path / "staged.mkv", frames=3, audio=["aac"])
    src = pg.remux(staged, tmp_path / "tagged.mkv", "matroska", {"TITLE": "Holiday", "ARTIST": "Me"})
    run(src, tmp_path / "out.mp4")
    assert kept({"title": "", "artist": ""}, tmp_path / "out.mp4") == {"title": "Holiday", "artist": "Me"}
    assert b"mdta" not in (tmp_path / "out.mp4").read_bytes()  # iTunes-style tags, as players read them
    run(pg.iphone_clip(tmp_path), tmp_path / "iphone.mp4")
    assert b"mdta" in (tmp_path / "iphone.mp4").read_bytes()


def test_quicktime_audio_in_a_mp4_name_is_kept_by_the_quicktime_writer(tmp_path):
    src = make_clip(tmp_path / "camera.mov", frames=4, audio=["pcm_s16le"])
    result = run(src, tmp_path / "out.mp4")  # the MP4 writer has no PCM: the file is what the input was
    assert result.warnings == [] and video_of(tmp_path / "out.mp4")[1] == "qt  "
    samples = [b"".join(stream) for stream in payloads(src)]  # PCM: the same samples, in chunks of the writer's
    assert [b"".join(stream) for stream in payloads(tmp_path / "out.mp4")] == samples and samples[0]


def test_a_stream_dropped_is_dropped_for_a_true_reason(tmp_path):
    src = pg.iphone_clip(tmp_path)
    result = run(src, tmp_path / "out.mkv")
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("data stream #2 (unknown codec) dropped: FFmpeg's matroska writer cannot")
    assert kept(pg.APPLE_KEYS, tmp_path / "out.mkv") == pg.APPLE_KEYS  # Matroska holds any tag


# --- 5. Samsung's SEF trailer --------------------------------------------------------------------------------

@pytest.mark.parametrize("boxed", [False, True], ids=["bare", "sefd-box"])
def test_samsung_trailer_is_appended_verbatim_one_pass_and_segmented(tmp_path, boxed):
    trailer = pg.sef_trailer()
    if boxed:  # some Samsung files wrap it in a top-level 'sefd' box, which FFmpeg neither reads nor writes
        trailer = struct.pack(">I4s", 8 + len(trailer), b"sefd") + trailer
    src = pg.samsung_clip(tmp_path, trailer=trailer, frames=30, params="keyint=6:min-keyint=6:scenecut=0")
    assert find_trailer(src)[1] == len(trailer)
    for name, segment in (("one.mp4", 0), ("seg.mp4", 0.3), ("one.mov", 0)):
        result = run(src, tmp_path / name, segment=segment)
        data = (tmp_path / name).read_bytes()
        assert result.warnings == [] and data.endswith(trailer) and data.endswith(b"SEFT")
        assert find_trailer(tmp_path / name) == (len(data) - len(trailer), len(trailer))
        assert len(decode_video(tmp_path / name)[0]) == 30
    assert not list(tmp_path.glob(".*stfan-parts*"))
    result = run(src, tmp_path / "out.mkv")
    assert len(result.warnings) == 1 and "trailer" in result.warnings[0] and "cannot hold it" in result.warnings[0]
    result = run(src, tmp_path / "part.mp4", duration=0.5)
    assert "trailer" in result.warnings[0] and not (tmp_path / "part.mp4").read_bytes().endswith(b"SEFT")


def test_an_ordinary_file_has_no_trailer(tmp_path):
    assert find_trailer(make_clip(tmp_path / "plain.mp4", frames=2, audio=["aac"])) is None
    assert find_trailer(make_clip(tmp_path / "plain.mkv", frames=2)) is None


# --- 6. 1:1 pixels, firmware, an exact progress total ----------------------------------------------------------

def test_an_explicit_square_pixel_aspect_ratio_is_kept(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3, sar=Fraction(1, 1))
    for suffix in (".mp4", ".mkv"):
        run(src, tmp_path / f"out{suffix}")
        assert video_of(tmp_path / f"out{suffix}")[3]["sar"] == Fraction(1, 1)
    run(make_clip(tmp_path / "unset.mp4", frames=3), tmp_path / "unset-out.mp4")
    assert video_of(tmp_path / "unset-out.mp4")[3]["sar"] is None


def test_the_progress_total_is_the_frames_really_there(tmp_path):
    # Matroska states no frame count: the estimate from duration x average rate is off for variable rate
    src = make_clip(tmp_path / "vfr.mkv", pts=[0, 40, 80, 200, 240, 400, 440, 480], time_base=Fraction(1, 1000))
    totals: list = []
    result = deblur_video(src, tmp_path / "out.mkv", IdentityEngine(), on_start=totals.append)
    assert totals == [result.frames] == [8]
