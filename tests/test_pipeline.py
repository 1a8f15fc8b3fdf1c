"""deblur_video end to end on small generated clips: what the output keeps, errors, cancellation, memory bounds."""

from __future__ import annotations

import _thread
import threading
import time
import weakref
from fractions import Fraction

import av
import numpy as np
import pytest

import deblur_cli.pipeline.reading as reading
from deblur_cli.errors import DeviceError, InputError, Interrupted, OutputError
from deblur_cli.inference.engine import ArrayEngine
from deblur_cli.io.colour import HdrMetadata, hdr_of
from deblur_cli.io.sink import VideoSink, plan_encoder
from deblur_cli.io.source import VideoSource
from deblur_cli.pipeline.video import QUEUE_SIZE, VideoResult, deblur_video
from tests.clipgen import (
    BT601_LIMITED,
    BT709_FULL,
    BT709_LIMITED,
    BT2020_LIMITED,
    BT2100_HLG,
    BT2100_PQ,
    decode_video,
    make_clip,
    packet_bytes,
    payloads,
    truncate,
)


class IdentityEngine(ArrayEngine):
    """Returns each frame unchanged; records what it was given."""

    def __init__(self, on_call=None):
        self.calls = 0
        self.resets = 0
        self.dtypes: set = set()
        self.first: np.ndarray | None = None
        self.on_call = on_call

    def reset(self):
        self.resets += 1

    def process_array(self, frame):
        assert frame.ndim == 3 and frame.shape[2] == 3
        if self.first is None:
            self.first = frame.copy()
        self.dtypes.add(frame.dtype)
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        return frame.copy()


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def seconds(pts, time_base):
    return [p * time_base for p in pts]


def run(src, dst, engine=None, **kwargs) -> VideoResult:
    return deblur_video(src, dst, engine or IdentityEngine(), **kwargs)


# --- what the output keeps -------------------------------------------------------------------

