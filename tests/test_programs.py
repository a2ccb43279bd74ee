"""The programs' command lines: every program answers --help with its options, and the renamed options keep their
old spellings for one release (CLI and YAML) with a deprecation warning; an old and a new spelling together fail."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import yaml

from raven_align.pipeline.deprecations import RENAMED, rename_args

ROOT = Path(__file__).resolve().parents[1]
HELP = {
    "dpo": ["--dataset_name", "--max_train_samples", "--max_eval_samples", "--supervisor_batch_size", "--use_peft"],
    "reward": ["--dataset_name", "--max_train_samples", "--max_eval_samples", "--supervisor_batch_size", "--data_seed"],
    "classify": ["--dataset_name", "--dataset_train_split", "--test_size", "--max_train_samples", "--model_name_or_path",
                 "--use_peft"],
    "label": ["--dataset_name", "--supervisors", "--output_dir", "--push_to_hub", "--supervisor_batch_size"],
}  # fmt: skip
RUN_SCRIPTS = {
    "preference_alignment/run.py": "dpo",
    "reward_modeling/train_reward_model.py": "reward",
    "classification/run.py": "classify",
}
#: a value of each renamed option's type
VALUES = {"max_train_samples": "7", "max_eval_samples": "5", "supervisor_batch_size": "3", "data_seed": "4",
          "dataset_name": "my/data", "dataset_train_split": "fit", "dataset_test_split": "held", "test_size": "0.3",
          "model_name_or_path": "cnn", "use_peft": "true"}  # fmt: skip
CLASSIFY_BASE = {"supervisors": {"s": {"kind": "logreg", "domains": ["a"]}}, "ood_domains": ["b"]}


def _help_of(capsys, call) -> str:
    with pytest.raises(SystemExit) as exit_:
        call()
    assert exit_.value.code in (0, None)
    return capsys.readouterr().out


def _no_old_name(text: str, program: str) -> None:
    for old in RENAMED[program]:
        if "-" not in old:  # (label's old dashed flags are its new ones, underscored)
            assert f"--{old} " not in text, f"{program} --help still shows --{old}"


@pytest.mark.parametrize("program", HELP)
def test_cli_help_names_the_options(program, capsys, monkeypatch):
    from raven_align import cli

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # cli.main renames the program in sys.argv
    text = _help_of(capsys, lambda: cli.main([program, "--help"]))
    assert all(option in text for option in HELP[program]), text
    _no_old_name(text, program)


@pytest.mark.parametrize("script", RUN_SCRIPTS)
def test_recipe_scripts_answer_help(script, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    text = _help_of(capsys, lambda: runpy.run_path(str(ROOT / "recipes" / script), run_name="__main__"))
    assert all(option in text for option in HELP[RUN_SCRIPTS[script]])


def _parser(program: str):
    from raven_align.programs import classify, dpo, reward

    return {"dpo": dpo, "reward": reward, "classify": classify}[program].make_parser()


def _parse(program: str, tmp_path, argv=(), config=None):
    config = {**(CLASSIFY_BASE if program == "classify" else {}), **(config or {})}
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    argv = ["--config", str(path), "--output_dir", str(tmp_path / "out"), "--use_cpu", "true", *argv]
    parsed = _parser(program).parse_args_and_config(argv)
    return {k: v for obj in parsed for k, v in vars(obj).items()}


RENAMES = [(p, old, new) for p in ("dpo", "reward", "classify") for old, new in RENAMED[p].items()]


@pytest.mark.parametrize("program, old, new", RENAMES, ids=[f"{p}-{o}" for p, o, _ in RENAMES])
def test_old_spelling_maps_to_the_new_name_with_a_warning(program, old, new, tmp_path):
    expected = _parse(program, tmp_path, [f"--{new}", VALUES[new]])[new]
    assert expected != _parse(program, tmp_path)[new]  # the value is not the default: the mapping shows
    with pytest.warns(FutureWarning, match=rf"`--{old}` is deprecated .*use `--{new}`"):
        assert _parse(program, tmp_path, [f"--{old}", VALUES[new]])[new] == expected
    with pytest.warns(FutureWarning, match=rf"`{old}` is deprecated .*use `{new}`"):
        assert _parse(program, tmp_path, config={old: yaml.safe_load(VALUES[new])})[new] == expected
    with pytest.warns(FutureWarning):  # dashed and inline spellings of the old name too
        assert _parse(program, tmp_path, [f"--{old.replace('_', '-')}={VALUES[new]}"])[new] == expected


@pytest.mark.parametrize("program", ["dpo", "reward", "classify"])
def test_old_and_new_spelling_together_fail(program, tmp_path):
    old, new = next(iter(RENAMED[program].items()))
    with pytest.raises(ValueError, match="spellings of the same option"), pytest.warns(FutureWarning):
        _parse(program, tmp_path, [f"--{old}", VALUES[new], f"--{new}", VALUES[new]])
    with pytest.raises(ValueError, match="spellings of the same option"), pytest.warns(FutureWarning):
        _parse(program, tmp_path, config={old: VALUES[new], new: VALUES[new]})


def test_a_yaml_old_name_is_overridden_by_the_new_flag(tmp_path):
    with pytest.warns(FutureWarning):
        args = _parse("dpo", tmp_path, ["--max_eval_samples", "9"], config={"max_eval_pairs": None})
    assert args["max_eval_samples"] == 9
    with pytest.warns(FutureWarning):
        assert (
            _parse("dpo", tmp_path, config={"max_eval_pairs": None})["max_eval_samples"] is None
        )  # all pairs


def test_every_new_name_is_an_option_of_its_program():
    from raven_align.cli import build_parser

    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    dests = {p: {a.dest for a in _parser(p)._actions} for p in ("dpo", "reward", "classify")}
    dests["label"] = {a.dest for a in sub.choices["label"]._actions}
    for program, table in RENAMED.items():
        for old, new in table.items():
            new = new[0] if isinstance(new, tuple) else new
            assert new in dests[program], f"{program}: {old} -> {new}, which is no option"
            assert old.replace("-", "_") not in dests[program] or "-" in old, f"{program} still has {old}"


def test_label_takes_its_old_flags_with_a_warning(monkeypatch):
    from raven_align import cli
    from raven_align.programs import label

    seen = []
    monkeypatch.setattr(label, "run_label", lambda args: seen.append(args) or 0)
    argv = ["label", "--asset", "drugs_com", "-s", "vader", "--supervisor", "length", "--batch-size", "8",
            "--text-column", "body", "--output-dir", "o", "--overwrite-output-dir", "--no-cache"]  # fmt: skip
    with pytest.warns(FutureWarning, match=r"`--asset` is deprecated.*`--dataset_name embedded:<value>`"):
        assert cli.main(argv) == 0
    args = seen[0]
    assert args.dataset_name == "embedded:drugs_com" and args.supervisors == ["vader", "length"]
    assert (args.supervisor_batch_size, args.input_column, args.output_dir) == (8, "body", "o")
    assert args.overwrite_output_dir and args.no_cache
    with pytest.warns(FutureWarning):
        assert rename_args(["--asset=amazon_food"], "label") == ["--dataset_name=embedded:amazon_food"]
    with pytest.raises(ValueError, match="spellings of the same option"), pytest.warns(FutureWarning):
        cli.main(["label", "--asset", "drugs_com", "--dataset", "d", "-s", "vader", "--output_dir", "o"])
    with pytest.raises(ValueError, match="spellings of the same option"), pytest.warns(FutureWarning):
        cli.main(["label", "--dataset_name", "d", "--output-dir", "o", "--output_dir", "p", "-s", "vader"])
