"""The recipe programs and what only they need.

Programs (each with ``make_parser()`` and ``main(argv)``, run by ``raven-align <name>`` or ``recipes/*``):
``dpo`` (preference alignment), ``reward`` (reward modelling), ``classify`` (text/image classification) and
``label`` (``raven-align label``). Shared: ``data`` (the one data loader), ``embedded`` (the one ``embedded:``
resolver), ``specs`` (supervisor spec strings), ``embedded_supervisors`` (training the embedded weak reward
models through the reward program, cached), ``outputs`` (output-dir and Hub checks), ``preference_report``,
and ``classification/`` (the classification program's building blocks).
"""