@pytest.mark.parametrize("suffix, audio, subs", [
    (".mkv", ["aac", "libopus"], True),
    (".mp4", ["aac", "libopus"], False),
    (".mov", ["aac"], False),
])
def test_output_keeps_frames_timing_audio_colour_rotation(tmp_path, suffix, audio, subs):
    cues = [(0.05, 0.2, "one"), (0.25, 0.35, "two")] if subs else []
    src = make_clip(tmp_path / f"in{suffix}", frames=10, audio=audio, subtitles=cues,
                    colour=BT709_LIMITED, rotation=90)
    out_dir = tmp_path / "out"
    dst = out_dir / f"result{suffix}"
    started, progress = [], []
    engine = IdentityEngine()
    result = deblur_video(src, dst, engine, on_start=started.append, on_frame=progress.append)

    assert (result.input, result.output, result.frames) == (src, dst, 10) and result.warnings == []
    assert result.seconds > 0 and result.fps > 0
    assert engine.calls == 10 and engine.resets == 1
    assert started == [10] and progress[-1] == 10 and progress == sorted(progress)
    assert files_in(out_dir) == [dst.name]  # no temporary file left

    pts_in, tb_in, _, _ = decode_video(src)
    pts_out, tb_out, _, first = decode_video(dst)
    assert seconds(pts_out, tb_out) == seconds(pts_in, tb_in)
    assert (first.width, first.height) == (64, 48)
    assert first.rotation == 90
    assert (first.color_primaries, first.color_trc, first.colorspace, first.color_range) == (1, 1, 1, 1)
    with av.open(str(dst)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == ("h264", 1, 1, 1, 1)
        assert [s.type for s in c.streams] == ["video"] + ["audio"] * len(audio) + (["subtitle"] if subs else [])
    assert packet_bytes(dst) == packet_bytes(src)  # every audio packet, bit-exact, same times
    assert len(packet_bytes(src)) == len(audio)
    if subs:
        assert packet_bytes(dst, "subtitle") == packet_bytes(src, "subtitle")


def test_webm_and_avi_outputs(tmp_path):
    webm_in = make_clip(tmp_path / "in.webm", frames=8, codec="libvpx-vp9", audio=["libopus"])
    result = run(webm_in, tmp_path / "out.webm")
    assert result.frames == 8
    pts_in, tb_in, _, _ = decode_video(webm_in)
    pts_out, tb_out, _, first = decode_video(tmp_path / "out.webm")
    assert seconds(pts_out, tb_out) == seconds(pts_in, tb_in) and (first.width, first.height) == (64, 48)
    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
    assert packet_bytes(tmp_path / "out.webm") == packet_bytes(webm_in)

    # AVI: PCM audio starts with the picture, so it can stay in sync; the frames keep their exact times
    # (H.264 in AVI is read back one frame late unless the encoder signals its timing: it does).
    mkv_in = make_clip(tmp_path / "pcm.mkv", frames=8, audio=["pcm_s16le"])
    assert run(mkv_in, tmp_path / "out.avi").frames == 8
    pts_out, tb_out, _, first = decode_video(tmp_path / "out.avi")
    assert seconds(pts_out, tb_out) == [Fraction(i, 25) for i in range(8)] and (first.width, first.height) == (64, 48)
    assert payloads(tmp_path / "out.avi") == payloads(mkv_in)
    assert packet_bytes(tmp_path / "out.avi")[0][0][0] == 0  # audio and video both start at 0


def test_avi_refuses_audio_it_cannot_keep_in_sync(tmp_path):
    """AVI plays every stream from 0: AAC's 21 ms of priming (or a part cut at a packet boundary) would drift."""
    mp4_in = make_clip(tmp_path / "in.mp4", frames=8, audio=["aac"])
    assert packet_bytes(mp4_in)[0][0][0] < 0  # the priming packet starts before the first frame
    with pytest.raises(OutputError, match=r"audio stream #1 \(aac\) would be out of sync by 21 ms in a .avi file.*"
                                          r"choose .mkv, .mp4 or .mov"):
        run(mp4_in, tmp_path / "out.avi")
    assert files_in(tmp_path) == ["in.mp4"]
    avi_in = make_clip(tmp_path / "pcm.avi", frames=5, audio=["pcm_s16le"])  # AVI to AVI: nothing moves
    assert run(avi_in, tmp_path / "again.avi").frames == 5
    assert payloads(tmp_path / "again.avi") == payloads(avi_in)
    video_only = make_clip(tmp_path / "v.mp4", frames=5)
    assert run(video_only, tmp_path / "v.avi").frames == 5
    assert seconds(*decode_video(tmp_path / "v.avi")[:2]) == [Fraction(i, 25) for i in range(5)]


@pytest.mark.parametrize("suffix_out", [".mp4", ".mkv"])
def test_variable_frame_rate_is_kept(tmp_path, suffix_out):
    pts = [0, 3003, 6006, 12012, 13013, 21021, 30030, 31031]  # 1/90000: 29.97 fps with gaps and a burst
    src = make_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 90000), audio=["aac"], bframes=2)
    with av.open(str(src)) as c:  # B-frames: packets come in decode order, not presentation order
        stream = c.streams.video[0]
        decode_order = [p.pts for p in c.demux(stream) if p.size]
        assert stream.codec_context.has_b_frames and decode_order != sorted(decode_order)
    dst = tmp_path / f"out{suffix_out}"
    assert run(src, dst).frames == len(pts)
    pts_in, tb_in, _, _ = decode_video(src)
    pts_out, tb_out, _, _ = decode_video(dst)
    want = seconds(pts_in, tb_in)
    if suffix_out == ".mkv":  # Matroska counts in milliseconds
        want = [Fraction(round(t * 1000), 1000) for t in want]
    assert seconds(pts_out, tb_out) == want
    assert payloads(dst) == payloads(src)
    if suffix_out == ".mp4":
        assert packet_bytes(dst) == packet_bytes(src)


