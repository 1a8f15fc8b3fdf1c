"""Long videos in segments: planning at keyframes, the same output as one pass, resume, and devices sharing a video.

The clips are tiny (64x48) and a few seconds long, cut into ``--segment 0.5``
segments: x264 with a keyframe every 12 frames and B-frames, variable frame
rate, AAC audio, BT.709 tags and a rotation, and one hard scene cut.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from deblur_cli.errors import Interrupted, OutputError
from deblur_cli.pipeline.batch import Job, plan_folder, run_files
from deblur_cli.pipeline.journal import JOURNAL_NAME, LOCK_NAME, Journal, work_folder
from deblur_cli.pipeline.options import VideoOptions
from deblur_cli.pipeline.segments import VideoIndex, plan_segments, scan
from deblur_cli.pipeline.video import deblur_video
from tests.clipgen import BT709_LIMITED, decode_video, make_clip, moving_pattern, packet_bytes
from tests.cliutil import assert_clean_error, run_cli, temp_files
from tests.test_pipeline import IdentityEngine

SEGMENT = 0.5
KEYINT = 12
CUT_AT = 52  # the frame where the clip's second shot starts


def vfr_pts(frames: int = 75) -> list[int]:
    """29.97 frames/s in 1/90000 with a burst and gaps: variable frame rate."""
    steps = [3003, 3003, 3003, 1001, 3003, 6006, 3003, 2002]
    pts, t = [], 0
    for i in range(frames):
        pts.append(t)
        t += steps[i % len(steps)]
    return pts


def two_shots(index: int, width: int, height: int) -> np.ndarray:
    if index < CUT_AT:
        return moving_pattern(index, width, height)
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 7 + index) % 256, np.full_like(x, 40), (y * 11) % 256], -1).astype(np.uint8)


def long_clip(path, frames: int = 75, **kwargs):
    """A clip that ``--segment 0.5`` cuts into three segments (keyframes every 0.4 s)."""
    settings = dict(pts=vfr_pts(frames), time_base=Fraction(1, 90000), audio=["aac"], bframes=2,
                    params=f"keyint={KEYINT}:min-keyint={KEYINT}:scenecut=0", colour=BT709_LIMITED, rotation=90,
                    content=two_shots)
    settings.update(kwargs)
    return make_clip(path, **settings)


def times(path):
    pts, tb, arrays, first = decode_video(path, rgb=True)
    return [p * tb for p in pts], arrays, first


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def keyframe_times(path) -> list[Fraction]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return sorted(p.pts * p.time_base for p in c.demux(stream) if p.size and p.is_keyframe)


# --- planning ------------------------------------------------------------------------------------

def test_segments_start_at_keyframes_about_target_apart_with_warmup_before():
    index = VideoIndex(Fraction(1, 10), tuple(range(100)), tuple(range(0, 100, 7)))  # 10 frames/s, key every 0.7 s
    segments = plan_segments(index, target=2.0, warmup=3)
    assert [s.start for s in segments] == [None, 21, 42, 63, 84]  # the first keyframes >= 2 s after the last cut
    assert [s.end for s in segments] == [21, 42, 63, 84, None]
    assert [s.warmup_from for s in segments] == [None, 18, 39, 60, 81]
    assert sum(s.frames for s in segments) == 100
    # a last piece shorter than half the target joins the one before; one segment when nothing is long enough
    assert [s.start for s in plan_segments(index, target=3.0)] == [None, 35, 70]
    assert len(plan_segments(index, target=20.0)) == 1
    # --start/--duration: only frames in the span; warm-up never reaches before the first frame written
    part = plan_segments(index, target=2.0, warmup=30, first=2.0, end=7.0)
    assert [(s.start, s.end, s.warmup_from) for s in part] == [(None, 42, None), (42, None, 20)]
    assert sum(s.frames for s in part) == 50


def test_scan_reads_keyframes_without_decoding(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    index = scan(src)
    assert [index.seconds(p) for p in index.frames] == [t * Fraction(1, 90000) for t in vfr_pts()]
    assert [index.seconds(p) for p in index.keyframes] == keyframe_times(src)
    assert len(index.keyframes) == math.ceil(75 / KEYINT)


# --- the output ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_segmented_output_equals_one_pass(tmp_path, suffix):
    """Frame count, timestamps (VFR, B-frames), audio packets, colour tags, rotation, scene cuts: as one pass."""
    src = long_clip(tmp_path / f"in{suffix}")
    one = deblur_video(src, tmp_path / f"one{suffix}", IdentityEngine(), segment=0)
    seg = deblur_video(src, tmp_path / f"seg{suffix}", IdentityEngine(), segment=SEGMENT)
    assert seg.frames == one.frames == 75 and seg.cuts == one.cuts == [CUT_AT]
    assert seg.warnings == one.warnings == []
    times_one, frames_one, first_one = times(tmp_path / f"one{suffix}")
    times_seg, frames_seg, first_seg = times(tmp_path / f"seg{suffix}")
    assert times_seg == times_one and len(times_seg) == 75
    assert packet_bytes(tmp_path / f"seg{suffix}") == packet_bytes(tmp_path / f"one{suffix}")  # audio, bit-exact
    tags = lambda f: (f.color_primaries, f.color_trc, f.colorspace, f.color_range, f.rotation)  # noqa: E731
    assert tags(first_seg) == tags(first_one) == (1, 1, 1, 1, 0 if suffix == ".ts" else 90)  # TS has no rotation
    # every part starts with a keyframe: the segments really were encoded apart (boundaries at 24 and 48)
    boundaries = {times_one[24], times_one[48]}
    assert boundaries <= set(keyframe_times(tmp_path / f"seg{suffix}"))
    # the same restored frames, encoded in other GOPs: only the encoder's loss differs
    assert min(psnr(a, b) for a, b in zip(frames_one, frames_seg)) > 35
    assert not any(p.name.endswith(".stfan-parts") for p in tmp_path.iterdir())  # the work folder is gone
    assert not temp_files(tmp_path)


def test_chapters_pixel_aspect_and_timecode_as_one_pass(tmp_path):
    src = long_clip(tmp_path / "in.mov", chapters=[(0, 1, "one"), (1, 2.5, "two")], sar=Fraction(4, 3),
                    timecode="01:00:00:00")

    def extras(path):
        with av.open(str(path)) as c:
            video = c.streams.video[0]
            return ([(ch["start"] * ch["time_base"], ch["metadata"].get("title")) for ch in c.chapters()],
                    video.codec_context.sample_aspect_ratio, video.metadata.get("timecode"),
                    [s.type for s in c.streams])

    deblur_video(src, tmp_path / "one.mov", IdentityEngine(), segment=0)
    assert deblur_video(src, tmp_path / "seg.mov", IdentityEngine(), segment=SEGMENT).warnings == []
    assert extras(tmp_path / "seg.mov") == extras(tmp_path / "one.mov")
    assert extras(tmp_path / "seg.mov")[1:3] == (Fraction(4, 3), "01:00:00:00")
    assert set(keyframe_times(tmp_path / "seg.mov")) > {times(tmp_path / "one.mov")[0][24]}


def test_boundary_frames_of_the_network_match_one_pass(tmp_path, random_weights):
    """A real (random-weights) network, encoded losslessly: segments differ from one pass only by warm-up."""
    from deblur_cli.inference.build import build_engine

    src = long_clip(tmp_path / "in.mkv", frames=36, audio=[])  # two segments: frames 0-23 and 24-35
    engine = build_engine(random_weights, device="cpu")
    runs = {}
    for name, options in (("one", dict(segment=0)), ("default", dict(segment=SEGMENT)),
                          ("cold", dict(segment=SEGMENT, warmup=0))):
        deblur_video(src, tmp_path / f"{name}.mkv", engine, crf=0, preset="ultrafast", **options)
        runs[name] = times(tmp_path / f"{name}.mkv")[1]
    assert {times(tmp_path / "one.mkv")[0][24]} == set(keyframe_times(tmp_path / "default.mkv")[1:])
    scores = {name: psnr(runs[name][24], runs["one"][24]) for name in ("default", "cold")}
    print(f"PSNR of the first frame of segment 2 against one pass: {scores}")
    assert scores["default"] >= 40
    assert min(psnr(a, b) for a, b in zip(runs["default"], runs["one"])) >= 40
    assert all(np.array_equal(a, b) for a, b in zip(runs["default"][:24], runs["one"][:24]))  # segment 1 as one pass


def test_a_short_video_takes_the_one_pass_path(tmp_path, monkeypatch):
    import deblur_cli.pipeline.split as split

    monkeypatch.setattr(split, "scan", lambda path: pytest.fail("a short video must not even be scanned"))
    src = make_clip(tmp_path / "short.mp4", frames=10, audio=["aac"])
    assert deblur_video(src, tmp_path / "out.mp4", IdentityEngine()).frames == 10  # default: 30 s segments
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "short.mp4"]


def test_start_and_duration_in_segments(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    span = dict(start=0.3, duration=1.9)
    one = deblur_video(src, tmp_path / "one.mp4", IdentityEngine(), segment=0, **span)
    seg = deblur_video(src, tmp_path / "seg.mp4", IdentityEngine(), segment=SEGMENT, **span)
    assert seg.frames == one.frames and seg.cuts == one.cuts
    assert times(tmp_path / "seg.mp4")[0] == times(tmp_path / "one.mp4")[0]
    assert packet_bytes(tmp_path / "seg.mp4") == packet_bytes(tmp_path / "one.mp4")


# --- resume ---------------------------------------------------------------------------------------

class StopAfter(IdentityEngine):
    """Presses Ctrl-C (in the restore thread) after ``calls`` frames."""

    identity = {"engine": "IdentityEngine"}  # what shapes the output is the same: a later run may resume

    def __init__(self, calls: int, identity: dict | None = None):
        super().__init__(on_call=self._maybe_stop)
        self.limit = calls
        self.identity = identity or self.identity

    def _maybe_stop(self, n):
        if n > self.limit:
            raise KeyboardInterrupt


def interrupted_run(src, dst, calls: int, identity: dict | None = None, **options) -> Interrupted:
    with pytest.raises(Interrupted) as caught:
        deblur_video(src, dst, StopAfter(calls, identity), segment=SEGMENT, **options)
    return caught.value


def test_ctrl_c_keeps_finished_parts_and_the_rerun_resumes(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out" / "seg.mp4"
    error = interrupted_run(src, dst, 24 + 8 + 5)  # in the second segment (after its 8 warm-up frames)
    folder = work_folder(dst)
    assert "1 of 3 segments kept" in str(error) and str(folder) in str(error)
    assert sorted(p.name for p in folder.iterdir()) == [JOURNAL_NAME, "part-0000.mp4"]  # no half part, no lock
    assert not dst.exists() and not temp_files(tmp_path / "out")

    engine = IdentityEngine()
    result = deblur_video(src, dst, engine, segment=SEGMENT)
    assert result.frames == 75 and engine.calls == (24 + 8) + (27 + 8)  # segment 1 kept; 2 and 3 redone, with warm-up
    assert result.warnings == ["resumed an earlier run: 1 of 3 segments kept"]
    reference = deblur_video(src, tmp_path / "ref.mp4", IdentityEngine(), segment=SEGMENT)
    assert times(dst)[0] == times(tmp_path / "ref.mp4")[0] and result.cuts == reference.cuts
    assert all(np.array_equal(a, b) for a, b in zip(times(dst)[1], times(tmp_path / "ref.mp4")[1]))
    assert packet_bytes(dst) == packet_bytes(src)
    assert not folder.exists()


def test_a_damaged_part_is_detected_and_redone(tmp_path):
    src = long_clip(tmp_path / "in.mkv")
    dst = tmp_path / "out.mkv"
    interrupted_run(src, dst, 75 - 5)  # in the last segment: two parts kept
    part = work_folder(dst) / "part-0001.mkv"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    engine = IdentityEngine()
    result = deblur_video(src, dst, engine, segment=SEGMENT)
    assert result.warnings == ["resumed an earlier run: 1 of 3 segments kept; 1 damaged part(s) redone"]
    assert engine.calls == (24 + 8) + (27 + 8)  # segments 2 and 3, each with its warm-up
    assert result.frames == 75 and len(times(dst)[0]) == 75


@pytest.mark.parametrize("change, reason", [
    ("options", "it used other settings (crf default -> 30, encoder options)"),
    ("input", "the input file changed (edges_sha256 differ)"),
    ("weights", "it used other settings (weights_sha256)"),
])
def test_a_journal_that_does_not_match_is_not_used_and_the_user_is_told(tmp_path, change, reason):
    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    interrupted_run(src, dst, 24 + 8 + 5, identity={"weights_sha256": "1" * 64})
    engine, options = IdentityEngine(), dict(segment=SEGMENT)
    engine.identity = {"weights_sha256": ("2" if change == "weights" else "1") * 64}
    if change == "options":
        options["crf"] = 30
    elif change == "input":
        stat = src.stat()
        with open(src, "r+b") as fh:  # rewritten in place: same size, same time, other bytes
            fh.seek(100)
            byte = fh.read(1)
            fh.seek(100)
            fh.write(bytes([byte[0] ^ 1]))
        os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = deblur_video(src, dst, engine, **options)
    assert len(result.warnings) == 1 and reason in result.warnings[0], result.warnings
    assert result.warnings[0].startswith("not resuming from the earlier run's parts in ")
    assert result.warnings[0].endswith("; starting over")
    assert engine.calls == 75 + 2 * 8  # everything redone


def test_no_resume_starts_over_without_a_word(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    interrupted_run(src, dst, 24 + 8 + 5)
    engine = IdentityEngine()
    result = deblur_video(src, dst, engine, segment=SEGMENT, resume=False)
    assert result.warnings == [] and engine.calls == 75 + 2 * 8


def test_an_unreadable_journal_is_named(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    interrupted_run(src, dst, 24 + 8 + 5)
    (work_folder(dst) / JOURNAL_NAME).write_text("{not json")
    result = deblur_video(src, dst, IdentityEngine(), segment=SEGMENT)
    assert result.warnings == [f"not resuming from the earlier run's parts in {work_folder(dst)}: "
                               f"its journal is unreadable; starting over"]
    assert Journal.read(tmp_path / "missing.json") == "its journal is unreadable"


LOCKER = """
import sys
from pathlib import Path
from deblur_cli.errors import OutputError
from deblur_cli.pipeline.journal import take_lock
folders = sys.argv[1:]
for folder in folders:
    print("ready", flush=True)
    sys.stdin.readline()  # the go: written to every process at once
    try:
        take_lock(Path(folder))
        print("locked", flush=True)
    except OutputError as exc:
        print("refused:", exc, flush=True)
