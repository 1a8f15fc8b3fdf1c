"""A folder spread over several devices: one worker per device, every file done exactly once.

CI has no GPUs, so the devices here are two CPU workers (``--device cpu,cpu``);
on a multi-GPU machine the same path takes ``cuda:0,cuda:1`` or ``all``.
"""

from __future__ import annotations

import time

import torch

from deblur_cli.inference.devices import resolve_devices
from tests.clipgen import make_clip
from tests.cliutil import assert_complete_copy, read_report, run_cli, temp_files


def test_device_lists_parse():
    assert [str(d) for d in resolve_devices("cpu,cpu")] == ["cpu", "cpu"]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert [str(d) for d in resolve_devices("all")] == ([f"cuda:{i}" for i in range(count)] or ["cpu"])


def test_a_folder_over_two_workers_does_each_file_once(tmp_path, random_weights):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        make_clip(src / f"clip{i}.mp4", size=(32, 24), frames=3, audio=["aac"])
    out = tmp_path / "out"
    result = run_cli([src, "-o", out, "--weights", random_weights, "--device", "cpu,cpu", "--quiet",
                      "--json", tmp_path / "report.json"])
    assert result.exit_code == 0, result.output
    report = read_report(tmp_path / "report.json")
    assert report["totals"]["done"] == 4
    assert sorted(f["input"].rsplit("/", 1)[-1] for f in report["files"]) == [f"clip{i}.mp4" for i in range(4)]
    assert {f["device"] for f in report["files"]} == {"cpu"}
    for i in range(4):
        assert_complete_copy(src / f"clip{i}.mp4", out / f"clip{i}.mp4")
    assert not temp_files(out)


def test_the_work_really_is_split_between_devices(tmp_path):
    """Each device's worker takes files from one queue: with a slow engine both get some, none twice."""
    from deblur_cli.pipeline.batch import Job, run_files
    from tests.test_pipeline import IdentityEngine

    class Slow(IdentityEngine):
        def process_array(self, frame):
            time.sleep(0.05)  # long enough that one worker cannot take every file before the other starts
            return super().process_array(frame)

    jobs = []
    for i in range(6):
        make_clip(tmp_path / f"c{i}.mkv", size=(32, 24), frames=3)
        jobs.append(Job(tmp_path / f"c{i}.mkv", tmp_path / "out" / f"c{i}.mkv"))
    built: list[str] = []
    outcomes = run_files(jobs, lambda device: built.append(device) or Slow(), ["gpu-a", "gpu-b"])
    by_device = {d: sorted(o.input.name for o in outcomes if o.device == d) for d in ("gpu-a", "gpu-b")}
    assert sorted(built) == ["gpu-a", "gpu-b"]  # one engine per device, built once
    assert by_device["gpu-a"] and by_device["gpu-b"], by_device
    assert sorted(by_device["gpu-a"] + by_device["gpu-b"]) == [f"c{i}.mkv" for i in range(6)]
    assert all(o.status == "done" and o.frames == 3 for o in outcomes)
