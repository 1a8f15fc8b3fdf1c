"""``--ray``: files and segments as Ray tasks, on a local Ray with 2 CPUs (started once for this module).

Skipped only where Ray is not installed; CI installs the ``ray`` extra, so these run there.
"""

from __future__ import annotations

import threading

import pytest

from deblur_cli.pipeline.cluster import CRASH_ENV, task_name
from deblur_cli.pipeline.journal import work_folder
from deblur_cli.pipeline.runner import deblur_path
from tests.clipgen import make_clip, packet_bytes
from tests.cliutil import assert_complete_copy, read_report, run_cli, temp_files
from tests.test_segments import CUT_AT, SEGMENT, long_clip, times

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def crash_requests(tmp_path_factory):
    """A local Ray (2 CPUs); yields the folder where a test asks for a task's worker to die once."""
    folder = tmp_path_factory.mktemp("crash")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error",
             runtime_env={"env_vars": {CRASH_ENV: str(folder), "OMP_NUM_THREADS": "1"}})
    yield folder
    ray.shutdown()


def test_a_folder_with_a_long_video_on_ray(tmp_path, random_weights, crash_requests):
    src = tmp_path / "in"
    src.mkdir()
    long_clip(src / "long.mp4")
    for i in range(2):
        make_clip(src / f"short{i}.mkv", size=(32, 24), frames=4, audio=["aac"])
    out = tmp_path / "out"
    result = run_cli([src, "-o", out, "--weights", random_weights, "--segment", SEGMENT, "--quiet",
                      "--json", tmp_path / "report.json", "--ray"])
    assert result.exit_code == 0, result.output
    report = read_report(tmp_path / "report.json")
    assert report["totals"]["done"] == 3 and {f["device"] for f in report["files"]} == {"ray:cpu"}
    long = next(f for f in report["files"] if f["input"].endswith("long.mp4"))
    assert long["frames"] == 75 and long["cut_frames"] == [CUT_AT]
    assert_complete_copy(src / "long.mp4", out / "long.mp4")
    for i in range(2):
        assert_complete_copy(src / f"short{i}.mkv", out / f"short{i}.mkv")
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4", "short0.mkv", "short1.mkv"]
    assert not temp_files(out)


def test_a_driver_resumes_and_a_task_whose_worker_dies_is_retried(tmp_path, random_weights, crash_requests):
    from deblur_cli.errors import Interrupted
    from deblur_cli.inference.build import build_engine
    from deblur_cli.pipeline.video import deblur_video

    src = long_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    stop = threading.Event()
    with pytest.raises(Interrupted, match="1 of 3 segments kept"):  # an earlier run, stopped in segment 2
        engine = build_engine(random_weights, device="cpu", strength="auto")  # as run builds it: the same journal
        deblur_video(src, dst, engine, segment=SEGMENT, cancel=stop, on_frame=lambda done: done >= 30 and stop.set())
    request = crash_requests / task_name(work_folder(dst) / "part-0002.mp4")
    request.touch()  # the third segment's first attempt kills its worker process, as a lost node would
    summary = deblur_path(src, dst, weights=random_weights, segment=SEGMENT, ray="local")
    assert not request.exists()  # the attempt that died took the request with it: the part came from a retry
    [outcome] = summary.outcomes
    assert outcome.warnings == ["resumed an earlier run: 1 of 3 segments kept"]
    assert outcome.status == "done" and outcome.frames == 75 and outcome.cuts == [CUT_AT]
    assert times(dst)[0] == times(src)[0] and packet_bytes(dst) == packet_bytes(src)
    assert not work_folder(dst).exists()


def test_skip_sharp_plans_on_the_driver_and_copies_sharp_files_there(tmp_path, random_weights, crash_requests,
                                                                    monkeypatch):
    """The driver scans each file once: a sharp one is copied there (no task), the others' tasks get its plan
    (they do not scan again: the stand-in judgement below exists only in this process)."""
    from deblur_cli.pipeline import scan as scan_module
    from tests.test_skip_sharp import clip, judged

    stand_ins = {"sharp.mp4": judged(set()), "shaky.mp4": judged({20, 21, 22})}
    monkeypatch.setattr(scan_module, "scan_file", lambda path, *a, **k: stand_ins[path.name](path))
    src = tmp_path / "in"
    for name in stand_ins:
        clip(src / name, blurred=set())
    summary = deblur_path(src, tmp_path / "out", weights=random_weights, skip_sharp=True, ray="local")
    by_name = {o.input.name: o for o in summary.outcomes}
    assert by_name["sharp.mp4"].status == "sharp (copied)" and by_name["sharp.mp4"].device == "ray:driver"
    assert by_name["shaky.mp4"].status == "done" and by_name["shaky.mp4"].restored == 7
