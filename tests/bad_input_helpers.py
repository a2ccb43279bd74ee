"""Shared inputs of the bad-input tests (docs/bad_inputs.md): data and configs that must fail early, and
spies that raise if an expensive step starts."""

import json
from pathlib import Path

import numpy as np
from datasets import Dataset

NEVER = "org/never-loaded"  # a model the trainers must not get to load
MISSING = "no/such/data.jsonl"  # data the recipes must not get to load
CATALOGUE = Path(__file__).parents[1] / "docs" / "bad_inputs.md"


def exploding_reward(prompts, completions, **kw):
    """A `callable:` supervisor that must never be called (the error has to come first)."""
    raise AssertionError("scoring started before the error")


def _pairs(n=6, **columns):
    rows = {
        "prompt": ["Review the film."] * n,
        "chosen": [f"great fun {i}" for i in range(n)],
        "rejected": [f"dull and slow {i}" for i in range(n)],
        "reward_chosen__a": [1.0 + i for i in range(n)],
        "reward_rejected__a": [0.0] * n,
        "reward_chosen__b": [0.0] * n,
        "reward_rejected__b": [0.5] * n,
    }
    rows.update(columns)
    return Dataset.from_dict(rows)


def _dpo_config(tmp_path, **kw):
    from raven_align.trainers import RavenDPOConfig

    base = dict(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none", save_strategy="no"
    )
    return RavenDPOConfig(**{**base, **kw})


def _dpo_trainer(tmp_path, dataset, **kw):
    """A RavenDPOTrainer whose model would only be loaded after the checks (it does not exist)."""
    from raven_align.trainers import RavenDPOTrainer

    return RavenDPOTrainer(NEVER, args=_dpo_config(tmp_path, **kw), train_dataset=dataset)


CPU = ["--use_cpu", "true", "--bf16", "false", "--report_to", "none", "--gradient_checkpointing", "false"]


def _dpo(tmp_path, *argv, data=MISSING):
    from raven_align.programs import dpo

    args = ["--dataset_name", str(data), "--supervisors", "length", "--model_name_or_path", NEVER, *CPU]
    args += ["--output_dir", str(tmp_path / "out"), *argv]
    return dpo.run(*dpo.make_parser().parse_args_and_config(args))


def _full(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text('{"earlier": "run"}')
    return path


def _untouched(path: Path) -> bool:
    return [p.name for p in path.iterdir()] == ["results.json"] and "earlier" in (
        path / "results.json"
    ).read_text()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS = [{"prompt": "Review.", "chosen": f"good and fun {i}", "rejected": f"bad {i}"} for i in range(6)]


def _images(path, n=60):
    g = np.random.default_rng(0)
    rows = {"img": [], "y": [], "dom": [], "p": []}
    for i in range(n):
        rows["img"].append(g.random((4, 4)).tolist())
        rows["y"].append(i % 3)
        rows["dom"].append("src" if i % 2 else "tgt")
        rows["p"].append(np.eye(3)[i % 3].tolist())
    Dataset.from_dict(rows).save_to_disk(str(path))


def _w2s(tmp_path, supervisors, dataset=None, **extra):
    from trl import TrlParser

    from raven_align.programs.classify import W2SArguments
    from raven_align.trainers import RavenClassificationConfig

    config = {
        "dataset_name": str(dataset or tmp_path / "data"),
        "modality": "image",
        "input_column": "img",
        "dataset_label_column": "y",
        "domain_column": "dom",
        "image_size": 4,
        "supervisors": supervisors,
        "ood_domains": ["tgt"],
        "seeds": [0],
        "model_name_or_path": "cnn",
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": "none",
        **extra,
    }
    (tmp_path / "w2s.yaml").write_text(json.dumps(config))
    return TrlParser((W2SArguments, RavenClassificationConfig)).parse_args_and_config(
        ["--config", str(tmp_path / "w2s.yaml")]
    )
