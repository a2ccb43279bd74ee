"""Weak supervisors behind one interface (see ``Supervisor``)."""

from .base import Supervisor, Task, best_device, best_dtype
from .callables import CallableSupervisor, ColumnSupervisor
from .classifier import ClassifierSupervisor
from .implicit import ImplicitRewardSupervisor
from .reward_model import RewardModelSupervisor

__all__ = [
    "CallableSupervisor",
    "ClassifierSupervisor",
    "ColumnSupervisor",
    "ImplicitRewardSupervisor",
    "RewardModelSupervisor",
    "Supervisor",
    "Task",
    "best_device",
    "best_dtype",
]
