"""The preference-alignment program: RAVEN DPO of a LoRA-adapted LM from weak reward models.

Embedded assets or your data → labelling → training → held-out evaluation → adapter, card, results → Hub.

    raven-align dpo --config recipes/preference_alignment/embedded_default.yaml [--flag value ...]
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/preference_alignment/run.py \
        --config recipes/preference_alignment/embedded_default.yaml [--flag value ...]

Every `RavenDPOConfig` / `DPOConfig` field and TRL's `ModelConfig` flags (`--use_peft --lora_r ...
--load_in_4bit`) are accepted, plus the recipe's own below. CLI flags override the YAML.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

from accelerate.utils import gather_object
from transformers import set_seed
from trl import ModelConfig, TrlParser, get_peft_config, get_quantization_config

from ..evaluation.generation import GenerationEvaluation
from ..evaluation.preference import preference_margins, preference_report
from ..evaluation.preference_report import add_pgr, results_markdown, split_results
from ..labeling import label_dataset, read_provenance
from ..pipeline.caches import read_margins, write_margins
from ..pipeline.checks import check_checkpoint_supervisors, check_model_source, resolve_checkpoint, spec_list
from ..pipeline.data import load_preference_splits, persist_dataset, truth_of
from ..pipeline.gold import build_gold
from ..pipeline.names import model_init_kwargs, resolve_model
from ..pipeline.outputs import check_output_dir, hold_push, push_outputs
from ..trainers import RavenDPOConfig, RavenDPOTrainer


@dataclass
class PreferenceRecipeArguments:
    dataset_name: str = field(
        default="embedded:rotten_tomatoes",
        metadata={
            "help": "Target pairs: `embedded:<domain>`, a Hub ID, a save_to_disk folder, a folder of "
            "JSON/JSONL/CSV/Parquet files or one such file; TRL's standard, conversational or implicit-prompt form."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    dataset_data_dir: str | None = field(
        default=None, metadata={"help": "Hub dataset data_dir (e.g. harmless-base)."}
    )
    id_dataset_name: str | None = field(
        default=None,
        metadata={"help": "In-distribution pairs (the supervisors' source domain) for a second evaluation."},
    )
    id_dataset_data_dir: str | None = field(default=None, metadata={"help": "data_dir of the ID dataset."})
    supervisors: list[str] = field(
        default_factory=lambda: ["embedded"],
        metadata={
            "help": "Supervisor specs (see `raven-align label --help`); `embedded` = the default movie supervisors."
        },
    )
    test_size: float = field(
        default=0.2, metadata={"help": "Held-out share (or count) of data with a train split only (seeded)."}
    )
    max_train_pairs: int | None = field(
        default=None, metadata={"help": "Seeded subsample of the train pairs."}
    )
    max_eval_pairs: int | None = field(default=200, metadata={"help": "Seeded subsample of each test split."})
    max_chars: int | None = field(default=None, metadata={"help": "Embedded data: drop longer reviews."})
    supervisor_batch_size: int = field(default=32, metadata={"help": "Batch size of labelling."})
    supervisor_max_length: int = field(default=128, metadata={"help": "Token limit of reward-model scoring."})
    eval_batch_size: int = field(default=16, metadata={"help": "Batch size of held-out scoring."})
    truth_column: str = field(
        default="gt_label",
        metadata={
            "help": "Column of the held-out pairs true where the presented `chosen` is better; if absent, `chosen` is."
        },
    )
    ceiling_results: str | None = field(
        default=None, metadata={"help": "results.json of a `gt` run with the same settings, for PGR."}
    )
    evaluate_generations: bool = field(
        default=False,
        metadata={
            "help": "Sample completions of held-out prompts before and after training and score them with "
            "`gold_model` (gold reward, win rate, KL(π‖π_ref), each with a bootstrap 95%% interval)."
        },
    )
    gold_model: str | None = field(
        default=None,
        metadata={
            "help": "The gold reward model (an oracle trained on the target's truth, never a supervisor): "
            "`embedded:gold_rm`, a Hub ID or a folder of a sequence-classification reward model."
        },
    )
    num_eval_prompts: int = field(
        default=64, metadata={"help": "Held-out prompts to sample completions for."}
    )
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens sampled per completion."})
    generation_temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature (1: exact KL)."}
    )
    generation_top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (1: exact KL)."})
    generation_batch_size: int = field(default=16, metadata={"help": "Prompts sampled together (KV cache)."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow a non-empty output_dir."})
    dry_run: bool = field(default=False, metadata={"help": "Parse, validate and build, but do not train."})

    def __post_init__(self):
        if self.evaluate_generations and not self.gold_model:
            raise ValueError(
                "evaluate_generations needs gold_model (e.g. embedded:gold_rm, or a reward model ID)"
            )
        self.supervisors = spec_list(self.supervisors)  # YAML `supervisors: vader` is one spec
        if not self.supervisors:
            raise ValueError(
                "give at least one supervisor spec in `supervisors` (see `raven-align label --help`)"
            )


def _truth(dataset, args: PreferenceRecipeArguments) -> list[bool]:
    """The truth of held-out pairs: the truth column if the data has one, else TRL's chosen-is-better."""
    column = args.truth_column if args.truth_column in dataset.column_names else None
    return truth_of(dataset, column)


