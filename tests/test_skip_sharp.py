"""``run --skip-sharp``: sharp stretches pass by the network, blurred ones are restored as in a full run,
sharp files of a folder are copied stream for stream; with segments, resume and several devices."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from deblur_cli.errors import Interrupted
from deblur_cli.inference.strength import StrengthEngine
from deblur_cli.io.images import read_frame
from deblur_cli.pipeline import scan as scan_module
from deblur_cli.pipeline import skipping
from deblur_cli.pipeline.batch import COPIED, Job, run_files
from deblur_cli.pipeline.journal import JOURNAL_NAME, Journal, work_folder
from deblur_cli.pipeline.options import VideoOptions
from deblur_cli.pipeline.report import build_report
from deblur_cli.pipeline.scan import FileScan
from deblur_cli.pipeline.skipping import PASS, RESTORE, WARM, SkipPlan, plan_skip, spans_from
from deblur_cli.pipeline.video import deblur_video
from tests.blurgen import shaky_content
from tests.clipgen import decode_video, make_clip, payloads
from tests.cliutil import read_report, run_cli
from tests.test_pipeline import IdentityEngine
from tests.test_strength import FakeEngine

SIZE = (128, 80)
SHAKY = set(range(20, 30))


class Memory(IdentityEngine):
    """A recurrent stand-in: each output is half the frame and half the previous output (``reset`` forgets)."""

    identity = {"engine": "Memory"}

    def __init__(self, stop_after: int | None = None):
        super().__init__()
        self.previous = None
        self.stop_after = stop_after

    def reset(self):
        super().reset()
        self.previous = None

    def process_array(self, frame):
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt
        x = frame.astype(np.float32)
        out = x if self.previous is None else 0.5 * x + 0.5 * self.previous
        self.previous = out
        return np.clip(np.round(out), 0, 255).astype(frame.dtype)


def clip(path, blurred=SHAKY, frames=50, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, size=SIZE, frames=frames, fps=25, content=shaky_content(blurred, 7), **kwargs)


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def pngs(folder) -> list[np.ndarray]:
    return [read_frame(p) for p in sorted(folder.iterdir())]


def frames_of(path) -> list[np.ndarray]:
    return decode_video(path, rgb=True)[2]


def test_plan_spans_warm_up_and_merge():
    times = [i / 10 for i in range(40)]
    flags = [i in (20, 21, 22, 25) for i in range(40)]
    plan = spans_from(times, flags, 0.1, warmup=8, pad=2)
    assert plan.spans == ((1.0, 1.8, 2.8),)  # 20-22 and 25 (padded, warm-up overlapping): one span
    assert [plan.mode(t) for t in (0.9, 1.0, 1.7, 1.8, 2.7, 2.8)] == [PASS, WARM, WARM, RESTORE, RESTORE, PASS]
    assert SkipPlan.from_record(plan.as_record()) == plan and spans_from(times, [False] * 40, 0.1).sharp


def test_sharp_stretches_pass_and_blurred_ones_match_a_full_run(tmp_path):
    src = clip(tmp_path / "in.mp4")
    plan = plan_skip(src)
    assert len(plan.spans) == 1 and 0.6 < plan.spans[0][1] <= 0.8  # frame 20 starts at 0.8 s (2 frames of pad)
    full, skip, identity = Memory(), Memory(), IdentityEngine()
    deblur_video(src, tmp_path / "full.mp4", full, frames_out=tmp_path / "full")
    deblur_video(src, tmp_path / "skip.mp4", skip, skip_sharp=True, frames_out=tmp_path / "skip")
    deblur_video(src, tmp_path / "zero.mp4", identity, frames_out=tmp_path / "zero")  # as at --strength 0
    assert skip.calls < 30 < full.calls  # 10 blurred, 4 of pad, 8 of warm-up
    full_frames, skip_frames, zero_frames = (pngs(tmp_path / name) for name in ("full", "skip", "zero"))
    pts, time_base = decode_video(src)[:2]
    times = [p * time_base for p in pts]
    assert len(times) == len(skip_frames) == 50
    for t, a, b, c in zip(times, skip_frames, full_frames, zero_frames):
        mode = plan.mode(float(t))
        if mode == RESTORE:
            assert psnr(a, b) >= 40, float(t)
        else:
            assert np.array_equal(a, c), float(t)


def test_a_folder_copies_sharp_files_and_restores_the_rest(tmp_path):
    src = tmp_path / "clips"
    clip(src / "sharp.mp4", blurred=set(), audio=["aac"])
    clip(src / "shaky.mkv", audio=["aac"])
    out = tmp_path / "out"
    jobs = [Job(src / "sharp.mp4", out / "sharp.mp4"), Job(src / "shaky.mkv", out / "shaky.mkv")]
    outcomes = run_files(jobs, lambda device: Memory(), ["cpu"], VideoOptions(skip_sharp=True))
    assert [o.status for o in outcomes] == [COPIED, "done"]
    for kind in ("video", "audio"):
        assert payloads(out / "sharp.mp4", kind) == payloads(src / "sharp.mp4", kind)
    assert outcomes[0].frames == 50


def test_cli_reports_sharp_copied(tmp_path, random_weights):
    src = tmp_path / "clips"
    clip(src / "a.mp4", blurred=set(), frames=20)
    report = tmp_path / "r.json"
    result = run_cli([src, "-o", tmp_path / "out", "--skip-sharp", "--weights", random_weights, "--device", "cpu",
                      "--json", report])
    assert result.exit_code == 0, result.stderr
    assert "sharp (copied)" in result.stderr
    data = read_report(report)
    assert data["files"][0]["status"] == "sharp (copied)" and data["totals"]["copied"] == 1
    assert json.dumps(data)


def test_segments_resume_with_the_recorded_plan_and_devices_share_them(tmp_path, monkeypatch):
    src = clip(tmp_path / "long.mp4", blurred=set(range(30, 40)), frames=60,
               params="keyint=12:min-keyint=12:scenecut=0")
    options = VideoOptions(skip_sharp=True, segment=0.5)
    one_pass = tmp_path / "one.mp4"
    deblur_video(src, one_pass, Memory(), options, segment=0)
    with pytest.raises(Interrupted):
        deblur_video(src, tmp_path / "seg.mp4", Memory(stop_after=14), options)
    journal = Journal.read(work_folder(tmp_path / "seg.mp4") / JOURNAL_NAME)
    assert journal.settings["skip_sharp"] is True and journal.settings["skip plan"]
    monkeypatch.setattr(skipping, "plan_skip", lambda *a, **k: pytest.fail("the journal's plan must be used"))
    deblur_video(src, tmp_path / "seg.mp4", Memory(), options)
    monkeypatch.undo()
    two = tmp_path / "two.mp4"
    [outcome] = run_files([Job(src, two)], lambda device: Memory(), ["cpu", "cpu"], options)
    assert outcome.status == "done"
    assert payloads(tmp_path / "seg.mp4", "video") == payloads(two, "video")  # resumed = made on two devices
    ours, reference = frames_of(two), frames_of(one_pass)
    assert len(ours) == len(reference) == 60
    assert min(psnr(a, b) for a, b in zip(ours, reference)) >= 35  # the same frames, encoded in parts or whole


class ByLevel(StrengthEngine):
    """A stand-in whose strength for each frame is the frame's own mean level (0..1), known from the input alone."""

    def __init__(self):
        super().__init__(FakeEngine(), 0.5)

    def step(self, frame):
        self.strength = float(frame.float().mean())
        return super().step(frame)


