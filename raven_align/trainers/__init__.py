"""TRL-style trainers. Importing this subpackage imports transformers and TRL."""

from .classification import RavenClassificationConfig, RavenClassificationTrainer
from .common import RAVEN_STATE_NAME, RAVEN_SUMMARY_NAME, EasyFirstSampler, RavenTrainerMixin
from .dpo import RavenDPOTrainer
from .dpo_config import RavenDPOConfig
from .reward import RavenRewardConfig, RavenRewardTrainer

__all__ = [
    "RavenClassificationConfig",
    "RavenClassificationTrainer",
    "RAVEN_STATE_NAME",
    "RAVEN_SUMMARY_NAME",
    "EasyFirstSampler",
    "RavenDPOConfig",
    "RavenDPOTrainer",
    "RavenRewardConfig",
    "RavenRewardTrainer",
    "RavenTrainerMixin",
]
