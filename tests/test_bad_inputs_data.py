"""Bad inputs whose data used to give a silent or late result (docs/bad_inputs.md, rows 90-119, one test per row):
the prompt taken out of pairs, the truth column, the splits, empty saved data, missing judgements, the programs on
named splits and mixtures (the classification rows are in test_bad_inputs_classification.py). Each error names the
problem and the fix and comes before anything expensive; each suspicious-but-legal setting gets one warning."""

import numpy as np
import pytest
import torch
from bad_input_helpers import CPU, _dpo_trainer, _jsonl, _pairs
from datasets import Dataset, DatasetDict

from raven_align.pipeline.data import load_preference_splits, standardize_preferences

SPEC = "callable:bad_input_helpers:exploding_reward"  # a supervisor that fails if scoring ever starts


def _chat(role, text):
    return {"role": role, "content": text}


# -- the prompt disappears --------------------------------------------------------------------------------------


def test_pairs_without_a_shared_start_are_refused():
    hh = "\n\nHuman: Review the film.\n\nAssistant:"
    pairs = Dataset.from_dict(
        {
            "chosen": [f"{hh} Great.", "Good fun.", f"{hh} Fine."],
            "rejected": [f"{hh} Dull.", "Bad.", f"{hh} Poor."],
        }
    )
    with pytest.raises(
        ValueError, match=r"share no start .* at row\(s\) \[1\] \(1 of 3\).*give a `prompt` column"
    ):
        standardize_preferences(pairs)


def test_the_prompt_is_cut_at_a_word_boundary():
    start = "Loved it, awful boring slow"
    pairs = Dataset.from_dict(
        {"chosen": [f"{start} poor ", "The cat sat."], "rejected": [f"{start} poort", "The car sat."]}
    )
    out = standardize_preferences(pairs).to_list()
    assert out[0] == {
        "prompt": start,
        "chosen": " poor ",
        "rejected": " poort",
    }  # TRL's cut: "...poor" + " "/"t"
    assert out[1] == {"prompt": "The", "chosen": " cat sat.", "rejected": " car sat."}


def test_conversational_prompt_with_string_responses_is_refused():
    pairs = Dataset.from_dict(
        {
            "prompt": [[_chat("user", "Review the film.")]] * 2,
            "chosen": ["Great."] * 2,
            "rejected": ["Dull."] * 2,
        }
    )
    with pytest.raises(
        ValueError, match="'prompt' is conversational .* plain strings.*give the responses as messages"
    ):
        standardize_preferences(pairs)


