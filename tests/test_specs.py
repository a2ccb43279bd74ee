"""Supervisor spec strings (``raven_align.pipeline.specs``): every kind, its settings, and bad specs."""

import pytest

from raven_align.pipeline.specs import _model_and_revision, build_supervisor
from raven_align.supervisors import (
    CallableSupervisor,
    ClassifierSupervisor,
    ColumnSupervisor,
    ImplicitRewardSupervisor,
    RewardModelSupervisor,
)


@pytest.fixture()
def model_dirs(tmp_path, sup_tokenizer, sup_reward_model, sup_bert_classifier, sup_causal_lms):
    """Tiny reward model, classifier, policy and reference saved as local folders."""
    dirs = {}
    for key, model in [
        ("rm", sup_reward_model),
        ("clf", sup_bert_classifier),
        ("policy", sup_causal_lms[0]),
        ("ref", sup_causal_lms[1]),
    ]:
        dirs[key] = tmp_path / key
        model.save_pretrained(dirs[key])
        sup_tokenizer.save_pretrained(dirs[key])
    return dirs


def test_heuristics_and_names():
    vader = build_supervisor("vader")
    assert isinstance(vader, CallableSupervisor) and vader.name == "vader"
    length = build_supervisor("words=length")
    assert length.name == "words"
    rewards = length.score(["p", "p"], ["one two three", "one"])
    assert list(rewards) == [3.0, 1.0]
    assert build_supervisor("embedded:vader", batch_size=4).name == "vader"
    assert build_supervisor("senti=embedded:vader").name == "senti"


def test_model_specs_carry_their_settings(model_dirs):
    rm = build_supervisor(
        f"judge=rm:{model_dirs['rm']}", batch_size=5, max_length=77, chat_template="no", device="cpu"
    )
    assert isinstance(rm, RewardModelSupervisor) and rm.name == "judge"
    assert rm.settings() == {
        "batch_size": 5,
        "max_length": 77,
        "use_chat_template": False,
        "dtype": "torch.float32",
    }
    # auto: strings through no template (as reward models are trained on them), message lists through the model's
    assert build_supervisor(f"reward_model:{model_dirs['rm']}", device="cpu").use_chat_template is False
    assert build_supervisor(f"reward_model:{model_dirs['rm']}", chat_template="yes").use_chat_template is True
    assert build_supervisor(f"rm:{model_dirs['rm']}", chat_template="no").name == "rm"  # from the folder name

    clf = build_supervisor(f"classifier:{model_dirs['clf']}", max_length=33, device="cpu")
    assert isinstance(clf, ClassifierSupervisor) and clf.task == "classification"
    assert clf.settings()["max_length"] == 33

    imp = build_supervisor(
        f"dpo=implicit:{model_dirs['policy']},{model_dirs['ref']}", beta=0.25, device="cpu"
    )
    assert isinstance(imp, ImplicitRewardSupervisor) and imp.name == "dpo"
    assert imp.settings()["beta"] == 0.25


#: the reward model's own chat template, unlike the policy's (tiny_models.SUP_CHAT_TEMPLATE, on sup_tokenizer)
RM_TEMPLATE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"


