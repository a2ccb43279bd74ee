"""The weak-to-strong classification recipes' machinery: data partitioning into sources and ID/OOD scenarios,
weak supervisors, strong models, the run loop and the report. The scripts live in ``recipes/``."""

from .data import Source, load_any, materialize, partition
from .recipe import W2SArguments, run_recipe
from .report import summarize, write_report

__all__ = ["Source", "W2SArguments", "load_any", "materialize", "partition", "run_recipe", "summarize",
           "write_report"]
