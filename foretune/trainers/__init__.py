"""Trainers: one fine-tune run that reports `(fraction, step, metrics)` to a `Reporter` and may be told to stop.

Here: the data (`data/`), the task kinds (`tasks/`), the LoRA trainer with its encoding and evaluation, model
loading, reporters, and the replay trainer of recorded curves. Imports torch / transformers / peft (only in
`lora.py`, `encoding.py`, `evaluation.py` and `models.py`), never Ray or Optuna: the search adapts trainers to those.
`hf_callback.py`: a transformers `TrainerCallback` that makes any `Trainer` / TRL `SFTTrainer` report and stop.
`costs.py`: what a run costs; `wall_clock.py`: its torch-free part (seconds, device-hours, dollars), which user
functions and replayed curves record too.
"""
