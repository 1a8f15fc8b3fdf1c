"""Training STFAN on synthetic clips: losses and the resumable trainer."""

from .losses import DeblurLoss, LossWeights
from .trainer import TrainConfig, Trainer, TrainResult, start_as_identity, train

__all__ = ["DeblurLoss", "LossWeights", "TrainConfig", "TrainResult", "Trainer", "start_as_identity", "train"]
