"""The weak-to-strong classification program (``raven-align classify``, ``recipes/classification/run.py``):
weak supervisors on source domains → label → strong model, for every method, scenario (ID/OOD) and seed, for
text or images (``modality``). It parses :class:`W2SArguments` and a
:class:`~raven_align.trainers.RavenClassificationConfig` (the training settings every run shares); the results,
each run's and the full configuration, go to ``results.json``."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from transformers import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from ..columns import probs_column
from ..core.measures import accuracy, agreement
from ..pipeline.checks import check_label_model
from ..pipeline.classification.arguments import W2SArguments
from ..pipeline.classification.given import build_given, given_columns, label_set
from ..pipeline.classification.partition import Source, materialize, partition
from ..pipeline.classification.strong import build_strong_model, prepare_inputs, text_features
from ..pipeline.classification.weak import train_weak_supervisor
from ..pipeline.data import load_data, train_test
from ..pipeline.outputs import prepare_output_dir, run_config, supervisor_entries
from ..trainers.classification import RavenClassificationConfig, RavenClassificationTrainer

logger = logging.getLogger(__name__)


def _weak_sources(args: W2SArguments) -> dict[str, Source]:
    return {n: Source(list(s.get("domains", [])), s.get("corruption")) for n, s in args.supervisors.items()}


def run_recipe(args: W2SArguments, base: RavenClassificationConfig) -> dict:
    """Run everything; returns (and writes to ``base.output_dir/results.json``) the per-run results."""
    torch.set_num_threads(args.num_threads)
    check_run(args, base)
    data = load_data(args.dataset_name, task="classification", config=args.dataset_config)
    num_classes, class_names, given = _check_task(args, base, data)
    out = Path(base.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    supervisors_info: list[dict] = []
    identities: list[dict] = []  # each seed's supervisors (trained per seed), for the config record
    for seed in args.seeds:
        train, test = train_test(
            data,
            train_split=args.dataset_train_split,
            test_split=args.dataset_test_split,
            test_size=args.test_size,
            seed=seed,
        )
        feats = _features(args, train, test)
        part = partition(
            np.asarray(train[args.domain_column]),
            np.asarray(test[args.domain_column]),
            _weak_sources(args),
            Source(list(args.ood_domains or []), args.ood_corruption),
            seed,
            args.weak_fraction,
            args.max_weak_train,
            args.max_train_samples,
            args.max_eval_samples,
        )
        sups = _train_supervisors(args, train, part, num_classes, seed, given)
        names = [s.name for s in sups]
        for scenario in args.scenarios:
            sets = _labelled_sets(args, train, test, feats, part, scenario, sups, seed, num_classes)
            info = _supervisor_metrics(sets, names)
            supervisors_info.append({"seed": seed, "scenario": scenario, **info})
            if scenario == args.scenarios[0]:  # the same supervisors label every scenario of a seed
                identities += [{"seed": seed, **e} for e in supervisor_entries(sets["train"])]
            runs += _train_methods(args, base, sets, names, num_classes, seed, scenario, info["select"])
    results = {
        "supervisor_names": names,
        "supervisors": supervisors_info,
        "runs": runs,
        "recipe": dataclasses.asdict(args),
        "config": run_config(args, base, supervisors=identities),
    }
    if base.process_index == 0:  # every process trains the same runs; one writes
        write_results(results, out)
    return results


def check_run(args: W2SArguments, base: RavenClassificationConfig) -> None:
    """The checks before any work: training settings, no Hub push, and the output folder. Resuming continues the
    runs inside ``output_dir``, each from the last checkpoint in its own folder: ``base.resume_from_checkpoint``
    becomes ``output_dir`` then, None otherwise (``false`` is not resuming)."""
    if base.push_to_hub:
        raise ValueError(
            "push_to_hub: the classification program trains many strong models (one per method, scenario and "
            "seed), which would all be pushed to one repository, each over the last, while its results are not "
            "pushed; drop push_to_hub, and push the output folder after the run with "
            f"`hf upload {base.hub_model_id or 'your-name/repo'} {base.output_dir}`"
        )
    base.resume_from_checkpoint = prepare_output_dir(
        base.output_dir, args.overwrite_output_dir, base.resume_from_checkpoint, per_run=True
    )


def _train_methods(args, base, sets, names, num_classes, seed, scenario, select: str) -> list[dict]:
    """The strong model of every method on one seed and scenario's labelled sets; ``select``: the supervisor
    the ``select`` method picked (the best on the labelled validation slice)."""
    runs = []
    for method, overrides in args.method_table(names).items():
        overrides = dict(overrides)
        if overrides.get("supervision") == "select":
            overrides["naive_supervisor"] = select
        t0 = time.perf_counter()
        result = _train_strong(args, base, sets, names, num_classes, seed, scenario, method, overrides)
        result.update(seed=seed, scenario=scenario, method=method, seconds=time.perf_counter() - t0)
        runs.append(result)
        logger.warning(
            "seed %d %s %-22s acc %.3f  w %s  (%.1fs)",
            seed,
            scenario,
            method,
            result["accuracy"],
            np.round(result["weights"], 3).tolist(),
            result["seconds"],
        )
    return runs


def write_results(results: dict, out: Path) -> None:
    """``results.json`` with each run's weights at the first and last step only (small enough for git), and the
    per-step weight histories (what the plots draw) in ``weight_histories.json`` beside it."""
    runs = [{**r, "history": [r["history"][0], r["history"][-1]]} for r in results["runs"]]
    (out / "results.json").write_text(json.dumps({**results, "runs": runs}, default=float))
    histories = [{k: r[k] for k in ("scenario", "method", "seed", "history")} for r in results["runs"]]
    (out / "weight_histories.json").write_text(json.dumps(histories, default=float))


def _check_task(args: W2SArguments, base: RavenClassificationConfig, data) -> tuple[int, list | None, dict]:
    """The task's classes, the spec supervisors built and checked against them, and every method's settings,
    all before any weak model trains."""
    splits = [data] if hasattr(data, "features") else list(data.values())
    label = args.dataset_label_column
    feature = splits[0].features.get(label)
    if feature is None:
        raise ValueError(f"the dataset has no label column {label!r} (it has {splits[0].column_names})")
    num_classes = args.num_classes or int(max(max(s[label]) for s in splits)) + 1
    names = getattr(feature, "names", None)
    given = build_given(
        args.supervisors,
        splits[0].column_names,
        splits[0][0],
        num_classes,
        names,
        batch_size=32,
        max_length=args.max_length,
    )
    sup_names = list(args.supervisors)
    for method, overrides in args.method_table(sup_names).items():
        overrides = dict(overrides)
        if overrides.get("supervision") == "select":
            overrides["naive_supervisor"] = sup_names[0]
        try:
            config = dataclasses.replace(base, supervisor_names=sup_names, **overrides)
            check_label_model(config, len(sup_names), kind="probs")
        except (TypeError, ValueError) as e:
            raise ValueError(f"method {method!r} has invalid settings {overrides}: {e}") from e
    return num_classes, names, given


def _features(args: W2SArguments, train, test) -> tuple[np.ndarray | None, np.ndarray | None]:
    if args.model_name_or_path != "probe":
        return None, None
    if args.modality != "text":
        raise ValueError("model_name_or_path=probe is implemented for text (frozen encoder embeddings)")
    return (
        text_features(train, args.input_column, args.domain_column, args.encoder),
        text_features(test, args.input_column, args.domain_column, args.encoder),
    )


def _mat(args: W2SArguments, data, parts, seed: int, features=None):
    return materialize(
        data,
        parts,
        args.input_column,
        args.dataset_label_column,
        args.modality,
        args.image_size,
        args.channels,
        seed,
        features,
        keep=given_columns(args.supervisors),
    )


def _train_supervisors(args: W2SArguments, train, part, num_classes: int, seed: int, given: dict) -> list:
    sups = []
    for name, spec in args.supervisors.items():
        if name in given:  # given by spec: nothing to train
            sups.append(given[name])
            continue
        src = Source(list(spec.get("domains", [])), spec.get("corruption"))
        rows = part.weak[name]
        ds = _mat(args, train, [(src, rows)], seed) if len(rows) else None
        x = None if ds is None else ds["text" if args.modality == "text" else "pixel_values"]
        sups.append(
            train_weak_supervisor(
                name,
                spec.get("kind", "logreg"),
                args.modality,
                num_classes,
                x,
                None if ds is None else ds["label"],
                float(spec.get("C", 1.0)),
                float(spec.get("scale", 3.0)),
                seed,
                args.encoder,
            )
        )
    return sups


def _labelled_sets(args, train, test, feats, part, scenario: str, sups, seed: int, num_classes: int) -> dict:
    """train / val / test of a scenario, each labelled by every supervisor (cached by the labeller)."""
    train_ds = _mat(args, train, part.train[scenario], seed, feats[0])
    test_ds = _mat(args, test, part.test[scenario], seed + 7919, feats[1])
    val_ds, train_ds = (
        train_ds.select(range(args.val_size)),
        train_ds.select(range(args.val_size, len(train_ds))),
    )
    return {
        k: label_set(ds, sups, args.modality, num_classes)
        for k, ds in (("train", train_ds), ("val", val_ds), ("test", test_ds))
    }


def _probs(ds, names: list[str]) -> torch.Tensor:
    return torch.stack([torch.tensor(ds[probs_column(n)], dtype=torch.float32) for n in names], dim=1)


def _supervisor_metrics(sets: dict, names: list[str]) -> dict:
    p_test, y_test = _probs(sets["test"], names), torch.tensor(sets["test"]["label"])
    p_val, y_val = _probs(sets["val"], names), torch.tensor(sets["val"]["label"])
    val_acc = [accuracy(p_val[:, k], y_val) for k in range(len(names))]
    return {
        "accuracy": [accuracy(p_test[:, k], y_test) for k in range(len(names))],
        "confidence": p_test.max(-1).values.mean(0).tolist(),
        "val_accuracy": val_acc,
        "select": names[int(np.argmax(val_acc))],
        "uniform_mixture_accuracy": accuracy(p_test.mean(1), y_test),
        "sizes": {k: len(v) for k, v in sets.items()},
    }


def _train_strong(args, base, sets, names, num_classes, seed, scenario, method, overrides) -> dict:
    run_dir = Path(base.output_dir) / "runs" / f"{scenario}-{method.replace(':', '_')}-seed{seed}"
    config = dataclasses.replace(
        base,
        output_dir=str(run_dir),
        seed=seed,
        supervisor_names=names,
        resume_from_checkpoint=None,
        **overrides,
    )
    num_features = len(sets["train"][0]["features"]) if "features" in sets["train"].column_names else None
    model, processor = build_strong_model(
        args.model_name_or_path,
        args.modality,
        num_classes,
        seed,
        num_features,
        args.image_size,
        args.channels,
        args.use_peft,
        args.lora_r,
        args.lora_target_modules,
    )
    train_ds, val_ds, test_ds = (
        prepare_inputs(sets[k], args.model_name_or_path, args.modality, processor, args.max_length)
        for k in ("train", "val", "test")
    )
    trainer = RavenClassificationTrainer(model, config, train_dataset=train_ds, processing_class=processor)
    trainer.remove_callback(PrinterCallback)  # one summary line per run is logged instead
    # resuming (resolved by check_run) continues every run from the last checkpoint in its own folder, if any
    checkpoint = (
        get_last_checkpoint(str(run_dir)) if base.resume_from_checkpoint and run_dir.is_dir() else None
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    test_logits = torch.as_tensor(trainer.predict(test_ds).predictions)
    train_logits = torch.as_tensor(trainer.predict(train_ds).predictions)
    val_logits = torch.as_tensor(trainer.predict(val_ds).predictions)
    with torch.no_grad():
        mix_test = trainer.mixture(_probs(sets["test"], names))
        mix_train = trainer.mixture(_probs(sets["train"], names))
    y_test = torch.tensor(sets["test"]["label"])
    history = trainer.raven_weights.history
    learned = history[0] != history[-1]
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()  # nothing was saved (save_strategy="no")
    return {
        "accuracy": accuracy(test_logits, y_test),
        "val_accuracy": accuracy(val_logits, torch.tensor(sets["val"]["label"])),
        "mixture_accuracy": accuracy(mix_test, y_test),
        "agreement": agreement(train_logits, mix_train),
        "weights": trainer.raven_weights.weights.detach().tolist(),
        # Fixed weights have a flat history: keep its first entry only (results.json stays small).
        "history": [[round(w, 5) for w in h] for h in history] if learned else history[:1],
        "phase_steps": trainer.raven_phase.num_steps,
        "steps": trainer.state.global_step,
        "supervision": config.supervision,
        "overrides": overrides,
    }


def make_parser():
    """The program's parser: :class:`W2SArguments` and `RavenClassificationConfig` (YAML via --config)."""
    from ..pipeline.deprecations import ProgramParser

    return ProgramParser((W2SArguments, RavenClassificationConfig), program="classify")


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line), run every method, write and print the report."""
    from transformers.utils import logging as hf_logging

    from ..evaluation.classification_report import write_report

    recipe, training = make_parser().parse_args_and_config(args=argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    hf_logging.set_verbosity_error()
    results = run_recipe(recipe, training)
    if training.process_index == 0:  # one report, one print
        title = f"Weak-to-strong {recipe.modality} classification: {recipe.dataset_name}"
        print(write_report(results, training.output_dir, title=title))
    return results


if __name__ == "__main__":
    main()
