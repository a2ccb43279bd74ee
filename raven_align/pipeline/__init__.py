"""What the programs share: the one data loader (``data``) and ``embedded:`` resolver (``names``), supervisor spec
strings (``specs``), the embedded weak reward models and gold model (``embedded_supervisors``, ``gold``), reward-model
fitting (``reward_models``), checks before any work (``checks``, ``outputs``), the reference-margin cache (``caches``)
and the classification program's building blocks (``classification/``)."""