def ramp(index, width, height):
    return np.full((height, width, 3), 20 + 3 * index, np.uint8)  # each frame a level of its own


@pytest.mark.parametrize("segment", [0, 0.5])
def test_reported_strength_is_over_the_restored_frames_of_every_stretch(tmp_path, segment):
    """Two blurred stretches of different strengths: the mean over both, frame-weighted, warm-up frames left out
    (one pass, and in parts from the journal alike); ``restored`` counts the frames written from the network."""
    src = make_clip(tmp_path / "ramp.mp4", size=SIZE, frames=60, fps=25, content=ramp,
                    params="keyint=12:min-keyint=12:scenecut=0")
    pts, time_base = decode_video(src)[:2]
    times = [float(p * time_base) for p in pts]
    plan = spans_from(times, [i in (10, 11, 12) or 36 <= i < 46 for i in range(60)], 0.04)
    modes = [plan.mode(t) for t in times]
    levels = [(20 + 3 * i) / 255 for i in range(60)]  # as ramp() made them
    restored = [lv for lv, m in zip(levels, modes) if m == RESTORE]
    through = [lv for lv, m in zip(levels, modes) if m != PASS]  # warm-up frames too
    expected = sum(restored) / len(restored)
    assert len(restored) == 7 + 14 and abs(sum(through) / len(through) - expected) > 0.05
    assert abs(sum(restored[7:]) / 14 - expected) > 0.05  # the last stretch alone is another figure
    options = VideoOptions(skip_sharp=True, skip_plan=plan, segment=segment, scene_cuts=False)
    [outcome] = run_files([Job(src, tmp_path / "out.mp4")], lambda device: ByLevel(), ["cpu"], options)
    assert outcome.status == "done" and outcome.frames == 60 and outcome.restored == 21
    assert outcome.strength == pytest.approx(expected, abs=2e-3)
    record = build_report([outcome], planned=1)
    assert record["files"][0]["restored_frames"] == 21 and record["totals"]["restored_frames"] == 21


