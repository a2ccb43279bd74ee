"""RavenClassificationTrainer with HF models built from configs: tiny BERT (full and LoRA) and tiny ViT.

The tokenizer is trained here with the ``tokenizers`` library; nothing is downloaded.
"""

from __future__ import annotations

import functools

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
)

from raven_align.trainers.classification import RavenClassificationConfig, RavenClassificationTrainer

WORDS = "good great fine superb lovely bad awful poor dull boring the movie food drug was very really a an".split()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clf_text_data():
    g = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for _ in range(48):
        idx = torch.randint(len(WORDS), (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
        words = [WORDS[i] for i in idx]
        texts.append(" ".join(words))
        labels.append(int(sum(w in WORDS[:5] for w in words) >= sum(w in WORDS[5:10] for w in words)))
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=64, special_tokens=["[PAD]", "[UNK]"])
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    y = torch.tensor(labels)
    flip = torch.rand(len(y), generator=g) < 0.3
    good = torch.nn.functional.one_hot(y, 2).float() * 0.8 + 0.1  # 100% accurate, soft
    noisy = torch.nn.functional.one_hot(torch.where(flip, 1 - y, y), 2).float() * 0.98 + 0.01  # 70%, sharp
    ds = Dataset.from_dict(
        {
            "text": texts,
            "label": labels,
            "probs__good": good.tolist(),
            "probs__noisy": noisy.tolist(),
            "probs__unused": good.tolist(),
        }
    )
    ds = ds.map(lambda b: tokenizer(b["text"]), batched=True)
    return tokenizer, ds


def tiny_bert(tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForSequenceClassification(cfg)


def common_args(tmp_path, **kw):
    return dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_train_epochs=2,
        learning_rate=1e-2,
        seed=0,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        **kw,
    )


def spy_forward(model, seen: list):
    original = model.forward

    @functools.wraps(original)
    def forward(*args, **kwargs):
        seen.append(set(kwargs))
        return original(*args, **kwargs)

    model.forward = forward
    return model


def test_gt_matches_a_stock_trainer_with_hard_labels(clf_text_data, tmp_path):
    tokenizer, ds = clf_text_data
    collator = DataCollatorWithPadding(tokenizer)
    stock = Trainer(
        tiny_bert(tokenizer),
        TrainingArguments(**common_args(tmp_path / "stock")),
        train_dataset=ds,
        data_collator=collator,
    )
    stock.train()
    seen: list = []
    raven = RavenClassificationTrainer(
        spy_forward(tiny_bert(tokenizer), seen),
        RavenClassificationConfig(**common_args(tmp_path / "raven"), supervision="gt"),
        train_dataset=ds,
        data_collator=collator,
    )
    raven.train()
    assert seen and all(keys <= {"input_ids", "attention_mask", "token_type_ids"} for keys in seen)
    for (name, a), b in zip(stock.model.named_parameters(), raven.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    assert stock.state.log_history[-1]["train_loss"] == pytest.approx(
        raven.state.log_history[-1]["train_loss"], rel=1e-4
    )


def test_lora_with_the_head_in_modules_to_save(clf_text_data, tmp_path):
    from peft import LoraConfig, get_peft_model

    tokenizer, ds = clf_text_data
    model = get_peft_model(
        tiny_bert(tokenizer),
        LoraConfig(
            task_type="SEQ_CLS", r=4, target_modules=["query", "value"], modules_to_save=["classifier"]
        ),
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = RavenClassificationConfig(
        **common_args(tmp_path),
        supervisor_names=["good", "noisy"],
        supervisor_lr=0.5,
        weight_update_rule="exponentiated",
        mixing="logits",
    )
    trainer = RavenClassificationTrainer(model, args, train_dataset=ds, processing_class=tokenizer)
    trainer.train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any("lora_" in n for n in changed) and any(
        "modules_to_save" in n and "classifier" in n for n in changed
    )
    assert not any("lora_" not in n and "modules_to_save" not in n for n in changed)  # the base stays frozen
    assert trainer.raven_weights.names == ["good", "noisy"] and trainer.raven_weights.history[-1] != [
        0.5,
        0.5,
    ]
    # Evaluation and prediction on data with labels but no judgement columns.
    test = ds.remove_columns(["probs__good", "probs__noisy", "probs__unused"])
    pred = trainer.predict(test)
    assert pred.predictions.shape == (len(test), 2) and pred.label_ids.tolist() == test["label"]
    assert pred.metrics["test_loss"] > 0


def test_image_classification_model_and_unlabelled_prediction(tmp_path):
    g = torch.Generator().manual_seed(0)
    pixels = torch.rand(24, 1, 8, 8, generator=g)
    labels = (pixels.mean((1, 2, 3)) > 0.5).long()
    probs = torch.stack([1 - pixels.mean((1, 2, 3)), pixels.mean((1, 2, 3))], -1)
    ds = Dataset.from_dict(
        {
            "pixel_values": pixels.tolist(),
            "label": labels.tolist(),
            "probs__bright": probs.tolist(),
            "probs__flat": torch.full((24, 2), 0.5).tolist(),
        }
    )
    torch.manual_seed(0)
    model = ViTForImageClassification(
        ViTConfig(
            image_size=8,
            patch_size=4,
            num_channels=1,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=2,
        )
    )
    seen: list = []
    args = RavenClassificationConfig(**common_args(tmp_path), supervisor_lr=0.1, easy_phase_fraction=0.0)
    trainer = RavenClassificationTrainer(spy_forward(model, seen), args, train_dataset=ds)
    trainer.train()
    assert seen and all(keys == {"pixel_values"} for keys in seen)
    assert len(trainer.raven_weights.history) == trainer.state.global_step + 1 == 7
    unlabelled = ds.remove_columns(["label"])
    pred = trainer.predict(unlabelled)
    assert pred.predictions.shape == (24, 2) and pred.label_ids is None
