"""foretune: hyperparameter search for LoRA fine-tuning that predicts, at 20% of a run, how it will end."""

__version__ = "0.1.0"
