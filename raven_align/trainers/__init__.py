"""TRL-style trainers. Importing this subpackage imports transformers and TRL."""

from ..core import EasyFirstSampler
from .classification import RavenClassificationConfig, RavenClassificationTrainer
from .dpo import RavenDPOTrainer
from .dpo_config import RavenDPOConfig
from .mixin import RAVEN_STATE_NAME, RAVEN_SUMMARY_NAME, RavenTrainerMixin
from .reward import RavenRewardConfig, RavenRewardTrainer

__all__ = [
    "RAVEN_STATE_NAME",
    "RAVEN_SUMMARY_NAME",
    "EasyFirstSampler",
    "RavenClassificationConfig",
    "RavenClassificationTrainer",
    "RavenDPOConfig",
    "RavenDPOTrainer",
    "RavenRewardConfig",
    "RavenRewardTrainer",
    "RavenTrainerMixin",
]
