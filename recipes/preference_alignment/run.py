"""RAVEN DPO of a LoRA-adapted LM from weak reward models (the program is ``raven_align.programs.dpo``).

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/preference_alignment/run.py \
        --config recipes/preference_alignment/embedded_default.yaml [--flag value ...]
    raven-align dpo --config recipes/preference_alignment/embedded_default.yaml     # the same, one process

Every `RavenDPOConfig` / `DPOConfig` field and TRL's `ModelConfig` flags (`--use_peft --lora_r ...
--load_in_4bit`) are accepted, plus the recipe's own (`raven-align dpo --help`). CLI flags override the YAML.
"""

from raven_align.programs.dpo import main
from raven_align.utils.processes import close_process_group

if __name__ == "__main__":
    main()
    close_process_group()  # before interpreter teardown (see its docstring)