def _reference_cache(dataset, trainer) -> str | None:
    """Where the reference's margins on ``dataset`` are kept (beside the cached data), if anywhere."""
    model_hash = trainer.reference_cache_key()
    if not model_hash or not dataset.cache_files:
        return None
    return os.path.join(
        os.path.dirname(dataset.cache_files[0]["filename"]), f"raven_ref_margins-{model_hash}.json"
    )


def _cache_status(dataset) -> dict[str, str]:
    """How each supervisor's judgements of ``dataset`` were obtained in this process (``hit``: from the cache)."""
    return {e["name"]: e["cache"] for e in (read_provenance(dataset) or {}).get("supervisors", [])}


def check_supervisors(training_args: RavenDPOConfig, names: list[str], checkpoint: str | None) -> None:
    """The options that depend on the supervisors, and the checkpoint's supervisors, before any labelling."""
    names = list(training_args.supervisor_names or names)
    training_args.validate_supervisors(names)
    if checkpoint:
        check_checkpoint_supervisors(checkpoint, names)


def build_supervisors(args: PreferenceRecipeArguments) -> list:
    """Supervisors from specs; `embedded` expands to the embedded default set for the movie target."""
    from ..pipeline.specs import build_supervisor

    out = []
    for spec in args.supervisors:
        if spec == "embedded":
            from ..pipeline.embedded_supervisors import embedded_supervisors

            out += embedded_supervisors(batch_size=args.supervisor_batch_size)
        else:
            out.append(
                build_supervisor(
                    spec, batch_size=args.supervisor_batch_size, max_length=args.supervisor_max_length
                )
            )
    return out


