"""The preference-alignment program: RAVEN DPO of a LoRA-adapted LM from weak reward models.

Embedded assets or your data → labelling → training → held-out evaluation → adapter, card, results → Hub.

    raven-align dpo --config recipes/preference_alignment/embedded_default.yaml [--flag value ...]
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/preference_alignment/run.py \
        --config recipes/preference_alignment/embedded_default.yaml [--flag value ...]

Every `RavenDPOConfig` / `DPOConfig` field, TRL's `ModelConfig` flags (`--use_peft --lora_r ... --load_in_4bit`)
and script arguments (dataset mixture `datasets:` included) are accepted, plus the recipe's own
(:class:`PreferenceRecipeArguments`): a TRL or alignment-handbook DPO YAML runs once the supervisors are added. CLI
flags override the YAML; renamed options keep their old spellings (:mod:`raven_align.pipeline.deprecations`). With
`eval_strategy` other than `no`, the labelled held-out target pairs are the trainer's `eval_dataset`.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict
from functools import partial
from typing import Any

import torch
from accelerate.utils import gather_object
from transformers import set_seed
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..evaluation.generation import GenerationEvaluation
from ..evaluation.preference import preference_margins, preference_report
from ..evaluation.preference_report import add_pgr, final_metrics, results_markdown, split_results
from ..evaluation.sharing import backend_name
from ..labeling import label_dataset, read_provenance
from ..pipeline.caches import read_margins, reference_margin_cache, write_margins
from ..pipeline.checks import (
    check_checkpoint_supervisors,
    check_given_judgements,
    check_label_model,
    check_model_source,
)
from ..pipeline.data import persist_dataset, truth_of
from ..pipeline.deprecations import ProgramParser
from ..pipeline.gold import build_gold, check_gold_apart
from ..pipeline.mixture import load_pairs, mixture_name
from ..pipeline.names import check_policy, model_init_kwargs, name_hub_base, resolve_model
from ..pipeline.outputs import (
    hold_push,
    prepare_output_dir,
    push_checkpoints,
    push_outputs,
    run_config,
    supervisor_entries,
)
from ..pipeline.preference_arguments import PreferenceRecipeArguments
from ..trainers import RavenDPOConfig, RavenDPOTrainer
from ..utils.processes import all_true


def _truth(dataset, args: PreferenceRecipeArguments) -> list[bool]:
    """The truth of held-out pairs: the truth column if the data has one, else TRL's chosen-is-better."""
    column = args.truth_column if args.truth_column in dataset.column_names else None
    return truth_of(dataset, column)


#: where the reference's margins on a dataset are kept (beside the cached data), if anywhere, and their key
_reference_cache = reference_margin_cache


def _labelling(dataset, field: str = "cache") -> dict[str, Any]:
    """Per supervisor, how its judgements of ``dataset`` were obtained in this process (``cache``: ``hit`` from the
    cache, ``miss``) or how many of the rows this process scored (``rows_scored``)."""
    return {e["name"]: e.get(field) for e in (read_provenance(dataset) or {}).get("supervisors", [])}


def check_supervisors(training_args: RavenDPOConfig, names: list[str], checkpoint: str | None) -> None:
    """The options that depend on the supervisors, and the checkpoint's supervisors, before any labelling."""
    names = list(training_args.supervisor_names or names)
    training_args.validate_supervisors(names)
    if checkpoint:
        check_checkpoint_supervisors(checkpoint, names)


def supervisor_count(args: PreferenceRecipeArguments, training_args: RavenDPOConfig) -> int:
    """How many supervisors the run will have, known from the specs before any is built."""
    if training_args.supervisor_names:
        return len(training_args.supervisor_names)
    from ..pipeline.embedded_supervisors import DEFAULT_SUPERVISORS

    return sum(len(DEFAULT_SUPERVISORS) if s == "embedded" else 1 for s in args.supervisors)


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
                    spec,
                    batch_size=args.supervisor_batch_size,
                    max_length=args.supervisor_max_length,
                    task="preference",  # `column:x`: the data's own reward_chosen__x / reward_rejected__x
                )
            )
    return out


def generation_evaluation(
    args: PreferenceRecipeArguments, training_args: RavenDPOConfig, target: Any, seed: int
) -> GenerationEvaluation | None:
    """The evaluation of sampled completions, if asked; its gold model is built (or trained once) now, before any
    labelling."""
    if not args.evaluate_generations:
        return None
    distinct = len({repr(p) for p in target["prompt"]})
    if distinct < args.num_eval_prompts and training_args.process_index == 0:
        warnings.warn(
            f"num_eval_prompts={args.num_eval_prompts}, but the held-out target pairs have {distinct} distinct "
            f"prompt(s): the generation evaluation samples {'that one' if distinct == 1 else f'those {distinct}'}, "
            "and its 95% intervals "
            f"{'have zero width' if distinct == 1 else 'are that wide'}; raise max_eval_samples or test_size, or "
            "lower num_eval_prompts",
            UserWarning,
            stacklevel=2,
        )
    # every process builds (and later loads) its own whole copy: the gold model is never trained
    return GenerationEvaluation(args, target, _truth(target, args), seed, build_gold(args.gold_model))


