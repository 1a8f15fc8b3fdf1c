"""What ``scan`` does: decode each file's luma, measure and judge every frame (:mod:`deblur_cli.analysis`).

No network runs here. A video's frames are read as the decoder's Y plane (no
colour conversion); an image folder's frames as RGB, then luma. The result
per file (:class:`FileScan`) holds each frame's time and score, the blurred
stretches, the share of time blurred and a score per second; ``--json``
writes :meth:`FileScan.as_dict`. Files of a folder that cannot be read are
recorded with their error and the rest go on, as ``run`` does.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..analysis import DEFAULT_THRESHOLD, BlurDetector, FrameScore, Stretch
from ..analysis.luma import levels, rgb_luma
from ..analysis.sharpness import measure
from ..analysis.stretches import blurred_fraction, counted, per_second, stretches
from ..errors import DeblurError, first_line
from ..io.colour import frame_luma
from ..io.sequence import DEFAULT_FPS, FrameSequence
from ..io.source import VideoSource
from .inputs import FOLDER, plan_jobs
from .scenecut import luma_thumbnail, structure_differs

TOP_STRETCHES = 3  # the worst stretches a table shows
LUMA_CUT = 0.3  # structure distance (0-1) of consecutive frames' luma above which a new shot starts
CUT_SAMPLES = 3  # samples a cell and axis of the cut thumbnail (a quarter of the scene-cut detector's)
AHEAD = 4  # frames measured on a second thread while the decoder goes on (numpy and FFmpeg let go of the GIL)


@dataclass
class FileScan:
    """One file's judgement, frame by frame and as a person reads it."""

    path: Path
    width: int = 0
    height: int = 0
    rate: float = 0.0
    times: list[float] = field(default_factory=list)  # each frame's start, seconds from the first frame
    scores: list[FrameScore] = field(default_factory=list)
    error: str = ""
    threshold: float = DEFAULT_THRESHOLD
    origin: float = 0.0  # the first frame's own timestamp (``times`` count from it)

    @property
    def step(self) -> float:
        return 1.0 / self.rate if self.rate else 1.0 / 30.0

    @property
    def duration(self) -> float:
        return (self.times[-1] - self.times[0] + self.step) if self.times else 0.0

    @property
    def flagged(self) -> list[bool]:
        """Each frame as the detector judged it on its own."""
        return [s.blurred for s in self.scores]

    @property
    def blurred(self) -> list[bool]:
        """Each frame as the file is judged: a flag outside a counted stretch reads as sharp (analysis.stretches)."""
        return counted(self.times, self.flagged, self.step)

    @property
    def stretches(self) -> list[Stretch]:
        return stretches(self.times, self.blurred, [s.score for s in self.scores], [s.kind for s in self.scores],
                         self.step)

    @property
    def blurred_fraction(self) -> float:
        return blurred_fraction(self.times, self.blurred, self.step)

    @property
    def kind(self) -> str:
        """``global``, ``local``, ``mixed`` or ``""`` (no blur found): the kind of blur over the file."""
        kinds = {s.kind for s in self.stretches}
        return "" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"

    def worst(self, count: int = TOP_STRETCHES) -> list[Stretch]:
        """The ``count`` stretches with the most blur (score times length), in time order."""
        ranked = sorted(self.stretches, key=lambda s: s.score * (s.end - s.start), reverse=True)[:count]
        return sorted(ranked, key=lambda s: s.start)

    def as_dict(self, root: Path | None = None) -> dict:
        shown = str(self.path.relative_to(root)) if root is not None else str(self.path)
        if self.error:
            return {"path": shown, "error": self.error}
        return {"path": shown, "duration": round(self.duration, 3), "frames": len(self.times),
                "width": self.width, "height": self.height, "blurred_fraction": round(self.blurred_fraction, 4),
                "kind": self.kind, "stretches": [s.as_dict() for s in self.stretches],
                "per_second": per_second(self.times, [s.score for s in self.scores]), "threshold": self.threshold}


def _lumas(path: Path, fps: float | str) -> tuple[Iterator[tuple[np.ndarray, float]], object]:
    """(luma plane in 8-bit levels or as codes with a bit depth, time) per frame, and the open source."""
    if path.is_dir():
        source = FrameSequence(path, fps)
        return ((rgb_luma(rgb), float(pts * tb)) for rgb, pts, tb in source.arrays()), source
    source = VideoSource(path)

    def frames():
        for frame in source.frames():
            plane, bits = frame_luma(frame)  # a view of the frame's memory (it keeps the frame alive)
            yield (plane if bits == 8 else levels(plane, bits)), (frame.time or 0.0)
    return frames(), source


class _Measure:
    """A frame's measure, and whether it starts a new shot (the scene-cut detector's structure comparison
    on luma thumbnails: ``scan`` reads no colour), so that it is judged among its own shot's frames. Called
    in frame order (by the one measuring thread)."""

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None

    def __call__(self, plane: np.ndarray):
        thumbnail = luma_thumbnail(plane, samples=CUT_SAMPLES)
        cut = self.previous is not None and structure_differs(self.previous, thumbnail, LUMA_CUT)
        self.previous = thumbnail
        return measure(plane), cut


def scan_file(path: Path, threshold: float = DEFAULT_THRESHOLD, fps: float | str = DEFAULT_FPS,
              on_frame: Callable[[int], None] | None = None) -> FileScan:
    """Measure and judge every frame of a video file or an image folder; DeblurError for an unreadable one."""
    path = Path(path)
    frames, source = _lumas(path, fps)
    with source, ThreadPoolExecutor(1, thread_name_prefix="scan-measure") as measuring:
        facts = source.facts
        rate = float(facts.average_rate) if facts.average_rate else 30.0
        detector = BlurDetector(rate, threshold)
        times: list[float] = []
        pending: deque = deque()  # measures under way on the other thread while the next frames decode
        measured = _Measure()
        for n, (plane, time) in enumerate(frames, 1):
            pending.append(measuring.submit(measured, plane))
            while len(pending) > AHEAD:
                detector.add(*pending.popleft().result())
            times.append(time)
            if on_frame is not None:
                on_frame(n)
        while pending:
            detector.add(*pending.popleft().result())
    origin = times[0] if times else 0.0
    return FileScan(path, facts.width, facts.height, rate, [t - origin for t in times], detector.scores(),
                    threshold=threshold, origin=origin)


def scan_inputs(input_path: Path) -> tuple[str, list[Path]]:
    """The kind of INPUT and the files (or frame folder) it names, as ``run`` finds them."""
    kind, jobs = plan_jobs(input_path, input_path.with_name(input_path.name + ".scan"))
    return kind, [job.input for job in jobs]


def scan_files(paths: list[Path], threshold: float = DEFAULT_THRESHOLD, fps: float | str = DEFAULT_FPS, *,
               kind: str = FOLDER, on_file: Callable[[Path], Callable[[int], None] | None] | None = None
               ) -> list[FileScan]:
    """Scan each path; in a folder a file that fails is recorded with its error, a lone input raises it."""
    out = []
    for path in paths:
        try:
            out.append(scan_file(path, threshold, fps, on_frame=on_file(path) if on_file else None))
        except DeblurError as exc:
            if kind != FOLDER:
                raise
            out.append(FileScan(path, error=first_line(exc)))
    return out
