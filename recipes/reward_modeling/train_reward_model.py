"""Train a reward model with RavenRewardTrainer: from the truth (plain Bradley–Terry) or from weak supervisors.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/reward_modeling/train_reward_model.py \\
        --config recipes/reward_modeling/minilm_amazon_food.yaml [--flag value ...]
    python recipes/reward_modeling/train_reward_model.py --config recipes/reward_modeling/minilm_amazon_food.yaml

Every field of RewardScriptArguments (data, supervisors), RavenRewardConfig (TRL's RewardConfig plus RAVEN's
options) and TRL's ModelConfig (model, LoRA, quantization) can be set in the YAML or on the command line (the
command line wins). Saves the model to --output_dir with results.json and results.md: held-out preference
accuracy on the dataset's own test pairs and on the other embedded domains.
"""

from __future__ import annotations

import logging

from transformers.utils import logging as hf_logging
from trl import ModelConfig, TrlParser

from raven_align.reward_modeling import RewardScriptArguments, results_markdown, run_reward_modeling
from raven_align.trainers import RavenRewardConfig


def make_parser() -> TrlParser:
    return TrlParser((RewardScriptArguments, RavenRewardConfig, ModelConfig))


def main(argv: list[str] | None = None) -> dict:
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
