"""A folder spread over several devices: one worker per device, every file done exactly once.

CI has no GPUs, so the devices here are two CPU workers (``--device cpu,cpu``);
on a multi-GPU machine the same path takes ``cuda:0,cuda:1`` or ``all``.
"""

from __future__ import annotations

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
