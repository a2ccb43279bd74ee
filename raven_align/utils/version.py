"""The package version (one place; ``raven_align.__version__`` and the provenance records read it)."""

__version__ = "0.1.0"
