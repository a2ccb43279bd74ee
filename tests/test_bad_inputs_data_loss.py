"""Bad inputs that could lose data, or that were silent before (docs/bad_inputs.md, one test per row): existing
outputs are never overwritten, and caches are checked rather than trusted.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from bad_input_helpers import (
    CPU,
    MISSING,
    PAIRS,
    _dpo,
    _dpo_config,
    _dpo_trainer,
    _full,
    _jsonl,
    _pairs,
    _untouched,
    _w2s,
)
from datasets import Dataset

from raven_align.pipeline.specs import build_supervisor

# -- data loss ----------------------------------------------------------------------------------------


def test_label_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.cli import main

    data, out = _jsonl(tmp_path / "p.jsonl", PAIRS), _full(tmp_path / "labelled")
    spec = "callable:bad_input_helpers:exploding_reward"
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        main(["label", "--dataset_name", str(data), "-s", spec, "--output_dir", str(out)])
    assert _untouched(out)


def test_reward_recipe_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.programs import reward

    out = _full(tmp_path / "out")
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        reward.main(["--dataset_name", MISSING, "--supervision", "gt", "--output_dir", str(out), *CPU])
    assert _untouched(out)


def test_classify_recipe_refuses_a_non_empty_output_dir(tmp_path):
    from raven_align.programs.classify import run_recipe

    out = _full(tmp_path / "out")
    recipe, training = _w2s(tmp_path, {"s": {"kind": "logreg", "domains": ["a"]}}, dataset=MISSING)
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        run_recipe(recipe, training)
    assert _untouched(out)


def test_dpo_recipe_refuses_a_non_empty_output_dir(tmp_path):
    out = _full(tmp_path / "out")
    with pytest.raises(FileExistsError, match="not empty"):
        _dpo(tmp_path)
    assert _untouched(out)


def test_resume_from_elsewhere_does_not_unlock_the_output_dir(tmp_path):
    out, ckpt = _full(tmp_path / "out"), tmp_path / "other_run" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    with pytest.raises(FileExistsError, match="is not inside it"):
        _dpo(tmp_path, "--resume_from_checkpoint", str(ckpt))
    assert _untouched(out)


def test_label_replaces_its_input_only_when_complete(tmp_path, sup_cache):
    """--overwrite_output_dir onto the input folder itself: the new set is written beside it, then swapped in."""
    from raven_align.cli import main
    from raven_align.labeling import load_labeled

    Dataset.from_list(PAIRS).save_to_disk(str(tmp_path / "d"))
    spec = "callable:bad_input_helpers:exploding_reward"
    with pytest.raises(AssertionError, match="scoring started"):  # scoring fails: the input stays as it was
        main(
            [
                "label",
                "--dataset_name",
                str(tmp_path / "d"),
                "-s",
                spec,
                "--output_dir",
                str(tmp_path / "d"),
                "--overwrite_output_dir",
            ]
        )
    assert Dataset.load_from_disk(str(tmp_path / "d")).to_list() == PAIRS
    main(
        [
            "label",
            "--dataset_name",
            str(tmp_path / "d"),
            "-s",
            "length",
            "--output_dir",
            str(tmp_path / "d"),
            "--overwrite_output_dir",
        ]
    )
    labelled, _ = load_labeled(tmp_path / "d")
    assert "reward_chosen__length" in labelled.column_names and len(labelled) == 6


# -- silent -------------------------------------------------------------------------------------------


def test_causal_lm_as_reward_model_is_refused(tmp_path, sup_tokenizer_plain):
    from tiny_models import tiny_causal_lm

    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp_path / "lm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "lm")
    with pytest.raises(ValueError, match=r"not a sequence-classification reward model.*LlamaForCausalLM"):
        build_supervisor(f"rm:{tmp_path / 'lm'}")


def test_a_model_without_a_trained_head_is_refused_at_load(tmp_path, sup_tokenizer_plain):
    from tiny_models import tiny_causal_lm

    tiny_causal_lm(sup_tokenizer_plain).save_pretrained(tmp_path / "lm")
    sup_tokenizer_plain.save_pretrained(tmp_path / "lm")
    config = json.loads((tmp_path / "lm" / "config.json").read_text())
    config.pop("architectures")  # nothing in config.json tells what it is
    (tmp_path / "lm" / "config.json").write_text(json.dumps(config))
    sup = build_supervisor(f"rm:{tmp_path / 'lm'}")
    with pytest.raises(ValueError, match=r"no trained weights for \['score.weight'\]"):
        sup.score(["p"], ["c"])


def test_half_a_supervisor_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\['reward_chosen__b'\] have no counterpart"):
        _dpo_trainer(tmp_path, _pairs().remove_columns("reward_rejected__b"))


def test_gt_without_gt_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs gt_column.*carries no truth"):
        _dpo_trainer(tmp_path, _pairs(gt_label=[1] * 6), supervision="gt")


def test_yes_no_truth_strings_are_refused(tmp_path):
    from raven_align.pipeline.data import truth_of

    answers = ["yes", "no"] * 3
    with pytest.raises(ValueError, match=r"truth column 'truth' must hold booleans or 0/1.*'yes' at row 0"):
        _dpo_trainer(tmp_path, _pairs(truth=answers), supervision="gt", gt_column="truth")
    with pytest.raises(ValueError, match="must hold booleans"):  # held-out evaluation reads it the same way
        truth_of(_pairs(truth=answers), "truth")


def test_all_zero_margins_are_refused(tmp_path):
    zeros = [0.0] * 6
    with pytest.raises(ValueError, match="every margin of every supervisor"):
        _dpo_trainer(
            tmp_path, _pairs(reward_chosen__a=zeros, reward_rejected__a=zeros, reward_rejected__b=zeros)
        )


def test_a_silent_supervisor_is_named_in_a_warning(tmp_path):
    from raven_align.trainers.preference import prepare_supervision

    zeros = [0.0] * 6
    with pytest.warns(UserWarning, match=r"supervisor\(s\) \['b'\] give a margin of 0"):
        prepare_supervision(_pairs(reward_rejected__b=zeros), _dpo_config(tmp_path))


def test_edited_labelled_data_cache_is_refused(tmp_path, sup_cache):
    from raven_align.pipeline.data import persist_dataset

    folder = Path(persist_dataset(_pairs()).cache_files[0]["filename"]).parent
    arrow = next(folder.glob("data-*.arrow"))
    edited = arrow.read_bytes().replace(b"great fun 0", b"great fun 9")
    arrow.write_bytes(edited)
    with pytest.raises(ValueError, match=rf"{re.escape(str(arrow))} was changed.*delete"):
        persist_dataset(_pairs())


def test_truncated_cached_dataset_is_refused(tmp_path, sup_cache):
    from raven_align.pipeline.data import persist_dataset

    folder = Path(persist_dataset(_pairs()).cache_files[0]["filename"]).parent
    arrow = next(folder.glob("data-*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(ValueError, match="changed or truncated.*delete"):
        persist_dataset(_pairs())


def test_edited_reference_margin_cache_is_refused(tmp_path):
    from raven_align.pipeline.caches import read_margins, write_margins

    path = tmp_path / "raven_ref_margins-x.json"
    write_margins(path, [0.5, -1.0, 2.0])
    assert read_margins(path, 3) == [0.5, -1.0, 2.0]
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "margins": [-0.5, 1.0, -2.0]}))  # flipped: accuracies 0 -> 1
    with pytest.raises(ValueError, match="does not match its checksum.*delete"):
        read_margins(path, 3)
    path.write_text(json.dumps([0.5, -1.0, 2.0]))  # the unverifiable old format
    with pytest.raises(ValueError, match="old format"):
        read_margins(path, 3)


def _label_length(ds, cache_dir):
    from raven_align.labeling import label_dataset

    return label_dataset(ds, [build_supervisor("length")], cache_dir=cache_dir, show_progress=False)


def test_edited_labelling_cache_is_refused(tmp_path):
    ds = Dataset.from_list(PAIRS)
    _label_length(ds, tmp_path)
    path = next((tmp_path / "labels").rglob("*.npz"))
    with np.load(path) as z:
        content = {k: z[k] for k in z.files}
    content["chosen"] = -content["chosen"]
    np.savez(path, **content)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} does not match its checksum"):
        _label_length(ds, tmp_path)


def test_truncated_labelling_cache_is_refused(tmp_path):
    ds = Dataset.from_list(PAIRS)
    _label_length(ds, tmp_path)
    path = next((tmp_path / "labels").rglob("*.npz"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is unreadable.*--no-cache"):
        _label_length(ds, tmp_path)