def run(
    script_args: PreferenceRecipeArguments, training_args: RavenDPOConfig, model_args: ModelConfig
) -> dict:
    """Label, train, evaluate and save; returns the results written to ``results.json``."""
    start = time.perf_counter()
    checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    check_output_dir(training_args.output_dir, script_args.overwrite_output_dir, checkpoint)
    held_push = hold_push(training_args)  # checks Hub access now; pushes once the outputs are written
    check_model_source(model_args.model_name_or_path)

    # 1. data and weak judgements (cached: a rerun scores nothing)
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    load = dict(
        max_train=script_args.max_train_pairs,
        max_test=script_args.max_eval_pairs,
        max_chars=script_args.max_chars,
        test_size=script_args.test_size,
        seed=seed,
    )
    target = load_preference_splits(
        script_args.dataset_name,
        config=script_args.dataset_config,
        data_dir=script_args.dataset_data_dir,
        **load,
    )
    splits = {"target": target["test"]}
    if script_args.id_dataset_name:
        splits["in_distribution"] = load_preference_splits(
            script_args.id_dataset_name, data_dir=script_args.id_dataset_data_dir, **load
        )["test"]
    generations = None
    if script_args.evaluate_generations:  # the gold model is built (or trained once) before any labelling
        with training_args.main_process_first(desc="gold model"):
            generations = GenerationEvaluation(
                script_args,
                splits["target"],
                _truth(splits["target"], script_args),
                seed,
                build_gold(script_args.gold_model),
            )
    # The main process builds the supervisors and labels first; the others then read the labelling cache.
    with training_args.main_process_first(desc="labelling"):
        supervisors = build_supervisors(script_args)
        check_supervisors(training_args, [s.name for s in supervisors], checkpoint)  # before any scoring
        train = persist_dataset(label_dataset(target["train"], supervisors))
        splits = {k: persist_dataset(label_dataset(v, supervisors)) for k, v in splits.items()}
    labelling_seconds = time.perf_counter() - start
    del supervisors  # no weak model stays in memory while the strong model trains
    labelling = {"train": _cache_status(train), **{k: _cache_status(v) for k, v in splits.items()}}

    # 2. the strong model and the trainer
    set_seed(training_args.seed)  # the LoRA initialisation, hence the reference-cache key, is reproducible
    # TRL loads the model from its name (dtype, revision, 4/8-bit quantisation), as in its own scripts.
    model_path, hub_id = resolve_model(model_args.model_name_or_path)
    training_args.model_init_kwargs = {
        **model_init_kwargs(model_args),
        **(training_args.model_init_kwargs or {}),
    }
    if training_args.base_model_id is None:
        training_args.base_model_id = hub_id
    trainer = RavenDPOTrainer(
        model_path,
        args=training_args,
        train_dataset=train,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    if script_args.dry_run:
        return {"dry_run": True, "supervisors": trainer.raven_weights.names, "train_pairs": len(train)}

    # 3. held-out evaluation before and after training
    def evaluate(tag: str, reference: dict | None) -> dict:
        out = {}
        for name, ds in splits.items():
            # The reference never changes: score it once per data and model (cached on disk next to the
            # data), and before training it *is* the policy.
            # (Resuming loads the checkpoint inside train(): before it, the policy is still the reference.)
            cache = _reference_cache(ds, trainer)
            if reference is not None:
                ref = reference[name][0]["reference"]
            elif cache and (cached := read_margins(cache, len(ds))) is not None:
                ref = cached  # verified against its checksum
            else:
                ref = "policy"
            if isinstance(ref, list) and reference is None:  # before training, from the cache
                margins = {"policy": ref, "reference": ref, "h": [0.0] * len(ref)}
            else:
                margins = preference_margins(
                    trainer,
                    ds.select_columns(["prompt", "chosen", "rejected"]),
                    script_args.eval_batch_size,
                    desc=f"Evaluating {name} ({tag})",
                    reference=ref,
                )
            if cache and not os.path.isfile(cache) and trainer.accelerator.is_main_process:
                write_margins(cache, margins["reference"])
            out[name] = (margins, preference_report(margins, _truth(ds, script_args)))
        return out

    t0 = time.perf_counter()
    before = evaluate("before", None)
    eval_seconds = time.perf_counter() - t0
    if generations is not None and trainer.accelerator.is_main_process:
        generations.sample_reference(trainer)  # before training, the policy is the reference
    t0 = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    after = evaluate("after", before)
    eval_seconds += time.perf_counter() - t0

    # 4. outputs: adapter, card, weights plot, results
    trainer.save_model()
    card_name = training_args.hub_model_id or os.path.basename(os.path.normpath(training_args.output_dir))
    trainer.create_model_card(model_name=card_name, dataset_name=script_args.dataset_name)
    names, weights = trainer.raven_weights.names, trainer.raven_weights.as_dict()
    ceiling = None
    if script_args.ceiling_results:
        with open(script_args.ceiling_results) as f:
            ceiling = json.load(f)["splits"]["target"]["strong_after"]["implicit_reward_accuracy"]
    results = {
        "supervision": training_args.supervision,
        "weights": weights,
        "splits": {},
        "recipe": asdict(script_args),
        "raven_loss_type": training_args.raven_loss_type,
        "supervisor_lr": training_args.supervisor_lr,
        "weight_objective": training_args.weight_objective,
    }
    for name, ds in splits.items():
        r = split_results(
            ds,
            _truth(ds, script_args),
            names,
            weights,
            trainer.raven_margin_scales,
            before[name][1],
            after[name][1],
            after[name][0]["h"],
        )
        if name == "target":
            add_pgr(r, ceiling)
        results["splits"][name] = r
    steps = trainer.state.global_step
    results["timing"] = {
        "wall_seconds": time.perf_counter() - start,
        "labelling_seconds": labelling_seconds,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "steps": steps,
        "seconds_per_step": train_seconds / max(steps, 1),
        "train_loss": train_output.training_loss,
    }
    if generations is not None and trainer.accelerator.is_main_process:
        results["generations"] = generations.evaluate(trainer)
        results["timing"]["generation_seconds"] = results["generations"]["seconds"]
    # every process's labelling-cache status (the main process scores, the others read its cache) and world size
    results["processes"] = {
        "world_size": training_args.world_size,
        "labelling_cache": gather_object([labelling]),
    }
    out = training_args.output_dir
    if trainer.accelerator.is_main_process:
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        title = f"RAVEN DPO: {model_args.model_name_or_path} on {script_args.dataset_name}"
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(results_markdown(results, title))
    push_outputs(trainer, held_push, out, dataset_name=script_args.dataset_name)
    return results


def make_parser() -> TrlParser:
    """The recipe's parser: its own arguments, `RavenDPOConfig` and TRL's `ModelConfig` (YAML via --config)."""
    return TrlParser((PreferenceRecipeArguments, RavenDPOConfig, ModelConfig))


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line), run the recipe, print a summary on the main process."""
    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    results = run(script_args, training_args, model_args)
    if training_args.process_index == 0:
        summary = {k: v for k, v in results.items() if k in ("weights", "timing", "dry_run")}
        print(json.dumps(summary, indent=1))
    return results


if __name__ == "__main__":
    main()
