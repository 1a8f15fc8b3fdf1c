"""Where a run's time goes (``--json`` stages, ``--stats``) and the device colour path, all on the CPU.

The device colour path (planes in, planes out: pipeline.reading) is forced on
with ``device_colour="on"``, so an engine on the CPU runs exactly the code a
CUDA engine runs, with CPU tensors; its output is compared with the CPU path's
within the colour tests' tolerances (2 codes at 8 bits, 8 at 10 bits).
"""

from __future__ import annotations

import time
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch

from deblur_cli.errors import OptionError
from deblur_cli.inference import streaming
from deblur_cli.inference.frames import PlaneLayout, YuvFrame
from deblur_cli.inference.streaming import stream_arrays
from deblur_cli.inference.timing import STAGES, StageTimes, busiest, collecting
from deblur_cli.io.colour import ColourInfo, frame_planes
from deblur_cli.io.sink import VideoSink
from deblur_cli.pipeline.options import VideoOptions
from deblur_cli.pipeline.reading import decoded_frames
from deblur_cli.pipeline.video import deblur_video
from tests.clipgen import BT601_LIMITED, BT709_FULL, BT709_LIMITED, BT2020_LIMITED, make_clip, moving_pattern
from tests.cliutil import read_report, run_cli
from tests.shotgen import ShotSpec, clip_with_cuts, pictures
from tests.test_pipeline import EXPECTED_RGB, FLAT_YUV, IdentityEngine


class StepIdentity:
    """A streaming engine that takes planes, as RecurrentEngine does, without a network (``delay``: a slow model)."""

    device = torch.device("cpu")
    takes_planes = True

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.events: list[str] = []

    def reset(self):
        self.events.append("reset")

    def step(self, frame):
        self.events.append("step")
        time.sleep(self.delay)
        return frame

    def restore(self, frames):
        return stream_arrays(self, frames)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("stages") / "in.mp4", frames=8, audio=["aac"], colour=BT709_LIMITED)


def codes(path) -> list[list[np.ndarray]]:
    """Every frame's planes (as stored, line padding cut off) of a video's first stream."""
    with av.open(str(path)) as container:
        return [[p.astype(int) for p in frame_planes(f)] for f in container.decode(video=0)]


def largest_difference(a, b) -> int:
    assert len(a) == len(b)
    return max(int(np.abs(x - y).max()) for fa, fb in zip(a, b) for x, y in zip(fa, fb))


# --- stage times ------------------------------------------------------------------------------------

@pytest.mark.parametrize("device_colour", ["off", "on"])
def test_every_stage_is_reported_and_none_is_negative(tmp_path, clip, device_colour):
    result = deblur_video(clip, tmp_path / "out.mp4", StepIdentity(), device_colour=device_colour)
    assert list(result.stages) == list(STAGES)
    assert all(seconds >= 0 for seconds in result.stages.values())
    for stage in ("decode", "colour_in", "upload", "model", "download", "colour_out", "encode"):
        assert result.stages[stage] > 0, stage
    assert result.colour == ("device" if device_colour == "on" else "cpu")


def test_a_slow_engine_is_the_busiest_stage(tmp_path, clip):
    result = deblur_video(clip, tmp_path / "out.mp4", StepIdentity(delay=0.05))
    stages = result.stages
    assert busiest(stages) == "model" and stages["model"] >= 8 * 0.05 * 0.9
    assert stages["wait_write_in"] > stages["encode"]  # the writer waited for the engine


def test_a_slow_encoder_is_the_busiest_stage(tmp_path, clip, monkeypatch):
    real_write = VideoSink.write

    def slow_write(self, picture, pts, time_base):
        time.sleep(0.05)
        return real_write(self, picture, pts, time_base)

    monkeypatch.setattr(VideoSink, "write", slow_write)
    stages = deblur_video(clip, tmp_path / "out.mp4", IdentityEngine()).stages
    assert busiest(stages) == "encode" and stages["encode"] >= 8 * 0.05 * 0.9
    assert stages["wait_restore_out"] + stages["wait_read_out"] > stages["model"]  # the others waited for it


def test_an_engine_that_says_nothing_is_all_model(tmp_path, clip):
    class Plain:  # an Engine with neither step nor takes_planes
        def reset(self):
            pass

        def restore(self, frames):
            for frame in frames:
                time.sleep(0.02)
                yield frame

    stages = deblur_video(clip, tmp_path / "out.mp4", Plain()).stages
    assert stages["model"] >= 8 * 0.02 * 0.9 and stages["upload"] == stages["download"] == 0


