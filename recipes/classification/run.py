"""Weak-to-strong classification with RAVEN and its baselines, text or images (the program is
``raven_align.programs.classify``): train weak supervisors on source domains, label the target with them, train
the strong model with every method, over ID/OOD scenarios and seeds.

    python recipes/classification/run.py --config recipes/classification/reviews.yaml [--flag value ...]
    raven-align classify --config recipes/classification/digits.yaml

Writes results.json, results.md and raven_weights.png (plus one weights plot per learned-weight run) to
--output_dir. Every field of W2SArguments and of RavenClassificationConfig can be set in the YAML or on the
command line (the command line wins).
"""

from raven_align.programs.classify import main
from raven_align.utils.processes import close_process_group

if __name__ == "__main__":
    main()
    close_process_group()  # before interpreter teardown (see its docstring)
