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
    assert (
        build_supervisor(f"reward_model:{model_dirs['rm']}", device="cpu").use_chat_template is True
    )  # auto
    assert build_supervisor(f"rm:{model_dirs['rm']}", chat_template="no").name == "rm"  # from the folder name

    clf = build_supervisor(f"classifier:{model_dirs['clf']}", max_length=33, device="cpu")
    assert isinstance(clf, ClassifierSupervisor) and clf.task == "classification"
    assert clf.settings()["max_length"] == 33

    imp = build_supervisor(
        f"dpo=implicit:{model_dirs['policy']},{model_dirs['ref']}", beta=0.25, device="cpu"
    )
    assert isinstance(imp, ImplicitRewardSupervisor) and imp.name == "dpo"
    assert imp.settings()["beta"] == 0.25


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
