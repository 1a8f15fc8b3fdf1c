"""stfan-deblur: remove motion blur from videos with STFAN.

The data flow is decode -> recurrent engine -> encode:

    from deblur_cli import build_engine, deblur_video
    engine = build_engine("weights.safetensors", device="cuda", fp16=True)
    deblur_video("in.mp4", "out.mp4", engine)

``deblur_path`` does what the ``run`` command does (a video, an image
sequence or a folder of videos, with the JSON report) in one call:

    from deblur_cli import deblur_path
    deblur_path("clips/", "restored/", weights="weights.safetensors", compare="side", json_path="report.json")

``RecurrentEngine.step`` / ``process_array`` deblur a stream of frames you
supply yourself.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "build_engine", "deblur_path", "deblur_video", "load_weights", "RecurrentEngine", "STFAN"]


def __getattr__(name: str):
    # Lazy: `stfan-deblur --help` should not pay for importing torch and PyAV.
    if name in ("build_engine", "load_weights"):
        from . import weights

        return getattr(weights, name)
    if name == "deblur_video":
        from .pipeline import deblur_video

        return deblur_video
    if name == "deblur_path":
        from .runner import deblur_path

        return deblur_path
    if name == "RecurrentEngine":
        from .engine import RecurrentEngine

        return RecurrentEngine
    if name == "STFAN":
        from .models import STFAN

        return STFAN
    raise AttributeError(f"module 'deblur_cli' has no attribute {name!r}")
