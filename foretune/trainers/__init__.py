"""Trainers: one fine-tune run that reports `(fraction, step, metrics)` to a `Reporter` and may be told to stop.

Here: the data (`data/`), the tasks (`tasks/`), the LoRA trainer, model loading, reporters, and the replay
trainer of recorded curves. Imports torch / transformers / peft (only in `lora.py` and `models.py`), never Ray or
Optuna: the search adapts trainers to those.
"""
