"""Weak-to-strong image classification with RAVEN and its baselines: train weak supervisors on source domains,
label the target with them, train the strong model with every method, over ID/OOD scenarios and seeds.

    python recipes/image_classification/w2s_image.py --config recipes/image_classification/<config>.yaml [--flag value ...]

Writes results.json, results.md and raven_weights.png (plus one weights plot per learned-weight run) to
--output_dir. Every field of W2SArguments and of RavenClassificationConfig can be set in the YAML or on the
command line (the command line wins).
"""

import logging

from transformers.utils import logging as hf_logging
from trl import TrlParser

from raven_align.trainers import RavenClassificationConfig
from raven_align.w2s import W2SArguments, run_recipe, write_report


def main() -> None:
    parser = TrlParser((W2SArguments, RavenClassificationConfig))
    recipe, training = parser.parse_args_and_config()
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    hf_logging.set_verbosity_error()
    results = run_recipe(recipe, training)
    print(write_report(results, training.output_dir, title=f"Weak-to-strong image classification: {recipe.dataset}"))


if __name__ == "__main__":
    main()
