"""Building blocks of the classification program (``raven_align.programs.classify``): partitioning data into
weak-training sets and ID/OOD scenarios, image corruptions, frozen features, weak and strong models."""
