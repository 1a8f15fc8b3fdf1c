"""Training STFAN on synthetic clips: losses, the resumable trainer, the weights card and the shipping rule."""

from .config import TrainConfig, TrainResult, fine_tune_lr
from .losses import DeblurLoss, LossWeights
from .setup import start_as_identity
from .trainer import Trainer, train

__all__ = ["DeblurLoss", "LossWeights", "TrainConfig", "TrainResult", "Trainer", "fine_tune_lr", "start_as_identity",
           "train"]