def test_message_without_role_is_refused_by_label(tmp_path, sup_cache):
    from raven_align.cli import main

    q = _chat("user", "Review the film.")
    rows = [{"chosen": [q, _chat("assistant", "Great.")], "rejected": [q, _chat("assistant", "Dull.")]}] * 3
    rows.append({"chosen": [q, {"content": "Fine."}], "rejected": [q, _chat("assistant", "Poor.")]})
    data = _jsonl(tmp_path / "chat.jsonl", rows)
    with pytest.raises(ValueError, match=r"'chosen' at row 3 has message 1 without a role .*'role'"):
        main(["label", "--dataset_name", str(data), "-s", SPEC, "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_string_prompt_beside_unshared_conversations_is_refused():
    pairs = Dataset.from_dict(
        {
            "prompt": ["Review the film."] * 2,
            "chosen": [[_chat("assistant", "Great.")]] * 2,
            "rejected": [[_chat("assistant", "Dull.")]] * 2,
        }
    )
    with pytest.raises(
        ValueError, match=r"`prompt` holds strings .* share no turn .*give the prompt as messages"
    ):
        standardize_preferences(pairs)


def test_identical_chosen_and_rejected_warn():
    pairs = Dataset.from_dict(
        {"prompt": ["p"] * 3, "chosen": ["a", "same", "c"], "rejected": ["b", "same", "d"]}
    )
    with pytest.warns(
        UserWarning, match=r"1 pair\(s\) whose `chosen` and `rejected` are the same, first at row\(s\) \[1\]"
    ):
        standardize_preferences(pairs)


def test_truth_strings_are_refused_when_the_data_is_loaded(tmp_path):
    rows = [
        {"prompt": "p", "chosen": "a", "rejected": "b", "gt_label": "yes" if i % 2 else "no"}
        for i in range(6)
    ]
    with pytest.raises(
        ValueError,
        match=r"'train' split of .*p.jsonl: truth column 'gt_label' must hold booleans or 0/1 .*got 'no' at row 0",
    ):
        load_preference_splits(str(_jsonl(tmp_path / "p.jsonl", rows)), test_size=2)


# -- the truth ignored ----------------------------------------------------------------------------------------------

GOOD = ["great excellent", "excellent fine", "great fine", "loved it great"]
BAD = ["awful boring", "boring poor", "awful poor", "slow awful boring"]


def _worse_first(n=16, gt=True):
    rows = {"prompt": ["Review."] * n, "chosen": [BAD[i % 4] for i in range(n)]}
    rows["rejected"] = [GOOD[(i + 1) % 4] for i in range(n)]
    return Dataset.from_dict({**rows, "gt_label": [0] * n} if gt else rows)


def _reward_trainer(tmp_path, tok, data, **kw):
    from tiny_models import tiny_reward_model

    from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

    args = dict(output_dir=str(tmp_path / "rm"), per_device_train_batch_size=8, max_steps=6, learning_rate=1e-2,
                bf16=False, use_cpu=True, report_to="none", save_strategy="no", seed=0, max_length=32,
                disable_tqdm=True, supervision="gt")  # fmt: skip
    return RavenRewardTrainer(
        tiny_reward_model(tok),
        args=RavenRewardConfig(**{**args, **kw}),
        train_dataset=data,
        processing_class=tok,
    )


def test_reward_gt_column_orders_the_pairs_by_the_truth(tmp_path, sup_tokenizer_plain):
    tok = sup_tokenizer_plain
    trainer = _reward_trainer(tmp_path, tok, _worse_first(), gt_column="gt_label")
    batch = next(iter(trainer.get_train_dataloader()))  # what TRL's loss sees: [chosen; rejected]
    chosen = tok.batch_decode(batch["input_ids"][: len(batch["input_ids"]) // 2], skip_special_tokens=True)
    assert all(any(g in c for g in GOOD) for c in chosen), (
        chosen
    )  # the truly better response, not the presented
    trainer.train()
    model = trainer.model.eval()
    with torch.no_grad():
        reward = {
            t: model(**tok(f"Review. {t}", return_tensors="pt").to(model.device)).logits.item()
            for t in GOOD + BAD
        }
    accuracy = np.mean([reward[g] > reward[b] for g in GOOD for b in BAD])
    assert accuracy >= 0.9  # against the truth (on TRL's convention, the same data trains it to 0.0)


def test_gt_label_against_the_presented_order_is_refused(tmp_path, sup_tokenizer_plain):
    from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

    args = RavenRewardConfig(output_dir=str(tmp_path), supervision="gt", use_cpu=True, report_to="none")
    with pytest.raises(
        ValueError, match=r"gt_label .* worse response at row\(s\) \[0, 1, 2, 3, 4\] \(16 of 16\).*gt_column"
    ):
        RavenRewardTrainer("org/never-loaded", args=args, train_dataset=_worse_first())


def test_half_a_supervisor_is_refused_in_plain_reward_modelling(tmp_path):
    from raven_align.trainers import RavenRewardConfig, RavenRewardTrainer

    args = RavenRewardConfig(output_dir=str(tmp_path), supervision="gt", use_cpu=True, report_to="none")
    data = _worse_first(gt=False).add_column("reward_chosen__b", [1.0] * 16)
    with pytest.raises(ValueError, match=r"\['reward_chosen__b'\] have no counterpart"):
        RavenRewardTrainer("org/never-loaded", args=args, train_dataset=data)


def test_gt_column_without_gt_supervision_warns(tmp_path):
    with pytest.warns(UserWarning, match="gt_column='truth' is read by supervision='gt' only"):
        with pytest.raises(OSError):  # the checks passed: the (missing) model is loaded next
            _dpo_trainer(tmp_path, _pairs(truth=[1] * 6), gt_column="truth")


# -- splits and empty data ------------------------------------------------------------------------------------------

PAIRS = [{"prompt": "Review.", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(8)]


def test_a_validation_split_is_not_silently_ignored(tmp_path):
    DatasetDict({"train": Dataset.from_list(PAIRS), "validation": Dataset.from_list(PAIRS[:2])}).save_to_disk(
        tmp_path / "d"
    )
    with pytest.raises(
        ValueError, match=r"splits \['train', 'validation'\] but no 'test' .*--dataset_test_split validation"
    ):
        load_preference_splits(str(tmp_path / "d"))
    train, test = load_preference_splits(str(tmp_path / "d"), test_split="validation").values()
    assert (len(train), len(test)) == (8, 2)


def test_a_missing_test_split_is_named(tmp_path):
    Dataset.from_list(PAIRS).to_json(tmp_path / "p.jsonl")  # one file: a train split only
    with pytest.raises(ValueError, match=r"splits \['train'\] but no 'heldout' split"):
        load_preference_splits(str(tmp_path / "p.jsonl"), test_split="heldout")


def test_saved_dataset_without_rows_is_named(tmp_path):
    empty = Dataset.from_list(PAIRS).select([])
    DatasetDict({"train": Dataset.from_list(PAIRS), "test": empty}).save_to_disk(tmp_path / "d")
    with pytest.raises(ValueError, match=r"has split\(s\) \['test'\] with no rows"):
        load_preference_splits(str(tmp_path / "d"))
    empty.save_to_disk(tmp_path / "e")
    with pytest.raises(ValueError, match="saved dataset .*e has no rows"):
        load_preference_splits(str(tmp_path / "e"))


def test_missing_judgement_is_named(tmp_path):
    with pytest.raises(
        ValueError, match=r"'reward_chosen__a' must hold one number per row.*None at row 2.*relabel"
    ):
        _dpo_trainer(tmp_path, _pairs(reward_chosen__a=[1.0, 2.0, None, 4.0, 5.0, 6.0]))


# -- the programs on named splits and worse-first truth -------------------------------------------------------------


def test_dpo_program_takes_named_splits(tmp_path):
    """UltraFeedback's layout (train_prefs / test_prefs): the DPO program evaluates on the split it is told."""
    from raven_align.programs import dpo

    DatasetDict(
        {"train_prefs": Dataset.from_list(PAIRS), "test_prefs": Dataset.from_list(PAIRS[:3])}
    ).save_to_disk(tmp_path / "uf")
    argv = [
        "--dataset_name",
        str(tmp_path / "uf"),
        "--supervisors",
        "length",
        "--output_dir",
        str(tmp_path / "o"),
        *CPU,
    ]
    args, _, _ = dpo.make_parser().parse_args_and_config(args=argv)
    with pytest.raises(ValueError, match=r"no 'train' split .*dataset_train_split"):
        dpo.load_pairs(args, 0)
    named = ["--dataset_train_split", "train_prefs", "--dataset_test_split", "test_prefs"]
    args, _, _ = dpo.make_parser().parse_args_and_config(args=argv + named)
    train, splits = dpo.load_pairs(args, 0)
    assert (len(train), len(splits["target"])) == (8, 3)


def test_reward_program_gt_trains_on_truth_ordered_pairs(tmp_path):
    """`raven-align reward --supervision gt` on worse-first pairs with gt_label 0 and no --gt_column: the training
    pairs are put in truth order before the trainer sees them (as the test split is), not trained backwards."""
    from raven_align.programs import reward

    _worse_first(8).to_json(tmp_path / "p.jsonl")
    argv = ["--dataset_name", str(tmp_path / "p.jsonl"), "--supervision", "gt", "--eval_domains", "none"]
    argv += CPU
    args, training, _ = reward.make_parser().parse_args_and_config(
        args=argv + ["--output_dir", str(tmp_path)]
    )
    train, tests = reward.load_reward_data(args, weak=False, seed=0)
    assert len(train) > 0 and set(train["gt_label"]) == {1}
    assert all(c in GOOD for c in train["chosen"]) and all(r in BAD for r in train["rejected"])
    weak_train, _ = reward.load_reward_data(args, weak=True, seed=0)
    assert set(weak_train["gt_label"]) == {0}  # weak runs keep the presented order: it carries no truth


# -- judgement columns already in the data ------------------------------------------------------------------------


def _reward_program(tmp_path, *supervisors):
    """The reward program on pairs that already carry the judgements of supervisors `a` and `b`."""
    from raven_align.programs import reward

    _pairs(6).to_json(tmp_path / "p.jsonl")
    argv = ["--dataset_name", str(tmp_path / "p.jsonl"), "--supervision", "ens", "--eval_domains", "none"]
    return reward.main([*argv, "--supervisors", *supervisors, *CPU, "--output_dir", str(tmp_path / "out")])


def test_judgement_columns_no_supervisor_names_are_refused(tmp_path):
    # before: trained on a and b beside the supervisor given, and a resume with these specs was refused
    listed = r"\['reward_chosen__a', 'reward_rejected__a', 'reward_chosen__b', 'reward_rejected__b'\]"
    with pytest.raises(
        ValueError, match=rf"already carry judgement columns {listed}.*column:a column:b.*remove"
    ):
        _reward_program(tmp_path, SPEC)


def test_a_column_spec_of_judgements_the_data_lacks_is_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"column:c: .*have none for \['c'\] \(they have them for \['a', 'b'\]\)"
    ):
        _reward_program(tmp_path, "column:a", "column:c", SPEC)


# -- TRL's dataset mixture and the trainer's evaluation set -------------------------------------------------------


def _parse_dpo(tmp_path, config: dict):
    import json

    from raven_align.programs import dpo

    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"supervisors": ["length"], **config}))  # JSON is YAML
    argv = ["--config", str(path), "--output_dir", str(tmp_path / "o"), *CPU]
    return dpo.make_parser().parse_args_and_config(argv)


def test_a_mixture_that_cannot_apply_is_refused_at_parse(tmp_path):
    two = [{"path": "a.jsonl"}, {"path": "b.jsonl"}]
    cases = [
        (
            {"datasets": two, "dataset_name": "x"},
            r"\['dataset_name'\] name data beside the `datasets` mixture",
        ),
        ({"datasets": two, "dataset_test_split": "test_prefs"}, r"\['dataset_test_split'\] name data beside"),
        ({"datasets": two, "streaming": True}, r"streaming.*a stream cannot give"),
        ({"dataset_streaming": True}, r"streaming/dataset_streaming: every pair is labelled"),
        ({"datasets": two, "dataset_mixture": {"datasets": [{"id": "a"}]}}, r"give one mixture"),
        ({"datasets": [{"path": "a", "fraction": 0.5}, {"path": "b"}]}, r"set for all sources or none"),
        ({"datasets": [{"id": "a"}]}, r"unknown key\(s\) \['id'\].*under `dataset_mixture:`"),
        ({"test_split_size": 0.1}, r"test_split_size cuts .* with dataset_name give test_size"),
        ({"dataset_mixture": {"datasets": [{"id": "a", "weight": 2}]}}, r"weight 2 is the share .*\(0, 1\]"),
    ]
    for config, match in cases:
        with pytest.raises(ValueError, match=match):
            _parse_dpo(tmp_path, config)


def test_mixture_sources_that_cannot_be_read_or_stacked_are_refused_before_labelling(tmp_path):
    from raven_align.programs import dpo

    plain, truth = _jsonl(tmp_path / "a.jsonl", PAIRS), _jsonl(tmp_path / "b.jsonl", _truthful(6))
    chat = [{**r, "prompt": [_chat("user", r["prompt"])], "chosen": [_chat("assistant", r["chosen"])],
             "rejected": [_chat("assistant", r["rejected"])]} for r in PAIRS]  # fmt: skip
    cases = [
        (
            [{"path": str(plain)}, {"path": str(truth)}],
            r"different columns .*'gt_label'.*each source's `columns`",
        ),
        (
            [{"path": str(plain), "split": "test"}],
            r"mixture source 0 .*no split 'test' \(it has \['train'\]\)",
        ),
        (
            [{"path": str(plain)}, {"path": str(_jsonl(tmp_path / "c.jsonl", chat))}],
            r"cannot be stacked.*one form",
        ),
    ]
    for sources, match in cases:
        args, _, _ = _parse_dpo(tmp_path, {"datasets": sources})
        with pytest.raises(ValueError, match=match):
            dpo.load_pairs(args, 0)  # before any supervisor is built or row scored
    shared = {"path": str(truth), "columns": ["prompt", "chosen", "rejected"]}
    args, _, _ = _parse_dpo(tmp_path, {"datasets": [{"path": str(plain)}, shared], "test_split_size": 3})
    train, splits = dpo.load_pairs(args, 0)
    assert (len(train), len(splits["target"])) == (11, 3)


def _truthful(n):
    return [{**r, "gt_label": 1} for r in PAIRS[:n]]


def test_an_eval_dataset_without_the_judgement_columns_is_refused(tmp_path):
    from bad_input_helpers import NEVER, _dpo_config

    from raven_align.trainers import RavenDPOTrainer

    unlabelled = _pairs().remove_columns(["reward_chosen__b", "reward_rejected__b"])
    with pytest.raises(
        ValueError,
        match=r"evaluation dataset lacks the column\(s\) \['reward_chosen__b', 'reward_rejected__b'\]",
    ):
        RavenDPOTrainer(NEVER, args=_dpo_config(tmp_path), train_dataset=_pairs(), eval_dataset=unlabelled)
