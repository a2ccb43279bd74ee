"""TRL-style trainers. Importing this subpackage imports transformers and TRL."""

from .common import RAVEN_STATE_NAME, RAVEN_SUMMARY_NAME, EasyFirstSampler, RavenTrainerMixin
from .dpo import RavenDPOTrainer
from .dpo_config import RavenDPOConfig
from .reward import RavenRewardConfig, RavenRewardTrainer

__all__ = [
    "RAVEN_STATE_NAME",
    "RAVEN_SUMMARY_NAME",
    "EasyFirstSampler",
    "RavenDPOConfig",
    "RavenDPOTrainer",
    "RavenRewardConfig",
    "RavenRewardTrainer",
    "RavenTrainerMixin",
]
