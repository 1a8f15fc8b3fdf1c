"""Synthetic motion-blurred video from sharp photos: camera paths, image formation, datasets."""

from .dataset import (
    SYNTH_MAX_SIDE,
    SequenceGenerator,
    list_images,
    load_images,
    split_images,
    write_sequences,
)
from .profiles import PROFILES, BlurProfile, get_profile
from .render import SyntheticSequence

__all__ = [
    "PROFILES",
    "SYNTH_MAX_SIDE",
    "BlurProfile",
    "SequenceGenerator",
    "SyntheticSequence",
    "get_profile",
    "list_images",
    "load_images",
    "split_images",
    "write_sequences",
]
