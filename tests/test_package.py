"""The package stays light on import, and its console script answers."""

import subprocess
import sys

import raven_align
from raven_align.cli import main


def test_import_does_not_pull_transformers_or_trl():
    code = (
        "import sys, raven_align, raven_align.core.losses, raven_align.core.measures, raven_align.core.synthetic;"
        "heavy = [m for m in ('transformers', 'trl', 'peft', 'accelerate', 'datasets') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_version_and_env(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert raven_align.__version__ in capsys.readouterr().out
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch:" in out and "trl:" in out and "cuda available:" in out