sys.stdin.read()  # hold the locks until told (stdin closed)
"""


def lockers(folders: list, count: int) -> tuple[list[subprocess.Popen], list[list[str]]]:
    """``count`` processes that try to lock each of ``folders`` at the same moment, in turn, then hold their
    locks until their stdin is closed; what each said for each folder."""
    procs = [subprocess.Popen([sys.executable, "-c", LOCKER, *map(str, folders)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(count)]
    said = []
    for folder in folders:
        folder.mkdir(exist_ok=True)
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * count  # every one waiting
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        said.append([p.stdout.readline().strip() for p in procs])
    return procs, said


def test_two_runs_starting_together_cannot_both_lock_the_folder(tmp_path):
    """Twenty races: each time exactly one of two processes gets the lock (a read-then-write lock lets both)."""
    procs, said = lockers([tmp_path / f"folder{i}" for i in range(20)], 2)
    for p in procs:
        p.communicate(timeout=60)
    assert all(sorted(s.split(":")[0] for s in pair) == ["locked", "refused"] for pair in said), said
    assert all("another run" in s for pair in said for s in pair if s.startswith("refused"))


def test_a_live_run_on_the_same_output_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    folder = work_folder(dst)
    (holder,), said = lockers([folder], 1)
    assert said == [["locked"]]
    with pytest.raises(OutputError, match=f"another run \\(process {holder.pid}\\)"):
        deblur_video(src, dst, IdentityEngine(), segment=SEGMENT)
    holder.kill()  # what kill -9 leaves: the lock file, held by nobody
    holder.wait()
    assert (folder / LOCK_NAME).read_text().strip() == str(holder.pid)
    assert deblur_video(src, dst, IdentityEngine(), segment=SEGMENT).frames == 75


def test_the_folder_scan_skips_work_folders(tmp_path):
    src = tmp_path / "in"
    long_clip(src / "a.mp4") if (src.mkdir() or True) else None
    parts = work_folder(src / "b.mp4")
    parts.mkdir()
    make_clip(parts / "part-0000.mp4", frames=3)
    assert [job.input.name for job in plan_folder(src, tmp_path / "out")] == ["a.mp4"]


# --- several devices ------------------------------------------------------------------------------

class Slow(IdentityEngine):
    def process_array(self, frame):
        time.sleep(0.02)  # long enough that both workers get segments
        return super().process_array(frame)


def test_two_devices_share_one_videos_segments(tmp_path):
    src = long_clip(tmp_path / "in.mp4")
    built: list[str] = []
    lock = threading.Lock()

    def make_engine(device):
        with lock:
            built.append(device)
        return Slow()

    outcomes = run_files([Job(src, tmp_path / "out.mp4")], make_engine, ["gpu-a", "gpu-b"],
                         VideoOptions(segment=SEGMENT))
    [outcome] = outcomes
    assert outcome.status == "done" and outcome.frames == 75 and outcome.cuts == [CUT_AT], outcome.error
    assert sorted(built) == ["gpu-a", "gpu-b"] and sorted(outcome.device.split(",")) == ["gpu-a", "gpu-b"]
    one = deblur_video(src, tmp_path / "one.mp4", IdentityEngine(), segment=0)
    assert times(tmp_path / "out.mp4")[0] == times(tmp_path / "one.mp4")[0] and one.frames == 75
    assert packet_bytes(tmp_path / "out.mp4") == packet_bytes(src)


def test_a_folder_shares_files_and_segments_and_skips_nothing(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    long_clip(src / "long.mp4")
    for i in range(2):
        make_clip(src / f"short{i}.mp4", frames=5, audio=["aac"])
    outcomes = run_files(plan_folder(src, tmp_path / "out"), lambda d: Slow(), ["gpu-a", "gpu-b"],
                         VideoOptions(segment=SEGMENT))
    assert [(o.input.name, o.status, o.frames) for o in outcomes] == [
        ("long.mp4", "done", 75), ("short0.mp4", "done", 5), ("short1.mp4", "done", 5)]
    assert not temp_files(tmp_path / "out") and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "long.mp4", "short0.mp4", "short1.mp4"]


# --- the command line -----------------------------------------------------------------------------

def test_cli_segment_and_no_resume(tmp_path, random_weights):
    src = long_clip(tmp_path / "in.mp4", frames=60)
    args = [src, "-o", tmp_path / "out.mp4", "--weights", random_weights, "--device", "cpu,cpu", "--quiet",
            "--json", tmp_path / "report.json"]
    result = run_cli(args, env={"STFAN_DEBLUR_SEGMENT": "0.5"})
    assert result.exit_code == 0, result.output
    assert len(times(tmp_path / "out.mp4")[0]) == 60
    assert_clean_error(run_cli([*args, "--segment", "-1"]), "--segment")
    assert_clean_error(run_cli([*args, "--no-resume"]), "output exists")


def test_ray_without_ray_installed_is_a_clean_error(tmp_path, random_weights, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    src = make_clip(tmp_path / "in.mp4", frames=3)
    result = run_cli([src, "-o", tmp_path / "out.mp4", "--weights", random_weights, "--ray"])
    assert_clean_error(result, 'pip install "stfan-deblur[ray]"')
    assert not (tmp_path / "out.mp4").exists()
