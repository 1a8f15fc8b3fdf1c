"""Everything between the user's ``--weights`` / ``--device`` / ``--fp16`` / ``--tile`` and a ready engine."""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..models import STFAN
from ..models.choice import load_weights
from ..models.weights import LoadedWeights, load_into
from ..ops import FAC_IMPLS
from .accelerate import accelerate
from .devices import resolve_device, resolve_dtype
from .engine import MULTIPLE, RecurrentEngine
from .strength import Strength, StrengthEngine, parse_strength
from .tiling import AutoTiledEngine, TiledEngine, tile_overlap


def check_engine_options(fac: str = "auto", tile: int | None = None, strength: Strength | None = None) -> None:
    """Refuse an unknown FAC implementation, an unusable tile size or strength before anything is loaded."""
    if strength is not None:
        parse_strength(strength)
    if fac not in FAC_IMPLS:
        raise OptionError(f"unknown FAC implementation {fac!r}: use one of {', '.join(FAC_IMPLS)}")
    if tile and (tile < 16 or tile % MULTIPLE):
        raise OptionError(f"--tile must be a multiple of {MULTIPLE} and at least 16 pixels, got {tile}")


def build_engine(weights: str | Path | LoadedWeights | None = None, device: str = "auto", fp16: bool = False,
                 fac: str = "auto", tile: int | None = None,
                 strength: Strength | None = None) -> RecurrentEngine | StrengthEngine:
    """A ready engine for ``weights`` (a path, already loaded weights, or None for the default).

    ``fac`` ("auto" | "reference" | "triton" | "cpu") and the device's other speed
    settings are applied with :func:`~deblur_cli.inference.accelerate.accelerate`
    (on CUDA: Triton FAC, channels_last, cudnn.benchmark; on the CPU: the
    tap-by-tap FAC, oneDNN fused convolutions, channels_last). ``tile``: restore frames in tiles of this many pixels
    (:class:`~deblur_cli.inference.tiling.TiledEngine`, a multiple of 4, at
    least 16); None or 0 means automatic: on CUDA frames are tiled only when
    they would not fit in free GPU memory, on the CPU never. ``strength``:
    None returns the network's own output (what ``eval`` measures); ``"auto"``
    or a number in [0, 1] wraps the engine in a
    :class:`~deblur_cli.inference.strength.StrengthEngine` that blends it with
    the input (``run`` uses ``"auto"``).
    """
    check_engine_options(fac, tile, strength)
    torch_device = resolve_device(device)
    dtype = resolve_dtype(torch_device, fp16)
    loaded = weights if isinstance(weights, LoadedWeights) else load_weights(weights)
    model = STFAN()
    load_into(model, loaded)
    settings = dict(channel_order=loaded.meta.channel_order, device=torch_device, dtype=dtype)
    if tile:
        engine: RecurrentEngine = TiledEngine(model, tile=tile, overlap=tile_overlap(tile), **settings)
    elif torch_device.type == "cuda":
        engine = AutoTiledEngine(model, **settings)
    else:
        engine = RecurrentEngine(model, **settings)
    accelerate(engine, fac)
    engine.weights = loaded.meta
    engine.identity = engine_identity(loaded, fp16, fac, tile, strength)
    return engine if strength is None else StrengthEngine(engine, strength)


def engine_identity(weights: LoadedWeights, fp16: bool = False, fac: str = "auto",
                    tile: int | None = None, strength: Strength | None = None) -> dict:
    """What of an engine shapes its output, whatever the device: a resumed run must match it (pipeline.journal)."""
    identity = {"weights_sha256": weights.meta.sha256, "fp16": bool(fp16), "fac": fac, "tile": tile or None}
    return identity if strength is None else {**identity, "strength": parse_strength(strength)}