def test_stream_arrays_times_its_three_steps_into_the_active_clock():
    times = StageTimes()
    frames = [np.zeros((16, 16, 3), np.uint8)] * 3
    with collecting(times):
        assert len(list(stream_arrays(StepIdentity(delay=0.02), frames))) == 3
    assert times.seconds["model"] >= 3 * 0.02 * 0.9 and times.seconds["upload"] > 0 and times.seconds["download"] > 0
    assert len(list(stream_arrays(StepIdentity(), frames))) == 3  # no clock: nothing is timed, nothing fails


# --- the device colour path -------------------------------------------------------------------------

CASES = [("yuv420p", BT709_LIMITED, (64, 48)), ("yuv420p", BT601_LIMITED, (64, 48)), ("yuvj420p", BT709_FULL, (64, 48)),
         ("yuv420p10le", BT2020_LIMITED, (64, 48)), ("yuv422p", BT709_LIMITED, (64, 48)),
         ("yuv444p", BT601_LIMITED, (63, 47))]


@pytest.mark.parametrize("pix_fmt, colour, size", CASES, ids=[f"{p}-m{c.matrix}r{c.range}" for p, c, _ in CASES])
def test_device_path_matches_the_cpu_path(tmp_path, pix_fmt, colour, size):
    """Hard-edged colour content, H.264's left-sited chroma, a lossless output: the two paths agree within 1-2 codes."""
    src = make_clip(tmp_path / "in.mkv", frames=3, size=size, colour=colour, pix_fmt=pix_fmt, lossless=True)
    outputs = {}
    for mode in ("off", "on"):
        result = deblur_video(src, tmp_path / f"{mode}.mkv", StepIdentity(), codec="ffv1", device_colour=mode)
        assert result.colour == ("device" if mode == "on" else "cpu") and result.warnings == []
        outputs[mode] = codes(tmp_path / f"{mode}.mkv")
    step = 4 if "10" in pix_fmt else 1
    assert largest_difference(outputs["off"], outputs["on"]) <= 2 * step
    with av.open(str(tmp_path / "on.mkv")) as a, av.open(str(tmp_path / "off.mkv")) as b:
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        assert fa.format.name == fb.format.name
        tags = lambda f: (f.colorspace, f.color_range, f.color_primaries)  # noqa: E731
        assert tags(fa) == tags(fb)


@pytest.mark.parametrize("name, tags", [("bt601_limited", BT601_LIMITED), ("bt709_limited", BT709_LIMITED),
                                        ("bt709_full", BT709_FULL)])
def test_flat_patch_keeps_its_colour_on_the_device_path(tmp_path, name, tags):
    """As test_pipeline's colour test: an engine that takes RGB gets it (converted on the CPU), the output keeps it."""
    src = make_clip(tmp_path / "flat.mkv", frames=3, flat_yuv=FLAT_YUV, colour=tags, lossless=True)
    engine = IdentityEngine()
    assert deblur_video(src, tmp_path / "array.mp4", engine, device_colour="on").colour == "device"
    assert engine.dtypes == {np.dtype(np.uint8)}
    assert np.abs(engine.first[20, 30].astype(float) - EXPECTED_RGB[name]).max() <= 2.5
    deblur_video(src, tmp_path / "step.mp4", StepIdentity(), device_colour="on")
    for out in ("array.mp4", "step.mp4"):
        with av.open(str(tmp_path / out)) as c:
            frame = next(c.decode(video=0))
            assert (frame.colorspace, frame.color_range) == (tags.matrix, tags.range)
            first = [int(p[0, 0]) for p in frame_planes(frame)]
        assert np.abs(np.array(first) - FLAT_YUV).max() <= 2


def test_scene_cuts_are_found_on_planes(tmp_path):
    specs = [ShotSpec("pan", frames=5, size=(48, 64), blur=0.5)] * 2
    frames, cuts = clip_with_cuts(pictures(2), specs, np.random.default_rng(7))
    src = make_clip(tmp_path / "cut.mkv", frames=10, content=lambda i, w, h: frames[i], lossless=True)
    for mode in ("off", "on"):
        engine = StepIdentity()
        result = deblur_video(src, tmp_path / f"{mode}.mkv", engine, device_colour=mode)
        assert result.cuts == cuts == [5]
        assert engine.events == ["reset"] + ["step"] * 5 + ["reset"] + ["step"] * 5


