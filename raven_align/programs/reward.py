"""The reward-modelling program (``raven-align reward``, ``recipes/reward_modeling``), on the embedded review
domains or any preference dataset.

``run_reward_modeling(script_args, training_args, model_args)`` loads the pairs, optionally labels the training
split with weak supervisors, trains a sequence-classification reward model with :class:`RavenRewardTrainer`
(plain Bradley–Terry for ``supervision="gt"``, the supervisor mixture otherwise; fitting lives in
:mod:`raven_align.pipeline.reward_models`), saves it, and measures held-out preference accuracy in its own domain
and on the other embedded domains.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..evaluation.reward_report import results_markdown, write_results
from ..pipeline.preference_arguments import RewardScriptArguments
from ..pipeline.reward_models import fit_reward_model, score_accuracy

logger = logging.getLogger(__name__)


def load_reward_data(args: RewardScriptArguments, weak: bool, seed: int) -> tuple[Any, dict[str, Any]]:
    """The training split and the test splits by name (``{name: Dataset}``, chosen = truly better).

    With ``weak`` the training pairs of an embedded domain come in a random order (the order carries no truth);
    otherwise chosen is the better response, as plain reward modelling needs. ``seed`` draws the split, pairing,
    orientation and subsamples (the program passes ``data_seed``, else ``seed``, of the training arguments).
    """
    from ..embedded import DOMAINS, load_preference_pairs, orient_pairs
    from ..pipeline.data import load_preference_splits
    from ..pipeline.names import embedded_key

    sizes = {
        "n_train": args.max_train_samples,
        "n_test": args.max_eval_samples,
        "max_chars": args.max_chars,
        "seed": seed,
    }
    data = load_preference_splits(
        str(args.dataset_name),
        config=args.dataset_config,
        max_train=args.max_train_samples,
        max_test=args.max_eval_samples,
        max_chars=args.max_chars,
        seed=seed,
        orientation="random" if weak else "truth",
        test_size=args.test_size,
        train_split=args.dataset_train_split,
        test_split=args.dataset_test_split,
    )
    train, own = data["train"], data["test"]
    if "gt_label" in own.column_names:
        own = orient_pairs(own, by="truth")
    if not weak and "gt_label" in train.column_names:
        # plain reward modelling learns chosen > rejected: put the truly better response first, as in the test split
        train = orient_pairs(train, by="truth")
    if weak and "gt_label" not in train.column_names:
        logger.warning(
            "The training pairs have no gt_label column: chosen/rejected are used in the order given"
        )
    own_key = embedded_key(args.dataset_name)
    tests = {own_key or str(args.dataset_name): own}
    others = list(DOMAINS) if args.eval_domains is None else [d for d in args.eval_domains if d != "none"]
    for domain in others:
        if embedded_key(domain) != own_key:
            tests[domain] = load_preference_pairs(
                embedded_key(domain) or domain, orientation="truth", **sizes
            )["test"]
    return train, tests


def supervisor_accuracy(labelled: dict[str, Any], names: list[str]) -> dict[str, dict[str, float]]:
    """``{supervisor: {test name: accuracy}}`` from judgement columns of truth-oriented test splits."""
    import numpy as np

    from ..columns import reward_columns
    from ..core.measures import preference_accuracy

    out: dict[str, dict[str, float]] = {}
    for name in names:
        c, r = reward_columns(name)
        out[name] = {  # a `column:x` supervisor is measured where the data has its columns
            t: preference_accuracy(np.asarray(ds[c]) - np.asarray(ds[r]))
            for t, ds in labelled.items()
            if c in ds.column_names and r in ds.column_names
        }
    return out


def label_splits(
    train: Any,
    tests: dict[str, Any],
    specs: list[str],
    args: RewardScriptArguments,
    max_length: int | None,
    training_args: Any = None,
) -> tuple[Any, dict[str, Any], list[dict]]:
    """Label the training pairs and the test pairs (to report the supervisors' accuracies) with the supervisors
    of ``specs``; returns (labelled train, labelled tests, the supervisors' provenance entries, in training
    order). Judgement columns the training pairs already have are trained on only when named (``column:x``),
    refused otherwise; the options of ``training_args`` that depend on the supervisors, and the checkpoint's
    supervisors, are checked before any scoring."""
    from ..labeling import label_dataset, read_provenance
    from ..pipeline.checks import check_given_judgements
    from ..pipeline.specs import build_supervisor

    supervisors = [
        build_supervisor(s, batch_size=args.supervisor_batch_size, max_length=max_length, task="preference")
        for s in specs
    ]
    to_label, order = check_given_judgements(supervisors, train.column_names)
    if training_args is not None:
        from ..pipeline.checks import check_checkpoint_supervisors

        names = list(training_args.supervisor_names or order)
        training_args.validate_supervisors(names)
        if training_args.resume_from_checkpoint:
            check_checkpoint_supervisors(training_args.resume_from_checkpoint, names)
    kw = {"cache": args.label_cache, "show_progress": True}
    labelled_train = label_dataset(train, to_label, **kw) if to_label else train
    labelled_tests = {t: label_dataset(ds, to_label, **kw) if to_label else ds for t, ds in tests.items()}
    # the labelling provenance of each supervisor (a `column:x` one: the data's own entry, if it carries one)
    recorded = {e["name"]: e for e in (read_provenance(labelled_train) or {}).get("supervisors", [])}
    described = {s.name: s.describe() for s in supervisors}
    return labelled_train, labelled_tests, [recorded.get(n, described[n]) for n in order]


def check_run(script_args: RewardScriptArguments, training_args: Any, model_args: Any) -> Any:
    """The checks before any work (supervision, output folder, checkpoint, Hub access, model source); returns the
    push held back until the outputs are written (see :func:`~raven_align.pipeline.outputs.hold_push`)."""
    from ..pipeline.checks import check_label_model, check_model_source
    from ..pipeline.outputs import hold_push, prepare_output_dir

    if training_args.supervision != "gt" and not script_args.supervisors:
        raise ValueError(
            f"supervision={training_args.supervision!r} learns from weak supervisors: give "
            "--supervisors (e.g. embedded:vader); for plain reward modelling pass --supervision gt"
        )
    training_args.resume_from_checkpoint = prepare_output_dir(
        training_args.output_dir, script_args.overwrite_output_dir, training_args.resume_from_checkpoint
    )
    held_push = hold_push(training_args)
    check_model_source(model_args.model_name_or_path)
    if script_args.supervisors and training_args.supervision != "gt":
        check_label_model(training_args, len(training_args.supervisor_names or script_args.supervisors))
    return held_push


def run_reward_modeling(
    script_args: RewardScriptArguments, training_args: Any, model_args: Any, save: bool = True
) -> dict[str, Any]:
    """Load, (label,) train, save, evaluate; returns the results written to ``results.json``/``results.md``."""
    from ..columns import JUDGEMENT_PREFIXES
    from ..pipeline.outputs import push_outputs, run_config

    held_push = check_run(script_args, training_args, model_args)
    specs = list(script_args.supervisors or [])
    gt = training_args.supervision == "gt"
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    train, tests = load_reward_data(script_args, weak=not gt, seed=seed)
    sup_acc, provenance = {}, []
    if specs:
        # every process scores its share of the rows (labelling gathers the shares)
        train, labelled, provenance = label_splits(
            train, tests, specs, script_args, training_args.max_length, training_args
        )
        sup_acc = supervisor_accuracy(labelled, [e["name"] for e in provenance])
    if gt and not training_args.gt_column:
        # Plain reward modelling on truth-ordered pairs: the judgements were only needed for the report.
        train = train.remove_columns([c for c in train.column_names if c.startswith(JUDGEMENT_PREFIXES)])
    start = time.perf_counter()
    trainer = fit_reward_model(train, training_args, model_args, held_push if save else None)
    seconds = time.perf_counter() - start
    if save:
        trainer.save_model(training_args.output_dir)
    results: dict[str, Any] = {}
    supervisors = [{k: e[k] for k in ("name", "kind", "identity", "settings")} for e in provenance]
    if trainer.accelerator.is_main_process:
        accuracy = score_accuracy(
            trainer.model,
            trainer.processing_class,
            tests,
            training_args.max_length,
            script_args.supervisor_batch_size,
            str(trainer.accelerator.device),
        )
        results = {
            "model": model_args.model_name_or_path or "embedded:minilm",
            "dataset": script_args.dataset_name,
            "supervision": training_args.supervision,
            "n_train": len(train),
            "n_test": {t: len(ds) for t, ds in tests.items()},
            "train_seconds": round(seconds, 1),
            "steps": trainer.state.global_step,
            "accuracy": accuracy,
            "supervisor_accuracy": sup_acc,
            "weights": trainer.raven_weights.as_dict() if specs else {},
            "supervisors": supervisors,
            "settings": {
                k: getattr(training_args, k)
                for k in (
                    "max_length",
                    "per_device_train_batch_size",
                    "learning_rate",
                    "num_train_epochs",
                    "max_steps",
                    "seed",
                    "supervisor_lr",
                    "weight_update_rule",
                    "weight_objective",
                    "easy_phase_fraction",
                )
            },
            "config": run_config(
                script_args, training_args, model_args, supervisors, pushed=held_push is not None
            ),
        }
        write_results(results, training_args.output_dir)
    trainer.accelerator.wait_for_everyone()
    if save:
        push_outputs(trainer, held_push, training_args.output_dir)
    return results


def make_parser():
    """The program's parser: `RewardScriptArguments`, `RavenRewardConfig` and TRL's `ModelConfig`."""
    from trl import ModelConfig

    from ..pipeline.deprecations import ProgramParser
    from ..trainers import RavenRewardConfig

    return ProgramParser((RewardScriptArguments, RavenRewardConfig, ModelConfig), program="reward")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (default: the command line), train and evaluate; print the table on the main process."""
    from transformers.utils import logging as hf_logging

    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    if script_args.torch_threads:
        import torch

        torch.set_num_threads(script_args.torch_threads)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    hf_logging.set_verbosity_error()
    results = run_reward_modeling(script_args, training_args, model_args)
    if results:  # the main process
        print(results_markdown(results))
    return results


if __name__ == "__main__":
    main()
