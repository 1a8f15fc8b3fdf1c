"""Seconds per stage of a run, gathered where the work happens (``--json``'s ``stages``, ``--stats``).

A run's three threads (read, restore, write; :mod:`deblur_cli.pipeline.stages`)
each add the seconds of their own stages to one :class:`StageTimes`, so every
key has one writer. The restore thread makes it the *active* one for its own
thread (:func:`collecting`) while the engine runs, so that
:func:`~.streaming.stream_arrays`, which has no other channel to the
pipeline, can add the upload / model / download split of its frames: host
time on the CPU, the device's own time on CUDA (events recorded in the stream
and read when the frame's result is collected: no extra synchronisation).

Stages, by thread (``STAGES`` is their order in the table):

- read: ``decode`` (demux and decode), ``colour_in`` (swscale to RGB, or taking
  the planes on the device colour path), ``scene_cuts``, ``wait_read_out``
  (blocked: the restore thread is behind);
- restore: ``wait_restore_in`` (no decoded frame yet), ``upload`` (to the
  device, and to RGB float there), ``model``, ``download`` (to integers or the
  encoder's planes, and back to the host), ``compose`` (``--compare``),
  ``wait_restore_out`` (blocked: the write thread is behind);
- write: ``wait_write_in`` (no restored frame yet), ``colour_out`` (RGB to the
  encoder's YUV, or copying the planes into its frame), ``encode`` (encode,
  mux, PNG frames, and the encoder's flush at the end).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

READ = ("decode", "colour_in", "scene_cuts", "wait_read_out")
RESTORE = ("wait_restore_in", "upload", "model", "download", "compose", "wait_restore_out")
WRITE = ("wait_write_in", "colour_out", "encode")
STAGES = READ + RESTORE + WRITE
THREADS = {"read": READ, "restore": RESTORE, "write": WRITE}
WAITS = frozenset(s for s in STAGES if s.startswith("wait_"))


class StageTimes:
    """Seconds per stage (:data:`STAGES`); ``add`` from the thread that owns the stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def merge(self, seconds: dict[str, float]) -> None:
        for stage, value in seconds.items():
            if stage in self.seconds:
                self.seconds[stage] += value

    def as_dict(self) -> dict[str, float]:
        return dict(self.seconds)


_active = threading.local()


@contextmanager
def collecting(times: StageTimes | None) -> Iterator[None]:
    """Make ``times`` the calling thread's active stage clock for the block (see the module doc)."""
    previous = getattr(_active, "times", None)
    _active.times = times
    try:
        yield
    finally:
        _active.times = previous


def active() -> StageTimes | None:
    """The calling thread's active stage clock, if a run is collecting one."""
    return getattr(_active, "times", None)


def busiest(seconds: dict[str, float]) -> str | None:
    """The stage (not a wait) with the most seconds: in a run whose threads overlap, the one that limits it."""
    working = {k: v for k, v in seconds.items() if k not in WAITS and k in STAGES and v > 0}
    return max(working, key=working.__getitem__) if working else None
