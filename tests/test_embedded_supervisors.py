"""The embedded default supervisors: train once, reuse, retrain on a changed setting (training is faked with a
tiny model built from a config; the real MiniLM training is measured by bench/embedded_supervisors.py)."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from raven_align.embedded.pairs import load_verbosity_pairs
from raven_align.labeling.label import label_dataset
from raven_align.pipeline import embedded_supervisors as emb


@pytest.fixture()
def fake_training(monkeypatch, sup_tokenizer_plain):
    """Replace MiniLM training by saving a tiny BERT reward model; records each call."""
    from transformers import BertConfig, BertForSequenceClassification

    calls = []

    def fake(spec, data, output_dir):
        torch.manual_seed(len(calls))
        config = BertConfig(
            vocab_size=len(sup_tokenizer_plain),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=256,
            num_labels=1,
            pad_token_id=sup_tokenizer_plain.pad_token_id,
        )
        BertForSequenceClassification(config).save_pretrained(output_dir)
        sup_tokenizer_plain.save_pretrained(output_dir)
        calls.append((spec, len(data)))
        return {"steps": 1, "train_loss": 0.0}

    monkeypatch.setattr(emb, "_train", fake)
    return calls


def test_default_set_trains_once_and_is_reused(fake_training, sup_cache, capsys):
    sups = emb.embedded_supervisors(device="cpu", show_progress=False)
    assert [s.name for s in sups] == ["amazon_food_rm", "drugs_com_rm", "vader", "verbosity_rm"]
    assert [s.kind for s in sups] == ["reward_model", "reward_model", "callable", "reward_model"]
    assert len(fake_training) == 3 and "training the embedded weak supervisor" in capsys.readouterr().err
    by_name = {s.name: s for s in sups}
    spec = emb.EMBEDDED_REWARD_MODELS["verbosity_rm"]
    assert by_name["verbosity_rm"].max_length == spec.max_length == 128
    assert by_name["amazon_food_rm"].use_chat_template is False
    # Each model was trained on its own pairs: the training split of the Amazon reserve (tests/test_disjoint_data.py).
    sizes = {s.domain + s.pairs: n for s, n in fake_training}
    assert sizes["amazon_foodsentiment"] == 547 and sizes["amazon_foodverbosity"] == 277
    assert {s.domain: s.part for s, _ in fake_training} == {"amazon_food": "reserve", "drugs_com": "all"}
    record = json.loads((emb.embedded_reward_model_path("drugs_com_rm") / "raven_embedded.json").read_text())
    assert record["n_train"] == sizes["drugs_comsentiment"] and record["spec"]["num_train_epochs"] == 3.0

    again = emb.embedded_supervisors(device="cpu", show_progress=False)
    assert len(fake_training) == 3  # served from the cache
    assert [s.src.source for s in again if s.kind == "reward_model"] == [
        s.src.source for s in sups if s.kind == "reward_model"
    ]


def test_supervisor_scores_with_the_cached_model(fake_training, sup_cache, sup_tokenizer_plain):
    from transformers import AutoModelForSequenceClassification

    sup = emb.embedded_supervisor("drugs_com_rm", device="cpu", show_progress=False)
    pairs = {
        "prompt": ["Review it.", "Review it."],
        "chosen": ["great stuff", "it helped a lot"],
        "rejected": ["awful", "terrible side effects"],
    }
    from datasets import Dataset

    out = label_dataset(Dataset.from_dict(pairs), [sup], show_progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(sup.src.source).eval()
    with torch.no_grad():
        expected = [
            model(input_ids=torch.tensor([sup_tokenizer_plain(p + c + "</s>")["input_ids"]])).logits.item()
            for p, c in zip(pairs["prompt"], pairs["chosen"], strict=True)
        ]
    np.testing.assert_allclose(out["reward_chosen__drugs_com_rm"], expected, rtol=1e-5, atol=1e-6)


def test_changed_setting_retrains(fake_training, sup_cache, monkeypatch):
    first = emb.embedded_reward_model_path("drugs_com_rm")
    changed = dataclasses.replace(emb.EMBEDDED_REWARD_MODELS["drugs_com_rm"], learning_rate=5e-5)
    monkeypatch.setitem(emb.EMBEDDED_REWARD_MODELS, "drugs_com_rm", changed)
    second = emb.embedded_reward_model_path("drugs_com_rm")
    assert second != first and len(fake_training) == 2
    assert first.is_dir() and second.is_dir()


def test_target_excludes_its_own_domain_and_bad_names(fake_training, sup_cache):
    names = [s.name for s in emb.embedded_supervisors("amazon_food", device="cpu", show_progress=False)]
    assert names == ["drugs_com_rm", "vader"]
    with pytest.raises(ValueError, match="Unknown target domain"):
        emb.embedded_supervisors("imdb")
    with pytest.raises(ValueError, match="Unknown embedded reward model"):
        emb.embedded_reward_model_path("vader")
    with pytest.raises(ValueError, match="'gold_rm' is the gold evaluator.*never be a supervisor"):
        emb.embedded_supervisor("gold_rm")  # refused before anything is trained
    assert all(spec.domain != "rotten_tomatoes" for spec, _ in fake_training)  # no gold model trained


def test_verbosity_pairs_prefer_the_longer_review_of_the_same_split():
    data = load_verbosity_pairs("drugs_com", min_ratio=1.5)
    for split in ("train", "test"):
        ds = data[split]
        assert len(ds) > 10
        assert all(
            len(c.split()) >= 1.5 * len(r.split()) for c, r in zip(ds["chosen"], ds["rejected"], strict=True)
        )
    train_texts = set(data["train"]["chosen"]) | set(data["train"]["rejected"])
    assert not train_texts & (set(data["test"]["chosen"]) | set(data["test"]["rejected"]))
