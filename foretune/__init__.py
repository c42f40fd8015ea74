"""foretune: hyperparameter search for LoRA fine-tuning that predicts, at 20% of a run, how it will end.

`foretune.optimize(train_fn, space=..., metric=..., mode=...)` searches your own training function
(`foretune.api`); importing `foretune` imports neither Ray nor torch.
"""

__version__ = "0.1.0"

__all__ = ["optimize"]


def __getattr__(name: str):
    if name == "optimize":  # lazy: `import foretune` stays light
        from foretune.api import optimize

        return optimize
    raise AttributeError(f"module 'foretune' has no attribute {name!r}")
