"""``--strength auto|0..1``: write a blend of each input frame and its restoration, not the restoration alone.

A number blends uniformly: 0 writes the input frames unchanged (the network is
not even run), 1 writes the restoration exactly as before. ``auto`` blends per
region with the weight map of :mod:`.weightmap`: a region the restoration
clearly deblurs takes the restoration, a sharp region keeps the input, so
sharp footage is not softened or roughened by a network that cannot improve it.

:class:`StrengthEngine` wraps any engine that has ``step`` (the recurrent and
the tiled engines): the inner engine runs exactly as before and keeps its own
recurrent state, fed with the network's own output (what it was trained on);
only what is written is blended. Tiled engines are blended on the whole merged
frame, so the map knows nothing of tiles. The map is smoothed over time and
forgotten at :meth:`~StrengthEngine.reset` (a new clip or a scene cut).

What was applied is kept for reporting: :attr:`StrengthEngine.mean_strength`
(the mean weight over the frames of the last :meth:`~StrengthEngine.restore`
call), :meth:`StrengthEngine.weight_map` (the map of the frame ``restore``
yielded last, for ``--compare map``) and :class:`RestoredTally`, with which a
run counts the frames whose restoration it writes (warm-up frames and frames
passed by ``--skip-sharp`` left out, over every ``restore`` call of the file).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterable, Iterator, Union

import numpy as np
import torch

from ..errors import OptionError
from .streaming import StepEngine, restore_array, stream_arrays
from .weightmap import MAP_SETTINGS, STANDARD, MapSettings, TemporalSmoother, upsample, weight_grid

AUTO = "auto"
Strength = Union[float, str]  # a number in [0, 1] or "auto"


def parse_strength(value: Any) -> Strength:
    """``"auto"`` or a float in [0, 1] from a number or its text; OptionError for anything else."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        try:
            number = float(text)
        except ValueError:
            number = math.nan
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if not 0.0 <= number <= 1.0:  # NaN fails too
        raise OptionError(f"--strength must be auto or a number from 0 to 1, got {value!r}")
    return number


def map_settings_for(weights: Any) -> MapSettings:
    """How far ``auto`` trusts these weights (a WeightsMeta or None): their registry entry's ``strength_map``.

    Weights that are not a registry entry (a file of one's own) get the standard setting.
    """
    from ..models.registry import entry_for_sha

    entry = entry_for_sha(getattr(weights, "sha256", "") or "")
    return MAP_SETTINGS[entry.strength_map] if entry is not None else STANDARD


class StrengthEngine:
    """An engine that writes ``input + weight * (restoration - input)`` (see the module's description).

    ``inner``: the engine doing the restoring (it needs ``device``, ``step`` and
    ``reset``); its other attributes (``weights``, ``model``, ``dtype``...) are
    reachable through this one. ``strength``: ``"auto"`` or a number in [0, 1].
    ``settings``: how far ``auto`` trusts the network (see :mod:`.weightmap`);
    by default what the inner engine's weights call for (:func:`map_settings_for`).
    """

    def __init__(self, inner: StepEngine, strength: Strength = AUTO, settings: MapSettings | None = None) -> None:
        self.inner = inner
        self.strength = parse_strength(strength)
        self.settings = settings or map_settings_for(getattr(inner, "weights", None))
        self.smoother = TemporalSmoother()
        self._maps: deque = deque()  # (grid or weight, height, width, mean) of the frames stepped, not yielded
        self._shown: tuple | None = None  # the same for the frame yielded last
        self._total = torch.zeros((), dtype=torch.float32, device=inner.device)
        self._frames = 0

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: do not recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    def reset(self) -> None:
        """A new clip or shot: the inner engine's recurrence and the map's memory start again."""
        self.inner.reset()
        self.smoother.reset()

    @torch.inference_mode()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """One frame, (3, H, W) or (1, 3, H, W) RGB in [0, 1] -> the blended frame, float32 on the device."""
        batched = frame.dim() == 4
        height, width = frame.shape[-2:]
        if self.strength == 0.0:
            out, weight = frame.to(self.device, torch.float32), 0.0
        elif self.strength == 1.0:
            out, weight = self.inner.step(frame), 1.0
        else:
            restored = self.inner.step(frame)
            x = frame.to(restored.device, torch.float32)
            y = restored.float()
            if isinstance(self.strength, float):
                weight = self.strength
                out = torch.lerp(x, y, weight)
            else:
                x4, y4 = (x, y) if batched else (x[None], y[None])
                weight = self.smoother(weight_grid(x4, y4, self.settings))
                w = upsample(weight, height, width)
                out = torch.lerp(x4, y4, w)
                out = out if batched else out[0]
        self._record(weight, height, width)
        return out

    def _record(self, weight: torch.Tensor | float, height: int, width: int) -> None:
        mean = weight.mean() if isinstance(weight, torch.Tensor) else weight
        self._total += mean
        self._frames += 1
        self._maps.append((weight, height, width, mean))
        while len(self._maps) > 2:  # frames stepped without restore(): only the latest matters
            self._maps.popleft()

    def process_array(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8/uint16 RGB frame, waiting for the result."""
        out = restore_array(self, frame)
        self._shown = self._maps.pop()
        self._maps.clear()
        return out

    def restore(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Blended frames for a stream of (H, W, 3) uint8/uint16 RGB frames; one call is one file for the figures."""
        self._total.zero_()
        self._frames = 0
        self._maps.clear()
        for out in stream_arrays(self, frames):
            self._shown = self._maps.popleft()  # frames come back in the order they were stepped
            yield out

    @property
    def mean_strength(self) -> float | None:
        """The mean weight applied over the frames of the last ``restore`` call (None before any frame)."""
        return float(self._total) / self._frames if self._frames else None

    def shown_strength(self) -> torch.Tensor | float | None:
        """The mean weight of the frame returned last (a device scalar under ``auto``: read it when needed)."""
        return None if self._shown is None else self._shown[3]

    def weight_map(self) -> np.ndarray | None:
        """The weights of the frame returned last, (H, W) float32 in [0, 1]; None before any frame."""
        if self._shown is None:
            return None
        weight, height, width, _ = self._shown
        if not isinstance(weight, torch.Tensor):
            return np.full((height, width), weight, dtype=np.float32)
        return upsample(weight[:1], height, width)[0, 0].float().cpu().numpy()


class RestoredTally:
    """The frames of a run whose restoration is written, and the mean strength over them.

    The run calls :meth:`count` for each such frame as ``engine`` returns it:
    not for warm-up frames (a segment's, or those before a ``--skip-sharp``
    stretch) nor frames that pass the network by, and over every ``restore``
    call of the file. The weights stay on the device until :attr:`strength` is read.
    """

    def __init__(self, engine: object) -> None:
        self.engine = engine if isinstance(engine, StrengthEngine) else None
        self.frames = 0
        self._total: torch.Tensor | float = 0.0

    def count(self) -> None:
        """The frame ``engine`` returned last is written."""
        self.frames += 1
        if self.engine is not None:
            self._total = self._total + self.engine.shown_strength()

    @property
    def strength(self) -> float | None:
        """The mean strength written (None: no frame, or an engine that writes the network's output as it is)."""
        return float(self._total) / self.frames if self.engine is not None and self.frames else None