def test_odd_frame_size_is_kept(tmp_path):
    src = make_clip(tmp_path / "odd.mkv", size=(63, 47), frames=4, pix_fmt="yuv444p")
    engine = IdentityEngine()
    assert run(src, tmp_path / "out.mp4", engine).frames == 4
    assert engine.first.shape == (47, 63, 3)
    _, _, _, first = decode_video(tmp_path / "out.mp4")
    assert (first.width, first.height, first.format.name) == (63, 47, "yuv444p")


def test_ten_bit_stays_ten_bit(tmp_path):
    src = make_clip(tmp_path / "ten.mkv", frames=4, codec="libx265", pix_fmt="yuv420p10le", audio=["aac"])
    engine = IdentityEngine()
    run(src, tmp_path / "out.mkv", engine)
    assert engine.dtypes == {np.dtype(np.uint16)} and engine.first.max() > 255
    _, _, _, first = decode_video(tmp_path / "out.mkv")
    assert first.format.name == "yuv420p10le"
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mkv")) as b:
        x = next(a.decode(video=0)).to_ndarray(format="rgb48le").astype(int)
        y = next(b.decode(video=0)).to_ndarray(format="rgb48le").astype(int)
    assert np.abs(x - y).mean() < 0.01 * 65535


FLAT_YUV = (110, 80, 190)
EXPECTED_RGB = {"bt601_limited": (208.4, 77.8, 12.6), "bt709_limited": (220.6, 86.7, 8.1),
                "bt709_full": (207.6, 90.0, 20.9)}


@pytest.mark.parametrize("name, tags", [("bt601_limited", BT601_LIMITED), ("bt709_limited", BT709_LIMITED),
                                        ("bt709_full", BT709_FULL)])
def test_colour_of_a_flat_patch_is_not_shifted(tmp_path, name, tags):
    src = make_clip(tmp_path / "flat.mkv", frames=3, flat_yuv=FLAT_YUV, colour=tags, lossless=True)
    engine = IdentityEngine()
    run(src, tmp_path / "out.mp4", engine)
    assert np.abs(engine.first[20, 30].astype(float) - EXPECTED_RGB[name]).max() <= 2.5
    with av.open(str(tmp_path / "out.mp4")) as c:
        frame = next(c.decode(video=0))
        codes = [np.frombuffer(bytes(p), np.uint8)[0] for p in frame.planes]
        assert (frame.colorspace, frame.color_range) == (tags.matrix, tags.range)
    assert np.abs(np.array(codes, int) - FLAT_YUV).max() <= 2


def limited_ycbcr_to_rgb(yuv, kr: float, kb: float, bits: int) -> np.ndarray:
    """Textbook limited-range Y'CbCr -> R'G'B' for luma weights kr, kb, as fractions of full scale."""
    step = 1 << (bits - 8)
    y = (yuv[0] - 16 * step) / (219 * step)
    cb, cr = ((c - 128 * step) / (224 * step) for c in yuv[1:])
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    return np.array([r, (y - kr * r - kb * b) / (1 - kr - kb), b])


FLAT_YUV_10 = tuple(4 * v for v in FLAT_YUV)


@pytest.mark.parametrize("tags, codec, suffix", [(BT2020_LIMITED, "libx264", ".mp4"), (BT2100_PQ, "libx265", ".mkv"),
                                                 (BT2100_HLG, "libx264", ".mp4")], ids=["bt2020", "pq", "hlg"])
