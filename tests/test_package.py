"""The package stays light on import, and its console script answers."""

import subprocess
import sys

import pytest

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
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert raven_align.__version__ in capsys.readouterr().out
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch:" in out and "trl:" in out and "cuda available:" in out


@pytest.mark.parametrize(
    "program, option",
    [("dpo", "--raven_loss_type"), ("reward", "--eval_domains"), ("classify", "--modality")],
)
def test_program_help(program, option, capsys):
    """`raven-align dpo|reward|classify --help` show the program's own options (TrlParser)."""
    with pytest.raises(SystemExit) as e:
        main([program, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert option in out and "--supervision" in out and f"raven-align {program}" in out


def test_top_level_trainer_imports_are_lazy():
    code = (
        "import sys, raven_align; assert 'trl' not in sys.modules;"
        "from raven_align import RavenDPOTrainer, RavenDPOConfig, RavenRewardTrainer, RavenClassificationTrainer;"
        "from raven_align.trainers import RavenDPOTrainer as T; assert RavenDPOTrainer is T; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
