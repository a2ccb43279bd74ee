"""The classification recipes' machinery: partitioning, corruptions, weak supervisors, a tiny end-to-end run
from a local ``datasets`` folder through the recipe's YAML parser, and the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset

from raven_align.evaluation.classification_report import summarize
from raven_align.pipeline.classification.images import blur, corrupt, rotate, to_tensor
from raven_align.pipeline.classification.partition import Source, partition

pytestmark = pytest.mark.usefixtures("one_thread")


def test_partition_keeps_weak_and_strong_rows_apart():
    train_dom = np.array(["a"] * 40 + ["b"] * 20 + ["t"] * 30)
    test_dom = np.array(["a"] * 10 + ["b"] * 10 + ["t"] * 10)
    sources = {
        "s1": Source(["a"]),
        "s2": Source(["a"], {"contrast": 0.5}),
        "s3": Source(["b"]),
        "lex": Source([]),
    }
    p = partition(train_dom, test_dom, sources, Source(["t"]), seed=0)
    weak_rows = set(np.concatenate(list(p.weak.values())).tolist())
    assert len(p.weak["lex"]) == 0 and len(p.weak["s1"]) == 20 and len(p.weak["s3"]) == 10
    id_rows = [set(r.tolist()) for _, r in p.train["id"]]
    assert [s.name for s, _ in p.train["id"]] == ["a", "a+contrast=0.5", "b"]
    assert not weak_rows & set().union(*id_rows)  # no strong example was seen by a supervisor
    assert not id_rows[0] & id_rows[1]  # sources sharing a domain get disjoint rows
    assert set(train_dom[list(p.train["ood"][0][1])]) == {"t"} and len(p.train["ood"][0][1]) == 30
    assert sum(len(r) for _, r in p.test["id"]) == 20 and len(p.test["ood"][0][1]) == 10
    again = partition(train_dom, test_dom, sources, Source(["t"]), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(p.weak.values(), again.weak.values(), strict=True))
    with pytest.raises(ValueError, match="not in the data"):
        partition(train_dom, test_dom, {"x": Source(["zz"])}, Source(["t"]), seed=0)


def test_image_tensors_and_corruptions():
    uci_like = [np.full((8, 8), 16.0)]  # UCI's 0..16 scale
    mnist_like = [np.full((28, 28), 255.0)]
    assert torch.allclose(to_tensor(uci_like + mnist_like, 16), torch.ones(2, 1, 16, 16))
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    b = blur(x, 1.0)
    assert b.sum().item() == pytest.approx(1.0, abs=1e-5) and b[0, 0, 4, 4] < 0.3  # mass kept, spread out
    bar = torch.zeros(1, 1, 9, 9)
    bar[0, 0, :, 4] = 1.0
    assert torch.allclose(rotate(bar, 90.0)[0, 0, 4, 1:-1], torch.ones(7), atol=1e-5)  # vertical → horizontal
    low = corrupt(torch.ones(2, 1, 4, 4), {"contrast": 0.3})
    assert torch.allclose(low, torch.full_like(low, 0.65))
    noisy = corrupt(torch.full((2, 1, 4, 4), 0.5), {"noise": 0.2}, seed=3)
    assert torch.equal(noisy, corrupt(torch.full((2, 1, 4, 4), 0.5), {"noise": 0.2}, seed=3))
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(x, {"fog": 1.0})


def _tiny_images(path, n: int = 240) -> None:
    """Two domains of 8×8 'images' whose class is the bright half (left/right/top), one domain inverted."""
    g = np.random.default_rng(0)
    images, labels, domains = [], [], []
    for i in range(n):
        y = i % 3
        img = g.random((8, 8)) * 0.3
        if y == 0:
            img[:, :4] += 0.7
        elif y == 1:
            img[:, 4:] += 0.7
        else:
            img[:4] += 0.7
        dom = "src" if i % 2 else "tgt"
        images.append(np.clip(img if dom == "src" else 1 - img, 0, 1).tolist())
        labels.append(y)
        domains.append(dom)
    Dataset.from_dict({"img": images, "y": labels, "dom": domains}).save_to_disk(str(path))


def test_tiny_image_recipe_end_to_end_from_yaml(tmp_path):
    pytest.importorskip("sklearn", reason="the recipes' weak supervisors need scikit-learn")
    from trl import TrlParser

    from raven_align.evaluation.classification_report import write_report
    from raven_align.programs.classify import W2SArguments, run_recipe
    from raven_align.trainers import RavenClassificationConfig

    _tiny_images(tmp_path / "data")
    config = {
        "dataset_name": str(tmp_path / "data"),
        "modality": "image",
        "input_column": "img",
        "dataset_label_column": "y",
        "domain_column": "dom",
        "image_size": 8,
        "supervisors": {
            "good": {"kind": "logreg", "domains": ["src"]},
            "flipped": {"kind": "logreg", "domains": ["src"], "corruption": {"invert": 1}},
        },
        "ood_domains": ["tgt"],
        "val_size": 10,
        "model_name_or_path": "cnn",
        "seeds": [0, 1],
        "methods": {
            "gt": {"supervision": "gt"},
            "ens": {"supervision": "ens"},
            "select": {"supervision": "select"},
            "raven": {"weight_update_rule": "exponentiated", "supervisor_lr": 0.5},
        },
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
    }
    (tmp_path / "c.yaml").write_text(json.dumps(config))  # JSON is YAML
    recipe, training = TrlParser((W2SArguments, RavenClassificationConfig)).parse_args_and_config(
        ["--config", str(tmp_path / "c.yaml"), "--num_train_epochs", "3", "--only", "gt,ens,select,raven"]
    )
    assert training.num_train_epochs == 3 and recipe.supervisors["flipped"]["corruption"] == {"invert": 1}
    results = run_recipe(recipe, training)
    assert {(r["scenario"], r["method"]) for r in results["runs"]} == {
        (s, m) for s in ("id", "ood") for m in ("gt", "ens", "select", "raven")
    }
    assert len(results["runs"]) == 16 and results["supervisor_names"] == ["good", "flipped"]
    ood = [s for s in results["supervisors"] if s["scenario"] == "ood"]
    assert all(s["accuracy"][1] > s["accuracy"][0] for s in ood)  # the target is inverted: `flipped` fits it
    md = write_report(results, training.output_dir, "tiny")
    assert "| raven |" in md and (tmp_path / "out" / "raven_weights.png").is_file()
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    histories = json.loads((tmp_path / "out" / "weight_histories.json").read_text())
    assert saved[0]["seed"] == 0 and len(histories) == len(saved) == 16
    from raven_align.utils.version import __version__

    config = json.loads((tmp_path / "out" / "results.json").read_text())["config"]
    assert config["version"] == __version__ and config["script"]["model_name_or_path"] == "cnn"
    assert config["training"]["num_train_epochs"] == 3 and "weight_init" in config["training"]
    pairs = [(s["seed"], s["name"]) for s in config["supervisors"]]
    assert pairs == [(seed, name) for seed in (0, 1) for name in ("good", "flipped")]
    assert all(s["identity"] for s in config["supervisors"])  # each seed's own fitted models
    # results.json keeps each run's first and last weights; the per-step history sits beside it
    raven = next(i for i, r in enumerate(results["runs"]) if r["method"] == "raven" and len(r["history"]) > 2)
    assert saved[raven]["history"] == [
        results["runs"][raven]["history"][0],
        results["runs"][raven]["history"][-1],
    ]
    assert histories[raven]["history"] == results["runs"][raven]["history"]
    assert summarize({**results, "runs": saved}) == summarize(results)  # the tables need only the endpoints


def test_summary_pgr_and_rank_correlation():
    sup = [{"seed": 0, "scenario": "ood", "accuracy": [0.8, 0.6, 0.2], "uniform_mixture_accuracy": 0.5}]
    runs = [
        {
            "seed": 0,
            "scenario": "ood",
            "method": "gt",
            "supervision": "gt",
            "accuracy": 0.9,
            "mixture_accuracy": 0.5,
            "agreement": 0.5,
            "weights": [1 / 3] * 3,
            "history": [[1 / 3] * 3],
        },
        {
            "seed": 0,
            "scenario": "ood",
            "method": "raven",
            "supervision": "raven",
            "accuracy": 0.7,
            "mixture_accuracy": 0.7,
            "agreement": 0.9,
            "weights": [0.6, 0.3, 0.1],
            "history": [[1 / 3] * 3, [0.6, 0.3, 0.1]],
        },
    ]
    s = summarize({"supervisors": sup, "runs": runs, "supervisor_names": ["a", "b", "c"]})["ood"]
    assert s["raven"]["pgr"] == pytest.approx((0.5, 0.0)) and s["raven"]["rank_correlation"] == (1.0, 0.0)
    assert math.isnan(s["gt"]["rank_correlation"]) and s["raven"]["weights"] == "0.60 / 0.30 / 0.10"


def test_text_embeddings_are_mean_pooled_normalised_and_cached(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from raven_align.pipeline.classification.features import text_embeddings

    texts = ["good food", "bad drug was awful", "a movie"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=40, special_tokens=["[PAD]", "[UNK]"])
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=16,
        )
    ).eval()
    model.save_pretrained(tmp_path / "enc")
    tokenizer.save_pretrained(tmp_path / "enc")
    emb = text_embeddings(
        texts, tmp_path / "enc", batch_size=2, cache_dir=tmp_path / "cache", show_progress=False
    )
    with torch.no_grad():  # one text at a time: no padding, so the mean is over its own tokens
        manual = torch.stack(
            [model(**tokenizer(t, return_tensors="pt")).last_hidden_state[0].mean(0) for t in texts]
        )
    torch.testing.assert_close(torch.from_numpy(emb), F.normalize(manual, dim=-1), atol=1e-5, rtol=0)
    assert len(list((tmp_path / "cache" / "features").rglob("*.npz"))) == 1
    again = text_embeddings(texts, tmp_path / "enc", cache_dir=tmp_path / "cache", show_progress=False)
    assert np.array_equal(emb, again)


def test_weak_supervisor_covers_every_class_and_keys_its_cache_by_the_fitted_model():
    pytest.importorskip("sklearn", reason="the recipes' weak supervisors need scikit-learn")
    from raven_align.pipeline.classification.weak import train_weak_supervisor

    x = np.random.default_rng(0).random((30, 1, 2, 2)).tolist()
    y = [0, 2] * 15  # class 1 never seen in the source domain
    sup = train_weak_supervisor("w", "logreg", "image", 3, x, y)
    p = sup.predict_proba(x)
    assert p.shape == (30, 3) and np.allclose(p.sum(1), 1) and np.all(p[:, 1] == 0)
    other = train_weak_supervisor("w", "logreg", "image", 3, x, y[::-1])
    assert sup.identity() != other.identity()


def test_custom_template_defaults_to_the_recommended_weighting_and_names_the_papers():
    """The users' template runs `raven` with WEIGHTING_PRESETS["recommended"]; `raven-paper` is the paper's rule."""
    from pathlib import Path

    from trl import TrlParser

    from raven_align.core import WEIGHTING_PRESETS
    from raven_align.programs.classify import W2SArguments
    from raven_align.trainers import RavenClassificationConfig

    path = Path(__file__).parents[1] / "recipes" / "classification" / "custom.yaml"
    args, base = TrlParser((W2SArguments, RavenClassificationConfig)).parse_args_and_config(
        ["--config", str(path), "--use_cpu", "true"]
    )
    for method, preset in (("raven", "recommended"), ("raven-paper", "paper")):
        resolved = {**vars(base), **args.methods[method]}
        assert {k: resolved[k] for k in WEIGHTING_PRESETS[preset]} == WEIGHTING_PRESETS[preset], method
