"""Randomly damaged copies of valid clips through the real command line, each in its own process.

Whatever the damage (bits flipped, bytes overwritten or zeroed, the file cut short), the process must
end within its timeout without a traceback: exit 0 with a complete, decodable output whose frame
count the report states, or a non-zero exit with one ``error:`` line and no output left behind.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.clipgen import decode_video, make_clip
from tests.cliutil import error_lines, read_report, temp_files

CASES = 20
TIMEOUT_S = 120  # a hang shows as a timeout; a normal run takes a few seconds
PARALLEL = 2
CLI = "from deblur_cli.cli import main; main()"


def damage(data: bytes, rng: random.Random) -> bytes:
    """One seeded kind of damage: flips, an overwritten or zeroed run, or a cut."""
    data = bytearray(data)
    kind = rng.choice(["flip", "overwrite", "zero", "truncate"])
    if kind == "flip":
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind in ("overwrite", "zero"):
        start = rng.randrange(len(data))
        stop = min(len(data), start + rng.randint(1, 400))
        data[start:stop] = bytes(stop - start) if kind == "zero" else rng.randbytes(stop - start)
    else:
        del data[rng.randrange(1, len(data)):]
    return bytes(data)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("fuzz_originals")
    return [make_clip(folder / f"clip{suffix}", frames=6, audio=["aac"]).read_bytes() for suffix in (".mkv", ".mp4")]


def run_case(index: int, originals: list[bytes], folder: Path, weights: Path) -> tuple[int, str, Path, Path]:
    suffix = (".mkv", ".mp4")[index % 2]
    case = folder / f"case{index:02d}"
    (case / "out").mkdir(parents=True)
    src = case / f"damaged{suffix}"
    src.write_bytes(damage(originals[index % 2], random.Random(index)))
    dst = case / "out" / f"restored{suffix}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    try:
        proc = subprocess.run([sys.executable, "-c", CLI, src, "-o", dst, "--weights", weights, "--device", "cpu",
                               "-q", "--json", case / "report.json"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"case {index} hung (more than {TIMEOUT_S} s)")
    return proc.returncode, proc.stderr, dst, case


@pytest.mark.slow
def test_damaged_files_end_cleanly(originals, tmp_path, random_weights):
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda i: run_case(i, originals, tmp_path, random_weights), range(CASES)))
    fates = []
    for index, (code, stderr, dst, case) in enumerate(results):
        assert "Traceback" not in stderr, f"case {index}:\n{stderr}"
        assert temp_files(case) == [], f"case {index}"
        if code == 0:
            frames = read_report(case / "report.json")["files"][0]["frames"]
            pts, _, _, first = decode_video(dst)
            assert len(pts) == frames >= 1 and (first.width, first.height) == (64, 48), f"case {index}"
            fates.append("done")
        else:
            lines = error_lines(stderr)
            assert len(lines) == 1 and lines[0].startswith("error: "), f"case {index}:\n{stderr}"
            assert not dst.exists() and list(dst.parent.iterdir()) == [], f"case {index}"
            fates.append("failed")
    assert "done" in fates and "failed" in fates  # the damage is neither all harmless nor all fatal
