"""Weak-to-strong text classification with RAVEN and its baselines: train weak supervisors on source domains,
label the target with them, train the strong model with every method, over ID/OOD scenarios and seeds.

    python recipes/text_classification/w2s_text.py --config recipes/text_classification/<config>.yaml [--flag value ...]

Writes results.json, results.md and raven_weights.png (plus one weights plot per learned-weight run) to
--output_dir. Every field of W2SArguments and of RavenClassificationConfig can be set in the YAML or on the
command line (the command line wins).
"""

from raven_align.w2s.recipe import cli

if __name__ == "__main__":
    cli("text")