def label_pairs(
    args: PreferenceRecipeArguments,
    training_args: RavenDPOConfig,
    train: Any,
    splits: dict[str, Any],
    checkpoint: str | None,
    gold: Any = None,
    before_scoring: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """The training and held-out pairs with the supervisors' judgements (cached: a rerun scores nothing).

    Every process builds the supervisors (each its own whole copy of a model) and scores its share of the rows;
    the shares are gathered and the first process of each machine writes the cache. The supervisors are dropped on
    return: no weak model stays in memory while the strong model trains. ``gold``: the gold model of the
    generation evaluation, which must not be one of the supervisors. ``before_scoring``: a last check to run once
    the supervisors are checked and before any row is scored.
    """
    supervisors = build_supervisors(args)
    # judgement columns the data already has are trained on only when named (`column:x`), refused otherwise
    to_label, names = check_given_judgements(supervisors, train.column_names)
    for k, v in splits.items():
        check_given_judgements(supervisors, v.column_names, f"the held-out {k} pairs", held_out=True)
    check_supervisors(training_args, names, checkpoint)  # before any scoring
    if gold is not None:
        check_gold_apart(gold, supervisors)
    if before_scoring is not None:
        before_scoring()
    train = persist_dataset(label_dataset(train, to_label) if to_label else train)
    splits = {k: persist_dataset(label_dataset(v, to_label) if to_label else v) for k, v in splits.items()}
    return train, splits


def build_trainer(
    training_args: RavenDPOConfig,
    model_args: ModelConfig,
    train: Any,
    args: PreferenceRecipeArguments | None = None,
    eval_dataset: Any = None,
) -> RavenDPOTrainer:
    """The trainer of the strong model, which TRL loads from its name (dtype, revision, 4/8-bit quantisation), as
    in its own scripts; ``eval_dataset``: the labelled held-out pairs it evaluates on as it trains (TRL's
    ``eval_strategy``), their truth in ``args.truth_column``."""
    set_seed(training_args.seed)  # the LoRA initialisation, hence the reference-cache key, is reproducible
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
        eval_dataset=eval_dataset,
        eval_gt_column=args.truth_column if args is not None else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    if args is not None and args.ignore_bias_buffers:  # TRL's scripts: DDP skips the boolean buffers
        buffers = trainer.model.named_buffers()
        trainer.model._ddp_params_and_buffers_to_ignore = [n for n, b in buffers if b.dtype == torch.bool]
    name_hub_base(trainer, model_path, hub_id)  # adapter_config.json names the Hub ID, not a local copy
    return trainer


def evaluate(
    trainer: RavenDPOTrainer,
    splits: dict[str, Any],
    args: PreferenceRecipeArguments,
    tag: str,
    reference: dict | None = None,
) -> dict[str, tuple[dict, dict]]:
    """``{split: (margins, report)}`` of the policy on the held-out pairs; ``reference``: the evaluation before
    training, whose reference margins are reused."""
    out = {}
    for name, ds in splits.items():
        # The reference never changes: score it once per data and model (cached on disk next to the data), and
        # before training it *is* the policy.
        # (Resuming loads the checkpoint inside train(): before it, the policy is still the reference.)
        cache, key = _reference_cache(ds, trainer)
        if reference is not None:
            ref = reference[name][0]["reference"]
        elif cache and all_true((cached := read_margins(cache, len(ds), key)) is not None):
            ref = cached  # verified against its key and checksum, on every process (all take one branch)
        else:
            ref = "policy"
        if isinstance(ref, list) and reference is None:  # before training, from the cache
            margins = {"policy": ref, "reference": ref, "h": [0.0] * len(ref)}
        else:
            margins = preference_margins(
                trainer,
                ds.select_columns(["prompt", "chosen", "rejected"]),
                args.eval_batch_size,
                desc=f"Evaluating {name} ({tag})",
                reference=ref,
            )
        if cache and not os.path.isfile(cache) and trainer.accelerator.is_main_process:
            write_margins(cache, margins["reference"], key)
        out[name] = (margins, preference_report(margins, _truth(ds, args)))
    return out


def train_and_evaluate(
    trainer: RavenDPOTrainer,
    splits: dict[str, Any],
    args: PreferenceRecipeArguments,
    generations: GenerationEvaluation | None,
    checkpoint: str | None,
) -> tuple[dict, dict, dict]:
    """Train, with the held-out evaluation before (the policy is the reference) and after; returns (before, after,
    timing)."""
    t0 = time.perf_counter()
    before = evaluate(trainer, splits, args, "before")
    eval_seconds = time.perf_counter() - t0
    if generations is not None:
        generations.sample_reference(trainer)  # before training, the policy is the reference
    t0 = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    after = evaluate(trainer, splits, args, "after", before)
    eval_seconds += time.perf_counter() - t0
    steps = trainer.state.global_step
    timing = {
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "steps": steps,
        "seconds_per_step": train_seconds / max(steps, 1),
        "train_loss": train_output.training_loss,
    }
    return before, after, timing


def split_reports(
    trainer: RavenDPOTrainer,
    splits: dict[str, Any],
    args: PreferenceRecipeArguments,
    training_args: RavenDPOConfig,
    before: dict,
    after: dict,
) -> dict:
    """results.json's weights, per-split numbers (with PGR on the target) and RAVEN settings."""
    names, weights = trainer.raven_weights.names, trainer.raven_weights.as_dict()
    ceiling = None
    if args.ceiling_results:
        with open(args.ceiling_results) as f:
            ceiling = json.load(f)["splits"]["target"]["strong_after"]["implicit_reward_accuracy"]
    results = {
        "supervision": training_args.supervision,
        "weights": weights,
        "splits": {},
        "recipe": asdict(args),
        "raven_loss_type": training_args.raven_loss_type,
        "supervisor_lr": training_args.supervisor_lr,
        "weight_objective": training_args.weight_objective,
    }
    for name, ds in splits.items():
        r = split_results(
            ds,
            _truth(ds, args),
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
    return results


def write_outputs(trainer, results: dict, args, model_args, held_push) -> None:
    """The final results logged (``log_history``, the ``report_to`` trackers) and summarised in the model card,
    ``trainer_state.json``, results.json and results.md (main process), then the push of the output folder, if
    asked."""
    out, data = trainer.args.output_dir, mixture_name(args)
    trainer.log_raven_results(final_metrics(results))
    card_name = trainer.args.hub_model_id or os.path.basename(os.path.normpath(out))
    trainer.create_model_card(model_name=card_name, dataset_name=data)
    trainer.save_state()
    if trainer.accelerator.is_main_process:
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(results_markdown(results, f"RAVEN DPO: {model_args.model_name_or_path} on {data}"))
    push_outputs(trainer, held_push, out, dataset_name=data)


def run(
    script_args: PreferenceRecipeArguments, training_args: RavenDPOConfig, model_args: ModelConfig
) -> dict:
    """Label, train, evaluate and save; returns the results written to ``results.json``."""
    start = time.perf_counter()
    checkpoint = prepare_output_dir(
        training_args.output_dir, script_args.overwrite_output_dir, training_args.resume_from_checkpoint
    )
    held_push = hold_push(training_args)  # checks Hub access now; pushes once the outputs are written
    check_model_source(model_args.model_name_or_path)
    check_label_model(training_args, supervisor_count(script_args, training_args))

    # 1. data and weak judgements
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    train, splits = load_pairs(script_args, seed)
    generations = generation_evaluation(script_args, training_args, splits["target"], seed)
    gold = generations.gold if generations is not None else None
    # the policy's config and tokenizer are resolved before labelling, which can take hours
    policy = partial(check_policy, model_args)
    train, splits = label_pairs(script_args, training_args, train, splits, checkpoint, gold, policy)
    labelling_seconds = time.perf_counter() - start
    labelled = {"train": train, **splits}
    labelling = {k: _labelling(v) for k, v in labelled.items()}
    scored = {k: {"rows": len(v), "scored_here": _labelling(v, "rows_scored")} for k, v in labelled.items()}

    # 2. the strong model and the trainer (evaluating on the held-out target pairs as it trains, if asked)
    eval_dataset = splits["target"] if training_args.eval_strategy != "no" else None
    trainer = build_trainer(training_args, model_args, train, script_args, eval_dataset)
    if script_args.dry_run:
        return {"dry_run": True, "supervisors": trainer.raven_weights.names, "train_pairs": len(train)}
    push_checkpoints(trainer, held_push)  # hub_strategy: the saves during training push as in TRL

    # 3. training, with held-out evaluation before and after it
    before, after, timing = train_and_evaluate(trainer, splits, script_args, generations, checkpoint)

    # 4. outputs: adapter, results (logged and in the card), weights plot
    trainer.save_model()
    results = split_reports(trainer, splits, script_args, training_args, before, after)
    results["timing"] = {
        "wall_seconds": time.perf_counter() - start,
        "labelling_seconds": labelling_seconds,
        **timing,
    }
    if generations is not None:  # every process samples and scores its share of the prompts
        results["generations"] = generations.evaluate(trainer)
        results["timing"]["generation_seconds"] = results["generations"]["seconds"]
    # per process: the labelling-cache status and the rows it scored (each scores its share; 0 on a cache hit)
    results["processes"] = {
        "world_size": training_args.world_size,
        "backend": backend_name(trainer),
        "labelling_cache": gather_object([labelling]),
        "rows_scored": gather_object([scored]),
    }
    results["config"] = run_config(
        script_args, training_args, model_args, supervisor_entries(train), pushed=held_push is not None
    )
    write_outputs(trainer, results, script_args, model_args, held_push)
    return results


def make_parser() -> ProgramParser:
    """The recipe's parser: its own arguments, `RavenDPOConfig` and TRL's `ModelConfig` (YAML via --config)."""
    return ProgramParser((PreferenceRecipeArguments, RavenDPOConfig, ModelConfig), program="dpo")


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
