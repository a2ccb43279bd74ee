"""The programs users run: ``dpo`` (preference alignment), ``reward`` (reward modelling), ``classify``
(weak-to-strong classification) and ``label`` (judgement columns). Each has ``make_parser()``, ``main(argv)`` and a
short ``run()``; only the CLI, the ``recipes/*/run.py`` scripts, ``bench/`` and the tests import them."""