def test_where_the_path_applies(tmp_path, clip):
    """auto: CUDA engines only; composites, PNG frames and engines that take only RGB: the CPU path."""
    run = lambda name, engine, **kw: deblur_video(clip, tmp_path / name, engine, **kw).colour  # noqa: E731
    assert run("auto.mp4", StepIdentity()) == "cpu"  # auto, on the CPU
    assert run("on.mp4", StepIdentity(), device_colour="on") == "device"
    assert run("side.mp4", StepIdentity(), device_colour="on", compare="side") == "cpu"
    assert deblur_video(clip, tmp_path / "png.mp4", StepIdentity(), device_colour="on",
                        frames_out=tmp_path / "png").colour == "cpu"
    rgb_only = StepIdentity()
    rgb_only.takes_planes = False
    assert run("rgb.mp4", rgb_only, device_colour="on") == "cpu"
    with pytest.raises(OptionError, match="device colour"):
        VideoOptions(device_colour="yes")


def test_auto_takes_the_device_path_for_a_cuda_engine(tmp_path, clip, monkeypatch):
    from deblur_cli.pipeline import reading

    monkeypatch.setattr(reading, "engine_on_cuda", lambda engine: True)
    assert deblur_video(clip, tmp_path / "out.mp4", StepIdentity()).colour == "device"


def test_frames_that_differ_from_the_first_go_the_rgb_way():
    """A frame whose size changed mid-stream (rescaled) or whose format differs is converted on the CPU."""
    def frame(width, height, pix_fmt="yuv420p"):
        return av.VideoFrame.from_ndarray(moving_pattern(0, width, height), format="rgb24").reformat(format=pix_fmt)

    frames = [frame(32, 24), frame(48, 32), frame(32, 24, "yuv444p"), frame(32, 24)]
    for i, f in enumerate(frames):
        f.pts, f.time_base = i, Fraction(1, 25)
    facts = SimpleNamespace(width=32, height=24, colour=ColourInfo(), path="x")
    source = SimpleNamespace(facts=facts, frames=lambda: iter(frames), frames_decoded=0)
    layout = PlaneLayout("yuv420p")
    warnings: list[str] = []
    out = [item[0] for item in decoded_frames(source, "rgb24", warnings, None, 0, (layout, layout), StageTimes())]
    assert [type(o).__name__ for o in out] == ["YuvFrame", "ndarray", "ndarray", "YuvFrame"]
    assert out[1].shape == (24, 32, 3) and "scaled to 32x24" in warnings[0]
    assert out[0].layout.spec.chroma_siting == (0.5, 0.5)  # a frame made from RGB: swscale centres its chroma


def test_each_plane_has_its_own_pinned_buffers(monkeypatch):
    """U and V have one shape: were they to share two buffers, a frame's V would overwrite the frame before's U."""
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **kw: real_empty(*a, **kw))
    ring = streaming._PinnedRing()
    first = [ring.next((2, 2), torch.uint8, slot).data_ptr() for slot in (0, 1, 2)]
    second = [ring.next((2, 2), torch.uint8, slot).data_ptr() for slot in (0, 1, 2)]
    third = [ring.next((2, 2), torch.uint8, slot).data_ptr() for slot in (0, 1, 2)]
    assert len(set(first + second)) == 6 and third == first


def test_the_cuda_branch_of_the_stream_runs_with_stand_in_events(monkeypatch):
    """The CUDA code path (pinned rings, non-blocking copies, events read when a result is collected) on the CPU."""
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **kw: real_empty(*a, **kw))

    class Event:
        done_until = float("-inf")  # what a wait has seen completed: every event recorded before it, in one stream

        def __init__(self, enable_timing=False):
            self.timing, self.at = enable_timing, None

        def record(self):
            self.at = time.perf_counter()

        def synchronize(self):
            Event.done_until = max(Event.done_until, self.at)

        def elapsed_time(self, end):
            assert self.timing and end.timing and end.at <= Event.done_until, "read only what a wait has completed"
            return (end.at - self.at) * 1000.0

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(streaming, "_is_cuda", lambda device: True)  # CPU tensors, the CUDA way
    FakeCuda = StepIdentity

    rgb = moving_pattern(1, 32, 24)
    planes = frame_planes(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="nv12"))
    frame = YuvFrame(tuple(planes), PlaneLayout("nv12"), PlaneLayout("yuv420p"))
    times = StageTimes()
    with collecting(times):
        out = list(stream_arrays(FakeCuda(delay=0.01), [frame, rgb, frame]))
    assert [type(o).__name__ for o in out] == ["YuvFrame", "ndarray", "YuvFrame"]
    assert out[0].layout.pix_fmt == "yuv420p" and [p.shape for p in out[0].planes] == [(24, 32), (12, 16), (12, 16)]
    assert out[1].dtype == np.uint8 and out[1].shape == (24, 32, 3)
    assert times.seconds["model"] >= 3 * 0.01 * 0.9 and times.seconds["upload"] > 0
    assert len(list(stream_arrays(FakeCuda(), [frame, frame]))) == 2  # without a clock: plain events


