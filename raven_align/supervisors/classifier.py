"""Classifiers (HF text or image classification models, or plain torch modules) as supervisors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._hf import HFModelSource, default_name, ensure_pad_token, eval_mode, pad_right, tokenizer_identity
from .base import Supervisor, length_sorted_batches, no_progress


class ClassifierSupervisor(Supervisor):
    """Class probabilities ``softmax(logits)`` from a classifier.

    - HF sequence classification: ``inputs`` are strings, ``processor`` is the tokenizer (defaults to the model's);
    - HF image classification: ``inputs`` are images, ``processor`` an image processor (defaults to the model's);
    - plain ``torch.nn.Module``: ``inputs`` are arrays/tensors stacked into a batch (or ``transform`` maps a list
      of inputs to a batch tensor), and the module returns logits (``outputs="logits"``) or probabilities.

    Text is length-sorted into batches and truncated to ``max_length`` tokens.
    """

    kind = "classifier"

    def __init__(
        self,
        model: Any,
        processor: Any = None,
        *,
        name: str | None = None,
        modality: str = "auto",
        revision: str | None = None,
        batch_size: int = 32,
        max_length: int | None = 512,
        transform: Callable[[list], Any] | None = None,
        outputs: str = "logits",
        device: str | None = None,
        dtype: Any = None,
        show_progress: bool = True,
        model_kwargs: dict | None = None,
    ):
        super().__init__(name or default_name(model, "classifier"), "classification")
        if outputs not in ("logits", "probs"):
            raise ValueError(f"outputs must be 'logits' or 'probs', got {outputs!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.src = HFModelSource(model, revision, device, dtype, model_kwargs)
        self.src.require_head(("Classification",), "classifier")
        if modality == "auto":
            modality = self._guess_modality(model, processor)
        if modality not in ("text", "image", "tensor"):
            raise ValueError(f"modality must be 'text', 'image', 'tensor' or 'auto', got {modality!r}")
        self.modality = modality
        self.processor = self._load_processor(processor, model) if modality != "tensor" else None
        if modality == "text":
            ensure_pad_token(self.processor)
        self.batch_size, self.max_length = batch_size, max_length
        self.transform, self.outputs, self.show_progress = transform, outputs, show_progress

    @staticmethod
    def _guess_modality(model: Any, processor: Any) -> str:
        if hasattr(processor, "tokenize") or (
            processor is None
            and hasattr(model, "config")
            and getattr(model, "main_input_name", "") == "input_ids"
        ):
            return "text"
        if processor is not None or getattr(model, "main_input_name", "") == "pixel_values":
            return "image"
        if isinstance(model, str):
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model)
            return "image" if hasattr(config, "image_size") or hasattr(config, "num_channels") else "text"
        return "tensor"

    def _load_processor(self, processor: Any, model: Any):
        if processor is not None and not isinstance(processor, str):
            return processor
        source = processor or (model if isinstance(model, str) else None)
        if source is None:
            raise ValueError(
                f"ClassifierSupervisor({self.modality}) needs a processor when the model is an object"
            )
        from transformers import AutoImageProcessor, AutoTokenizer

        auto = AutoTokenizer if self.modality == "text" else AutoImageProcessor
        kwargs = {"revision": self.src.revision} if self.src.revision and not self.src.is_local else {}
        return auto.from_pretrained(str(source), **kwargs)

    def identity(self) -> dict[str, Any]:
        out = dict(self.src.identity())
        if self.processor is not None:
            out["processor_sha256"] = tokenizer_identity(self.processor)
        if self.transform is not None:
            from ..utils.hashing import hash_callable

            out["transform"] = hash_callable(self.transform)
        return out

    def settings(self) -> dict[str, Any]:
        out = {
            "batch_size": self.batch_size,
            "modality": self.modality,
            "outputs": self.outputs,
            "dtype": self.src.dtype_setting,
        }
        if self.modality == "text":
            out["max_length"] = self.max_length
        return out

    def _forward(self, model: Any, items: list):
        import torch

        if self.modality == "text":
            ids = [
                list(
                    self.processor(t, truncation=self.max_length is not None, max_length=self.max_length)[
                        "input_ids"
                    ]
                )
                for t in items
            ]
            input_ids, mask = pad_right(ids, self.processor.pad_token_id, self.src.device)
            return model(input_ids=input_ids, attention_mask=mask).logits
        if self.modality == "image":
            pixels = self.processor(images=items, return_tensors="pt")["pixel_values"]
            return model(pixel_values=pixels.to(self.src.device, dtype=next(model.parameters()).dtype)).logits
        batch = (
            self.transform(items)
            if self.transform is not None
            else torch.stack([torch.as_tensor(x) for x in items])
        )
        param = next(model.parameters(), None)
        batch = batch.to(
            self.src.device,
            dtype=param.dtype if param is not None and batch.is_floating_point() else batch.dtype,
        )
        out = model(batch)
        return getattr(out, "logits", out)

    def predict_proba(self, inputs: list, **columns: Any) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        if len(inputs) == 0:
            raise ValueError("predict_proba needs at least one input")
        auto = None
        if self.src.source is not None:
            from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

            auto = (
                AutoModelForSequenceClassification
                if self.modality == "text"
                else AutoModelForImageClassification
            )
        model = self.src.get(auto, strict_head=auto is not None)
        if self.modality == "text":
            ensure_pad_token(self.processor, model)
            lengths = [len(t) for t in inputs]  # characters: a cheap proxy that avoids tokenizing twice
            batches = length_sorted_batches(lengths, self.batch_size)
        else:
            order = np.arange(len(inputs))
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        probs: np.ndarray | None = None
        bar = tqdm(
            total=len(inputs), desc=f"Classifying with {self.name}", disable=no_progress(self.show_progress)
        )
        with torch.inference_mode(), eval_mode(model):
            for batch in batches:
                out = self._forward(model, [inputs[i] for i in batch]).float()
                p = torch.softmax(out, dim=-1) if self.outputs == "logits" else out
                if probs is None:
                    probs = np.empty((len(inputs), p.shape[-1]), dtype=np.float64)
                probs[batch] = p.cpu().numpy()
                bar.update(len(batch))
        bar.close()
        return probs