def test_bt2020_and_hdr_ten_bit_patch_keeps_its_colour_and_tags(tmp_path, tags, codec, suffix):
    """BT.2020 (SDR, PQ, HLG) takes the BT.2020 matrix both ways; the transfer is only a tag to keep."""
    src = make_clip(tmp_path / f"flat{suffix}", frames=3, flat_yuv=FLAT_YUV_10, colour=tags, lossless=True,
                    codec=codec, pix_fmt="yuv420p10le")
    engine = IdentityEngine()
    dst = tmp_path / f"out{suffix}"
    warnings = run(src, dst, engine, codec=codec).warnings
    assert [w for w in warnings if "High 10" not in w] == [] and len(warnings) == (codec == "libx264")
    want = limited_ycbcr_to_rgb(FLAT_YUV_10, kr=0.2627, kb=0.0593, bits=10)
    assert engine.dtypes == {np.dtype(np.uint16)}
    assert np.abs(engine.first[20, 30] / 65535 - want).max() <= 2.5 / 255
    with av.open(str(dst)) as c:
        cc = c.streams.video[0].codec_context
        frame = next(c.decode(video=0))
        codes = [np.frombuffer(bytes(p), np.uint16)[0] for p in frame.planes]
    expected_tags = (tags.primaries, tags.trc, tags.matrix, tags.range)
    assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == expected_tags
    assert (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range) == expected_tags
    assert frame.format.name == "yuv420p10le"
    assert np.abs(np.array(codes, int) - FLAT_YUV_10).max() <= 2 * 4


# BT.2020 primaries, D65 white, 1000 / 0.005 cd/m2: x264/x265 units (1/50000, 1/10000 cd/m2), green first.
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
HDR10 = HdrMetadata(mastering=tuple(Fraction(n, 50000) for n in (34000, 16000, 13250, 34500, 7500, 3000, 15635, 16450))
                    + (Fraction(50, 10000), Fraction(1000)), light_level=(1000, 400))


@pytest.mark.parametrize("codec, params", [("libx265", f"master-display={MASTER_DISPLAY}:max-cll=1000,400"),
                                           ("libx264", f"mastering-display={MASTER_DISPLAY}:cll=1000,400")],
                         ids=["libx265", "libx264"])
def test_hdr10_mastering_and_light_level_are_carried_over(tmp_path, codec, params):
    """PyAV cannot copy side data, so the sink passes it to x264/x265 as parameters; others warn."""
    src = make_clip(tmp_path / "hdr10.mkv", frames=3, codec=codec, pix_fmt="yuv420p10le", colour=BT2100_PQ,
                    params=params)
    with VideoSource(src) as source:
        facts = source.facts
    assert facts.hdr == HDR10
    warnings = run(src, tmp_path / "out.mkv", codec=codec).warnings  # an explicit H.264 10-bit is warned about
    assert [w for w in warnings if "High 10" not in w] == [] and len(warnings) == (codec == "libx264")
    with av.open(str(tmp_path / "out.mkv")) as c:
        frame = next(c.decode(video=0))
    assert hdr_of(frame) == HDR10 and (frame.color_trc, frame.format.name) == (16, "yuv420p10le")
    assert any("HDR" in w for w in plan_encoder(tmp_path / "out.webm", facts).warnings)


def test_cover_art_is_not_processed_and_is_kept(tmp_path):
    src = make_clip(tmp_path / "cover.mkv", frames=5, cover_art=True, audio=["aac"])
    engine = IdentityEngine()
    result = run(src, tmp_path / "out.mkv", engine)
    assert result.frames == 5 and engine.calls == 5 and engine.first.shape == (48, 64, 3)
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert sum(1 for s in c.streams.video if s.disposition & av.stream.Disposition.attached_pic) == 1
    result = run(src, tmp_path / "out.mp4")
    assert result.frames == 5


def test_subtitles_the_container_cannot_hold_are_dropped_with_a_warning(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=5, audio=["aac"], subtitles=[(0.0, 0.1, "x")])
    result = run(src, tmp_path / "out.mp4")
    assert result.frames == 5 and len(result.warnings) == 1 and "subtitle" in result.warnings[0]
    assert packet_bytes(tmp_path / "out.mp4") == packet_bytes(src)


def test_data_streams_are_copied_where_the_container_can_hold_them(tmp_path):
    src = make_clip(tmp_path / "klv.ts", frames=6, audio=["aac"], klv=True)
    result = run(src, tmp_path / "out.ts")
    assert result.frames == 6 and result.warnings == []
    assert payloads(tmp_path / "out.ts", "data") == payloads(src, "data")
    assert payloads(tmp_path / "out.ts") == payloads(src)
    result = run(src, tmp_path / "out.mkv")
    assert result.frames == 6 and len(result.warnings) == 1
    assert "data stream #2 (klv) dropped" in result.warnings[0]


