"""Evaluation of every program: held-out preference margins of a policy (``preference``), generations scored by a
gold reward model (``generation``), the results files of each program (``preference_report``, ``reward_report``,
``classification_report``) and the shared tables and weight plots (``reporting``). The measures themselves
(accuracy, intervals, PGR) are plain torch/numpy and live in :mod:`raven_align.core.measures`."""
