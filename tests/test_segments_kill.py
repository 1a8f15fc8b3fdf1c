"""A segmented run killed with SIGKILL (no clean-up of any kind) at several points, then run again.

The second run must finish with exactly what an uninterrupted run makes:
same frames, timestamps and audio, and no work folder left.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deblur_cli.pipeline.journal import JOURNAL_NAME, work_folder
from deblur_cli.pipeline.video import deblur_video
from tests.clipgen import packet_bytes
from tests.test_pipeline import IdentityEngine
from tests.test_segments import SEGMENT, long_clip, times

REPO = Path(__file__).resolve().parents[1]

# Runs deblur_video in a child process that SIGKILLs itself at the point named by argv[3].
CHILD = r"""
import os, signal, sys
sys.path.insert(0, {repo!r})
import deblur_cli.io.concat as concat
import deblur_cli.pipeline.journal as journal
from deblur_cli.pipeline.video import deblur_video
from tests.test_pipeline import IdentityEngine

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

src, dst, point = sys.argv[1:4]
engine = IdentityEngine()
if point == "after-part-1":  # the moment the first part is in the journal
    save = journal.save
    journal.save = lambda folder, state: (save(folder, state), len(state.parts) == 1 and die())
elif point == "during-part-2":  # a few frames into the second segment, after its warm-up
    engine = IdentityEngine(on_call=lambda n: n == 24 + 8 + 5 and die())
elif point == "during-join":  # half-way through remuxing the parts into the output
    write = concat.JoinSink.write_packet
    concat.JoinSink.write_packet = lambda self, p: (write(self, p), self.frames_written == 40 and die())
deblur_video(src, dst, engine, segment={segment})
print("not killed")
"""


@pytest.fixture(scope="module")
def clip_and_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    src = long_clip(folder / "in.mp4")
    reference = folder / "reference.mp4"
    deblur_video(src, reference, IdentityEngine(), segment=SEGMENT)
    return src, reference


@pytest.mark.parametrize("point, kept", [("after-part-1", 1), ("during-part-2", 1), ("during-join", 3)])
def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path, clip_and_reference, point, kept):
    src, reference = clip_and_reference
    dst = tmp_path / "out.mp4"
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO), segment=SEGMENT), src, dst, point],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL, output
    assert not dst.exists() and (work_folder(dst) / JOURNAL_NAME).is_file()

    engine = IdentityEngine()
    result = deblur_video(src, dst, engine, segment=SEGMENT)
    assert result.warnings == [f"resumed an earlier run: {kept} of 3 segments kept"]
    assert result.frames == 75 and (engine.calls == 0) == (kept == 3)
    got, want = times(dst), times(reference)
    assert got[0] == want[0]  # timestamps
    assert all(np.array_equal(a, b) for a, b in zip(got[1], want[1]))  # pictures
    assert packet_bytes(dst) == packet_bytes(reference)  # audio
    assert not work_folder(dst).exists()
    # What the killed process could not remove (its temporary output, killed during the join) is gone too.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigterm_keeps_finished_segments_and_the_same_command_resumes(tmp_path, clip_and_reference, random_weights):
    """The command line, stopped by SIGTERM while it writes the second part: parts kept, one error line, 143."""
    import json
    import os
    import re
    import time

    from deblur_cli.pipeline.journal import Journal
    from tests.cliutil import TEMP_MARK, run_cli

    src, _ = clip_and_reference
    dst = tmp_path / "out.mp4"
    args = [src, "-o", dst, "--weights", random_weights, "--device", "cpu", "--segment", SEGMENT, "-q",
            "--json", tmp_path / "report.json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "deblur_cli", *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    folder, deadline = work_folder(dst), time.monotonic() + 120
    while not list(folder.glob(f".part-0001{TEMP_MARK}*")):  # the second part is being written
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    [line] = lines
    match = re.fullmatch(rf"error: interrupted by SIGTERM; ([12]) of 3 segments kept in {re.escape(str(folder))} "
                         r"\(run the same command again to resume\)", line)
    assert match, line
    journal = Journal.read(folder / JOURNAL_NAME)
    assert len(journal.parts) == int(match.group(1))
    assert sorted(p.name for p in folder.iterdir()) == [JOURNAL_NAME] + [f"part-000{i}.mp4" for i in journal.parts]
    [entry] = json.loads((tmp_path / "report.json").read_text())["files"]
    assert entry["status"] == "interrupted" and entry["frames"] == sum(r["frames"] for r in journal.parts.values())
    assert not dst.exists()

    result = run_cli(args)
    assert result.exit_code == 0, result.output
    assert f"resumed an earlier run: {len(journal.parts)} of 3 segments kept" in result.stderr
    assert len(times(dst)[0]) == 75 and not folder.exists()
