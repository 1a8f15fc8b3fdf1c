"""Video input and output with PyAV: probe and decode, encode and mux, stream copy."""

from .colour import ColourInfo
from .passthrough import CopyPlan, Passthrough, plan_copy
from .sink import EncoderPlan, VideoSink, muxer_for, plan_encoder
from .source import OtherStream, VideoFacts, VideoSource, choose_video_stream

__all__ = [
    "ColourInfo", "CopyPlan", "EncoderPlan", "OtherStream", "Passthrough", "VideoFacts", "VideoSink",
    "VideoSource", "choose_video_stream", "muxer_for", "plan_copy", "plan_encoder",
]
