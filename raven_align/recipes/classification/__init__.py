"""Building blocks of the classification program (``raven_align.recipes.classify``): partitioning data into
weak-training sets and ID/OOD scenarios, image corruptions, frozen features, weak and strong models, the report."""
