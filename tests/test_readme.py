"""The README's Python quick tour runs as written, with a tiny local model in place of the Hub ID."""

import re
from pathlib import Path

from tiny_models import tiny_causal_lm

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour() -> str:
    text = README.read_text()
    section = text[text.index("## Quick tour in Python") :]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_quick_tour_is_short():
    assert len([line for line in _tour().splitlines() if line.strip()]) < 20


def test_the_quick_tour_runs(tmp_path, sup_tokenizer_plain, sup_cache, monkeypatch, capsys):
    model_dir = tmp_path / "tiny"
    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(model_dir)
    sup_tokenizer_plain.save_pretrained(model_dir)
    code = _tour()
    for old, new in [
        ('"HuggingFaceTB/SmolLM2-135M-Instruct"', repr(str(model_dir))),
        ("max_steps=8)", "max_steps=2, use_cpu=True, bf16=False, report_to='none')"),
    ]:
        assert old in code, old
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    out = tmp_path / "smollm2-raven"
    assert (out / "adapter_model.safetensors").is_file() and (out / "raven_weights.json").is_file()
    printed = capsys.readouterr().out
    assert "vader" in printed and "length" in printed
