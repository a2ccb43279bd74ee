"""Train a reward model with RavenRewardTrainer: from the truth (plain Bradley–Terry) or from weak supervisors.
The program is ``raven_align.programs.reward``.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/reward_modeling/train_reward_model.py \
        --config recipes/reward_modeling/minilm_amazon_food.yaml [--flag value ...]
    raven-align reward --config recipes/reward_modeling/minilm_amazon_food.yaml

Every field of RewardScriptArguments (data, supervisors), RavenRewardConfig (TRL's RewardConfig plus RAVEN's
options) and TRL's ModelConfig (model, LoRA, quantization) can be set in the YAML or on the command line (the
command line wins). Saves the model to --output_dir with results.json and results.md: held-out preference
accuracy on the dataset's own test pairs and on the other embedded domains.
"""

from raven_align.programs.reward import main
from raven_align.utils.processes import close_process_group

if __name__ == "__main__":
    main()
    close_process_group()  # before interpreter teardown (see its docstring)
