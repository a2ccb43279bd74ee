"""Strong models of the classification recipes.

``model_name_or_path`` in a recipe:

- ``probe``: a linear probe on frozen encoder features (text: mean-pooled ``encoder``, the packaged
  all-MiniLM-L6-v2 by default, embeddings cached on disk) — the cheap strong model;
- ``cnn``: :class:`~raven_align.trainers.probes.SmallConvNet` on ``pixel_values`` (images);
- anything else: an HF model ID or folder, fine-tuned as ``AutoModelForSequenceClassification`` (text) or
  ``AutoModelForImageClassification`` (images); ``use_peft`` trains a LoRA adapter with the head in
  ``modules_to_save``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def text_features(data: Any, text_column: str, domain_column: str, encoder: str | None) -> np.ndarray:
    """Embeddings of every row of ``data``, computed per domain (so each domain's cache entry is reused
    whatever else the dataset holds)."""
    from .features import text_embeddings

    domains = np.asarray(data[domain_column])
    texts = data[text_column]
    out = None
    for d in dict.fromkeys(domains.tolist()):
        idx = np.flatnonzero(domains == d)
        emb = text_embeddings([texts[i] for i in idx], encoder, show_progress=False)
        if out is None:
            out = np.empty((len(domains), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
    return out


def build_strong_model(
    kind: str,
    modality: str,
    num_classes: int,
    seed: int,
    num_features: int | None = None,
    image_size: int = 16,
    channels: int = 1,
    use_lora: bool = False,
    lora_r: int = 8,
    lora_target_modules: list[str] | None = None,
) -> tuple[torch.nn.Module, Any]:
    """``(model, processing_class)``; the model's initialisation is seeded by ``seed``."""
    from ...trainers.probes import LinearProbe, SmallConvNet

    torch.manual_seed(seed)
    if kind == "probe":
        if num_features is None:
            raise ValueError("a probe needs features (text: the encoder's embeddings)")
        return LinearProbe(num_features, num_classes), None
    if kind == "cnn":
        if modality != "image":
            raise ValueError("model_name_or_path=cnn is for images")
        return SmallConvNet(num_classes, channels, image_size), None
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    path = _resolve(kind)
    if modality == "text":
        processor = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_classes)
        if processor.pad_token is None:
            processor.pad_token = processor.eos_token
            model.config.pad_token_id = processor.pad_token_id
    else:
        processor = AutoImageProcessor.from_pretrained(path)
        model = AutoModelForImageClassification.from_pretrained(
            path, num_labels=num_classes, ignore_mismatched_sizes=True
        )
    if use_lora:
        from peft import LoraConfig, get_peft_model

        head = [n for n in ("classifier", "score") if hasattr(model, n)]
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora_r,
                lora_alpha=2 * lora_r,
                target_modules=lora_target_modules,
                modules_to_save=head,
                task_type="SEQ_CLS" if modality == "text" else None,
            ),
        )
    return model, processor


def _resolve(name: str) -> str:
    if name == "minilm":  # the packaged all-MiniLM-L6-v2
        from ...embedded import minilm_path

        return str(minilm_path())
    return name


def prepare_inputs(ds: Any, kind: str, modality: str, processor: Any, max_length: int = 128) -> Any:
    """Add what the strong model's forward takes: ``input_ids``/``attention_mask`` for an HF text model
    (``features`` and ``pixel_values`` are already there for probes and image models)."""
    if kind in ("probe", "cnn") or modality != "text":
        return ds
    return ds.map(lambda b: processor(b["text"], truncation=True, max_length=max_length), batched=True)
