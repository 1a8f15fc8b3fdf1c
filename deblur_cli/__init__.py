"""stfan-deblur: remove motion blur from videos with STFAN.

The data flow is decode -> recurrent engine -> encode:

    from deblur_cli import build_engine, deblur_video
    engine = build_engine("weights.safetensors", device="cuda", fp16=True, strength="auto")
    deblur_video("in.mp4", "out.mp4", engine)

(``strength="auto"`` is what ``run`` does: restored where the network clearly
deblurs, the input kept where it is sharp; leave it out for the network's own
output, or give a number from 0 to 1 for a uniform blend.)

``deblur_path`` does what the ``run`` command does (a video, an image
sequence or a folder of videos, with the JSON report) in one call:

    from deblur_cli import deblur_path
    deblur_path("clips/", "restored/", weights="weights.safetensors", compare="side", json_path="report.json")

``RecurrentEngine.restore`` / ``process_array`` deblur a stream of frames you
supply yourself.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it. Imported lazily: `stfan-deblur --help`
# should not pay for importing torch and PyAV.
_API = {
    "build_engine": "inference.build",
    "RecurrentEngine": "inference.engine",
    "StrengthEngine": "inference.strength",
    "Engine": "inference.engine",
    "deblur_video": "pipeline.video",
    "deblur_path": "pipeline.runner",
    "VideoOptions": "pipeline.options",
    "EngineOptions": "pipeline.options",
    "load_weights": "models.choice",
    "STFAN": "models.stfan",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'deblur_cli' has no attribute {name!r}")
    return getattr(import_module(f".{_API[name]}", __name__), name)
