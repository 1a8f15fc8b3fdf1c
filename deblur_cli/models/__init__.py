"""Network architectures, one file each."""

from .stfan import STFAN, STFANState

__all__ = ["STFAN", "STFANState"]
