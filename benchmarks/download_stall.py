"""How long does ``weights fetch`` wait on a server that sends its headers and then nothing?

Starts the loopback Drive imitation of the tests (``tests/driveserver.py``, route ``hang``) and times
``stfan-deblur weights fetch authors`` end to end, once per setting, in a scratch cache:

    python benchmarks/download_stall.py                       # the default limit, then --stall-timeout 5
    python benchmarks/download_stall.py --code /work/main     # another checkout's code (e.g. before a change)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.driveserver import DriveImitation  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose deblur_cli runs")
    parser.add_argument("--settings", default=",5", help="--stall-timeout values, comma-separated ('' = default)")
    args = parser.parse_args(argv)
    with DriveImitation(b"\0" * 100_000) as drive, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "STFAN_DEBLUR_AUTHORS_URL": drive.url("hang"), "STFAN_DEBLUR_CACHE": cache,
               "PYTHONPATH": str(args.code)}
        for value in args.settings.split(","):
            extra = ["--stall-timeout", value] if value else []
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "deblur_cli", "weights", "fetch", "authors", "-q", *extra],
                                  env=env, cwd=args.code, capture_output=True, text=True)
            error = (done.stderr.strip().splitlines() or [""])[-1]
            print(f"{' '.join(extra) or 'default'}: exit {done.returncode} after "
                  f"{time.monotonic() - started:.1f} s: {error[:150]}", flush=True)


if __name__ == "__main__":
    main()