def test_a_segmented_run_adds_up_its_parts(tmp_path):
    from tests.test_segments import SEGMENT, long_clip

    src = long_clip(tmp_path / "long.mkv")
    result = deblur_video(src, tmp_path / "out.mkv", IdentityEngine(), segment=SEGMENT, device_colour="on")
    assert result.frames == 75 and result.colour == "device"
    assert set(result.stages) == set(STAGES) and result.stages["model"] > 0 and result.stages["encode"] > 0


def test_yuv_frame_round_trip_on_the_cpu():
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 6, y * 8, np.full_like(x, 90)], axis=-1).astype(np.uint8)  # smooth: nothing out of gamut
    planes = frame_planes(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    layout = PlaneLayout("yuv420p")
    frame = YuvFrame(tuple(planes), layout, PlaneLayout("yuv420p10le"))
    assert frame.shape == (24, 32, 3) and frame.rgb_dtype == np.uint16  # the 10-bit target keeps its depth
    restored = frame.restored(frame.to_rgb())
    assert restored.layout.pix_fmt == "yuv420p10le" and restored.planes[0].dtype == np.uint16
    assert np.abs(restored.planes[0].astype(int) - planes[0].astype(int) * 4).max() <= 4


# --- the report and --stats -------------------------------------------------------------------------

def test_json_and_stats_show_the_stages(tmp_path, clip, random_weights):
    report = tmp_path / "r.json"
    result = run_cli([clip, "-o", tmp_path / "out.mp4", "--weights", random_weights, "--device", "cpu", "-q",
                      "--json", report, "--stats"])
    assert result.exit_code == 0, result.output
    entry, totals = read_report(report)["files"][0], read_report(report)["totals"]
    assert list(entry["stages"]) == list(STAGES) and entry["colour_path"] == "cpu"
    assert all(v >= 0 for v in entry["stages"].values()) and entry["stages"]["model"] > 0
    assert totals["stages"] == entry["stages"]
    lines = result.stderr.splitlines()
    assert "where the time went (colour conversion: cpu)" in lines
    for thread, stage in (("read", "decode"), ("restore", "model"), ("write", "encode"), ("write", "wait_write_in")):
        assert any(line.startswith(f"stage {thread} {stage}: ") and "ms/frame" in line for line in lines), stage
    assert any(line.startswith("8 frames in ") and "busiest stage: model (restore thread)" in line for line in lines)
    quiet = run_cli([clip, "-o", tmp_path / "again.mp4", "--weights", random_weights, "--device", "cpu", "-q"])
    assert quiet.exit_code == 0 and "where the time went" not in quiet.stderr


def test_libx264_gets_frame_threads_and_the_chosen_preset(tmp_path, clip, monkeypatch):
    from deblur_cli.io.encode_plan import DEFAULT_PRESET

    sink_plans = []
    real_init = VideoSink.__init__

    def recording_init(self, path, plan, *args, **kwargs):
        sink_plans.append(plan)
        real_init(self, path, plan, *args, **kwargs)
        sink_plans.append(self.stream.codec_context.thread_type.name)

    monkeypatch.setattr(VideoSink, "__init__", recording_init)
    deblur_video(clip, tmp_path / "fast.mp4", IdentityEngine())
    deblur_video(clip, tmp_path / "slow.mp4", IdentityEngine(), preset="medium")
    (fast, fast_threads), (slow, _) = sink_plans[:2], sink_plans[2:]
    assert fast.options["preset"] == DEFAULT_PRESET["libx264"] and fast.thread_type == fast_threads == "FRAME"
    assert slow.options["preset"] == "medium"  # --preset still decides


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_planes_through_a_cuda_engine_match_the_cpu_and_are_timed():
    class CudaIdentity(StepIdentity):
        device = torch.device("cuda")

    rgb = moving_pattern(1, 96, 64)
    planes = frame_planes(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    frame = YuvFrame(tuple(planes), PlaneLayout("yuv420p"), PlaneLayout("yuv420p"))
    times = StageTimes()
    with collecting(times):
        on_gpu = list(stream_arrays(CudaIdentity(), [frame] * 3))
    on_cpu = list(stream_arrays(StepIdentity(), [frame] * 3))
    for a, b in zip(on_gpu, on_cpu):
        for x, y in zip(a.planes, b.planes):
            assert np.abs(x.astype(int) - y.astype(int)).max() <= 1
    assert all(times.seconds[s] > 0 for s in ("upload", "model", "download"))