def test_summary_says_how_many_frames_the_network_restored(tmp_path):
    from rich.console import Console

    from deblur_cli.cli.report import print_file_result, print_summary
    from deblur_cli.pipeline.batch import FileOutcome

    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    done = FileOutcome(tmp_path / "a.mp4", tmp_path / "o/a.mp4", "done", 60, 2.0, 30.0, restored=21)
    copied = FileOutcome(tmp_path / "b.mp4", tmp_path / "o/b.mp4", COPIED, 40, 0.1, 400.0)
    print_file_result(done, console)
    print_summary([done, copied], console, root=tmp_path)
    lines = console.file.getvalue().splitlines()
    assert "60 frames (21 restored by the network) in 2.0 s" in lines[0]
    assert lines[1].startswith("done: a.mp4: 60 frames (21 restored by the network), 30.0 fps")
    assert lines[-1].endswith("; the network restored 21 of 100 frames")


def judged(flagged: set[int], frames: int = 50, rate: float = 25.0):
    """A stand-in for scan_file (the detector is a black box here): frames in ``flagged`` judged blurred."""
    def scan_file(path, *args, **kwargs):
        scores = [SimpleNamespace(score=0.9 if i in flagged else 0.1, blurred=i in flagged,
                                  kind="global" if i in flagged else "") for i in range(frames)]
        return FileScan(Path(path), SIZE[0], SIZE[1], rate, [i / rate for i in range(frames)], scores)
    return scan_file


@pytest.mark.parametrize("flagged, status", [({20}, COPIED), ({20, 21, 22}, "done")])
def test_a_stray_flagged_frame_leaves_a_file_sharp_and_a_stretch_does_not(tmp_path, monkeypatch, flagged, status):
    """One rule (analysis.stretches) for scan's share and run's plan: a stretch under MIN_STRETCH_FRAMES is sharp."""
    monkeypatch.setattr(scan_module, "scan_file", judged(flagged))
    src = clip(tmp_path / "in" / "a.mp4", blurred=set())
    scan = scan_module.scan_file(src)
    assert (scan.blurred_fraction == 0 and scan.stretches == []) == (status == COPIED)
    [outcome] = run_files([Job(src, tmp_path / "out" / "a.mp4")], lambda device: Memory(), ["cpu"],
                          VideoOptions(skip_sharp=True))
    assert outcome.status == status
    assert outcome.restored == (0 if status == COPIED else 3 + 2 * skipping.PAD)


def test_sharp_files_are_scanned_once_and_copied_without_an_engine(tmp_path, monkeypatch):
    """A sharp file, long (segmented) or short, costs one scan and a copy: no engine is built for it, and a long
    blurred one is scanned once too (the plan goes to its parts)."""
    scans = []
    stand_in = judged(set(range(30, 40)), frames=60)

    def scan_file(path, *args, **kwargs):
        scans.append(Path(path).name)
        result = stand_in(path)
        if "sharp" in path.name:
            result.scores = [SimpleNamespace(score=0.1, blurred=False, kind="") for _ in result.scores]
        return result

    monkeypatch.setattr(scan_module, "scan_file", scan_file)
    src = tmp_path / "in"
    for name in ("sharp-long.mp4", "sharp-short.mp4", "shaky-long.mp4"):
        clip(src / name, frames=60, blurred=set(), params="keyint=12:min-keyint=12:scenecut=0")
    options = VideoOptions(skip_sharp=True, segment=0.5)
    sharp = [Job(src / n, tmp_path / "out" / n) for n in ("sharp-long.mp4", "sharp-short.mp4")]
    outcomes = run_files(sharp, lambda device: pytest.fail("no engine for sharp files"), ["cpu"], options)
    assert [o.status for o in outcomes] == [COPIED, COPIED] and scans == ["sharp-long.mp4", "sharp-short.mp4"]
    scans.clear()
    [outcome] = run_files([Job(src / "shaky-long.mp4", tmp_path / "out" / "shaky.mp4")], lambda device: Memory(),
                          ["cpu"], options)
    assert outcome.status == "done" and outcome.restored == 14 and scans == ["shaky-long.mp4"]


def test_a_part_runs_only_the_warm_up_of_the_stretch_it_starts_in():
    """Before a part's first written frame, the tail of an earlier stretch passes (nothing written would use it)."""
    from deblur_cli.pipeline.parts import _modes

    tb = Fraction(1, 25)
    plan = SkipPlan(((16 / 25, 24 / 25, 32 / 25),))  # warm-up 16-23, restored 24-31
    after = _modes(Fraction(36, 25), plan, Fraction(0))  # a part written from frame 36
    inside = _modes(Fraction(26, 25), plan, Fraction(0))  # a part written from frame 26, within the stretch
    assert {after(i, tb) for i in range(28, 36)} == {PASS}
    assert [inside(i, tb) for i in (15, 16, 23, 25, 26, 31, 32)] == [PASS, WARM, WARM, WARM, RESTORE, RESTORE, PASS]
    assert _modes(Fraction(26, 25), None, Fraction(0))(20, tb) == WARM  # without a plan: the segment's warm-up
