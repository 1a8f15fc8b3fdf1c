"""``--start`` / ``--duration``: which part of a video to process.

Times are seconds (``90``, ``12.5``) or clock times (``1:30``, ``00:01:30.250``).
They count from the video's first frame, whatever timestamp the file gives that
frame (MPEG-TS files often start at 1.4 s), so ``--start 10`` always means ten
seconds into the picture.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import OptionError

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")
EPSILON = 1e-6  # seconds: a frame this close to a boundary counts as on it (float rounding of user times)


def parse_time(text: str | float | int) -> float:
    """Seconds from ``"12.5"``, ``"MM:SS[.ms]"`` or ``"HH:MM:SS[.ms]"`` (or a number); OptionError if neither."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = str(text).strip()
        match = _CLOCK.match(raw)
        if match:
            hours, minutes, seconds = match.groups()
            if int(minutes) >= 60 or float(seconds) >= 60:
                raise OptionError(f"invalid time {raw!r}: minutes and seconds must be below 60")
            value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        else:
            try:
                value = float(raw)
            except ValueError:
                raise OptionError(f"invalid time {raw!r}: use seconds (12.5) or HH:MM:SS[.ms] (00:01:12.5)") from None
    if not math.isfinite(value) or value < 0:
        raise OptionError(f"invalid time {text!r}: must be a finite number of seconds, not negative")
    return value


@dataclass(frozen=True)
class Span:
    """``start`` seconds after the first frame, for ``duration`` seconds (None: to the end)."""

    start: float = 0.0
    duration: float | None = None

    @classmethod
    def of(cls, start: str | float | None = None, duration: str | float | None = None) -> "Span":
        span = cls(0.0 if start is None else parse_time(start), None if duration is None else parse_time(duration))
        if span.duration is not None and span.duration <= 0:
            raise OptionError("--duration must be more than 0 seconds")
        return span

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.duration is None

    def end_after(self, origin: float) -> float | None:
        """The span's end as a timestamp, for a video whose first frame is at ``origin`` seconds."""
        return None if self.duration is None else origin + self.start + self.duration