@pytest.mark.parametrize("video_start, audio_seconds, keep", [(0.0, None, 0.5), (10.0, 1.0, 0.9)])
def test_cut_short_input_is_finished_with_a_warning(tmp_path, video_start, audio_seconds, keep):
    src = make_clip(tmp_path / "cut.mkv", frames=20, audio=["aac"], audio_seconds=audio_seconds,
                    video_start=video_start)
    truncate(src, keep)  # a picture that starts late and is cut short is still found to be cut short
    result = run(src, tmp_path / "out.mkv")
    assert 0 < result.frames < 20
    assert any("ended early" in w and f"after {result.frames} frames" in w for w in result.warnings)
    assert len(decode_video(tmp_path / "out.mkv")[0]) == result.frames


def test_the_stated_length_counts_from_the_first_frame():
    """Matroska's DURATION tag: FFmpeg writes the end timestamp there, mkvmerge the length (with its statistics)."""
    from types import SimpleNamespace

    from deblur_cli.io.probe import _stated_end

    def stream(**metadata):
        return SimpleNamespace(metadata=metadata, duration=None, time_base=None)

    assert _stated_end(stream(DURATION="00:00:10.400000000"), first_time=10.0) == (10.4, True)
    mkvmerge = stream(DURATION="00:00:00.400000000", _STATISTICS_TAGS="BPS DURATION NUMBER_OF_FRAMES")
    assert _stated_end(mkvmerge, first_time=10.0) == (10.4, True)


def test_real_engine_end_to_end(tmp_path):
    import torch

    from deblur_cli.inference.engine import RecurrentEngine
    from deblur_cli.models import STFAN

    torch.manual_seed(0)
    src = make_clip(tmp_path / "in.mp4", frames=5, audio=["aac"])
    result = deblur_video(src, tmp_path / "out.mp4", RecurrentEngine(STFAN()))
    assert result.frames == 5
    pts_in, tb_in, _, _ = decode_video(src)
    pts_out, tb_out, _, first = decode_video(tmp_path / "out.mp4")
    assert seconds(pts_out, tb_out) == seconds(pts_in, tb_in) and (first.width, first.height) == (64, 48)
    assert packet_bytes(tmp_path / "out.mp4") == packet_bytes(src)


# --- errors leave nothing behind -------------------------------------------------------------

@pytest.fixture
def small_clip(tmp_path):
    """A clip alone in its folder, so leftovers beside it are easy to see."""
    folder = tmp_path / "in"
    folder.mkdir()
    return make_clip(folder / "clip.mp4", frames=6, audio=["aac"])


def test_bad_inputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mkv").write_text("hello\n" * 100)
    cut = make_clip(tmp_path / "cut.mkv", frames=5)
    cut.write_bytes(cut.read_bytes()[:300])  # header only: nothing decodes
    for name in ["missing.mp4", "empty.mp4", "text.mkv", "cut.mkv"]:
        with pytest.raises(InputError) as err:
            run(tmp_path / name, out / f"{name}.mp4")
        assert "\n" not in str(err.value)
    assert files_in(out) == []


def test_bad_outputs(small_clip):
    folder = small_clip.parent
    existing = folder / "exists.mp4"
    existing.write_bytes(b"keep me")
    cases = [(existing, {}, "exists"), (small_clip, {"overwrite": True}, "overwrite the input"),
             (folder / "o.mp4", {"codec": "nope"}, "unknown video codec"), (folder / "o.wmv", {}, "extension"),
             (folder / "o.mp4", {"preset": "warp-speed"}, "libx264")]
    for target, kwargs, words in cases:
        with pytest.raises(OutputError, match=words):
            run(small_clip, target, **kwargs)
    assert existing.read_bytes() == b"keep me"
    assert files_in(folder) == ["clip.mp4", "exists.mp4"]
    run(small_clip, existing, overwrite=True)
    assert len(decode_video(existing)[0]) == 6