def test_reward_model_spec_scores_as_the_model_was_trained(tmp_path, sup_tokenizer, sup_cache):
    import numpy as np
    import torch
    from datasets import Dataset
    from tiny_models import tiny_reward_model, train_tokenizer

    from raven_align.labeling import label_dataset, read_provenance

    rm_tok = train_tokenizer(RM_TEMPLATE)
    model = tiny_reward_model(rm_tok).eval()
    model.save_pretrained(tmp_path / "rm")
    rm_tok.save_pretrained(tmp_path / "rm")
    prompts, completions = (
        ["Review the tea.", "Review the movie."],
        ["Awful taste, stale.", "A tense thriller."],
    )
    turns = [
        [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
        for p, c in zip(prompts, completions, strict=True)
    ]

    def rewards(ids: list[list[int]]) -> list[float]:
        with torch.no_grad():
            return [model(input_ids=torch.tensor([i])).logits[0, 0].item() for i in ids]

    def rendered(tok) -> list[list[int]]:
        return [list(tok.apply_chat_template(t, tokenize=True, return_dict=True)["input_ids"]) for t in turns]

    spec = f"rm=reward_model:{tmp_path / 'rm'}"
    # auto (the default): strings as TRL's RewardTrainer trains on them, prompt + completion + eos, no template
    auto = build_supervisor(spec, device="cpu")
    untemplated = [
        rm_tok(p + c + rm_tok.eos_token)["input_ids"] for p, c in zip(prompts, completions, strict=True)
    ]
    np.testing.assert_allclose(auto.score(prompts, completions), rewards(untemplated), rtol=1e-5, atol=1e-6)
    # yes, in the spec (over the program's default): strings in a user and an assistant turn of the RM's template
    yes = build_supervisor(f"{spec}?chat_template=yes", device="cpu", chat_template="no")
    assert yes.use_chat_template and rendered(rm_tok) != rendered(sup_tokenizer)  # not the policy's template
    np.testing.assert_allclose(
        yes.score(prompts, completions), rewards(rendered(rm_tok)), rtol=1e-5, atol=1e-6
    )
    # conversational pairs go through the RM's own template, with auto
    conv_p = [t[:1] for t in turns]
    conv_c = [t[1:] for t in turns]
    np.testing.assert_allclose(auto.score(conv_p, conv_c), rewards(rendered(rm_tok)), rtol=1e-5, atol=1e-6)
    # the program's --chat_template is the default of specs without their own
    assert build_supervisor(spec, chat_template="yes").use_chat_template is True
    assert build_supervisor(f"{spec}?chat_template=auto", chat_template="yes").use_chat_template is False
    # the labelling cache: yes scores other tokens, so another key; auto and no score the same tokens, one key
    pairs = Dataset.from_dict({"prompt": prompts, "chosen": completions, "rejected": completions[::-1]})

    def key(option: str) -> str:
        sup = build_supervisor(f"{spec}?chat_template={option}", device="cpu")
        return read_provenance(label_dataset(pairs, [sup], show_progress=False))["supervisors"][0][
            "cache_key"
        ]

    assert key("auto") == key("no") != key("yes")


def test_callable_and_column_specs():
    fn = build_supervisor("callable:raven_align.embedded.heuristics:length_reward")
    assert isinstance(fn, CallableSupervisor) and fn.task == "preference"
    assert list(fn.score(["x"], ["a b"])) == [2.0]
    assert (
        build_supervisor("callable:raven_align.embedded.heuristics:length_reward", task="classification").task
        == "classification"
    )
    pair = build_supervisor("col=column:rc,rr")
    assert isinstance(pair, ColumnSupervisor) and pair.name == "col" and pair.task == "preference"
    assert (pair.chosen_column, pair.rejected_column) == ("rc", "rr")
    probs = build_supervisor("column:p")
    assert probs.name == "p" and probs.task == "classification"
    # pairs: one name is the data's own judgement columns of that supervisor
    own = build_supervisor("column:x", task="preference")
    assert own.name == "x" and own.task == "preference"
    assert (own.chosen_column, own.rejected_column) == ("reward_chosen__x", "reward_rejected__x")
    assert build_supervisor("column:p", task="classification").column == "p"


def test_model_and_revision():
    assert _model_and_revision("org/model@v1.0") == ("org/model", "v1.0")
    assert _model_and_revision("org/model") == ("org/model", None)
    with pytest.raises(ValueError, match="model@revision"):
        _model_and_revision("org/model@")


@pytest.mark.parametrize(
    "spec",
    [
        "nonsense",
        "vader:x",
        "rm:",
        "classifier:",
        "implicit:",
        "implicit:,ref",
        "callable:module_only",
        "callable::fn",
        "column:",
        "column:a,b,c",
        "column:a,",
        "embedded:",
        "=vader",
        "vader?chat_template=no",
    ],
)
def test_bad_specs_raise(spec):
    with pytest.raises(ValueError, match="Cannot parse supervisor spec"):
        build_supervisor(spec)


def test_bad_settings_and_unknown_embedded():
    with pytest.raises(ValueError, match="chat_template"):
        build_supervisor("vader", chat_template="maybe")
    with pytest.raises(ValueError, match="Unknown embedded supervisor"):
        build_supervisor("embedded:no_such_model")