def _threads_settle(before: int) -> bool:
    for _ in range(50):
        if threading.active_count() <= before:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("failure", [RuntimeError("engine bug"), DeviceError("out of GPU memory")])
def test_engine_error_propagates_and_cleans_up(small_clip, failure):
    before = threading.active_count()

    def boom(n):
        if n == 3:
            raise failure

    with pytest.raises(type(failure), match=str(failure)):
        run(small_clip, small_clip.parent / "out.mp4", IdentityEngine(on_call=boom))
    assert files_in(small_clip.parent) == ["clip.mp4"]
    assert _threads_settle(before)


def test_encoder_error_is_an_output_error(small_clip, monkeypatch):
    def broken(self, rgb, pts, time_base):
        raise av.error.OSError(28, "No space left on device")

    monkeypatch.setattr(VideoSink, "write", broken)
    with pytest.raises(OutputError, match="No space left"):
        run(small_clip, small_clip.parent / "out.mkv")
    assert files_in(small_clip.parent) == ["clip.mp4"]


def test_cancel_stops_early_and_removes_the_output(tmp_path):
    src = make_clip(tmp_path / "clip.mkv", frames=30, size=(32, 24), audio=["aac"])
    cancel = threading.Event()
    before = threading.active_count()

    def cancel_at_two(n):
        if n == 2:
            cancel.set()
        time.sleep(0.02)

    engine = IdentityEngine(on_call=cancel_at_two)
    with pytest.raises(Interrupted):
        run(src, tmp_path / "out.mp4", engine, cancel=cancel)
    assert files_in(tmp_path) == ["clip.mkv"]
    assert engine.calls < 30 and _threads_settle(before)


def test_ctrl_c_stops_and_removes_the_output(small_clip):
    def ctrl_c(n):
        if n == 2:
            _thread.interrupt_main()  # KeyboardInterrupt in the main thread, as a real Ctrl-C
            time.sleep(0.3)

    before = threading.active_count()
    with pytest.raises(Interrupted):
        run(small_clip, small_clip.parent / "out.mp4", IdentityEngine(on_call=ctrl_c))
    assert files_in(small_clip.parent) == ["clip.mp4"]
    assert _threads_settle(before)


# --- memory does not grow with the video -------------------------------------------------------

def test_frames_in_flight_stay_within_the_queue_bounds(tmp_path, monkeypatch):
    """Slow stages on purpose: an unbounded pipeline would pile up most of the 40 frames."""
    src = make_clip(tmp_path / "long.mkv", frames=40, size=(32, 24))
    decoded = []
    real_to_rgb = reading.frame_to_rgb

    def counting_to_rgb(*args, **kwargs):
        decoded.append(1)
        return real_to_rgb(*args, **kwargs)

    monkeypatch.setattr(reading, "frame_to_rgb", counting_to_rgb)
    live = [0]
    peak_live, peak_ahead = [0], [0]
    lock = threading.Lock()

    def released():
        with lock:
            live[0] -= 1

    class Tracking(IdentityEngine):
        def process_array(self, frame):
            peak_ahead[0] = max(peak_ahead[0], len(decoded) - self.calls)
            out = super().process_array(frame)
            with lock:
                live[0] += 1
                peak_live[0] = max(peak_live[0], live[0])
            weakref.finalize(out, released)
            if self.calls <= 20:
                time.sleep(0.005)  # first half: slow engine (decode would run ahead)
            return out

    real_write = VideoSink.write

    def slow_write(self, rgb, pts, time_base):
        if self.frames_written >= 20:
            time.sleep(0.01)  # second half: slow encoder (restored frames would pile up)
        return real_write(self, rgb, pts, time_base)

    monkeypatch.setattr(VideoSink, "write", slow_write)
    assert run(src, tmp_path / "out.mkv", Tracking()).frames == 40
    assert len(decoded) == 40
    assert peak_ahead[0] <= QUEUE_SIZE + 2
    assert peak_live[0] <= QUEUE_SIZE + 3
