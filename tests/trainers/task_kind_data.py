"""Tiny datasets and configs of the completion, chat and classification task kinds, written by the tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

CAPITALS = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Austria", "Vienna"),
    ("Norway", "Oslo"),
    ("Greece", "Athens"),
    ("Ireland", "Dublin"),
    ("Japan", "Tokyo"),
    ("Egypt", "Cairo"),
    ("Peru", "Lima"),
    ("Kenya", "Nairobi"),
]
REVIEWS = [
    ("Works great, love it.", "positive"),
    ("Broke after one day.", "negative"),
    ("Fast delivery and well made.", "positive"),
    ("Cheap plastic, returned it.", "negative"),
    ("Exactly what I wanted.", "positive"),
    ("Never turned on.", "negative"),
    ("Comfortable and sturdy.", "positive"),
    ("The colour is wrong.", "negative"),
    ("Five stars.", "positive"),
    ("Waste of money.", "negative"),
    ("My kids love it.", "positive"),
    ("Leaks everywhere.", "negative"),
]

# A few optimizer steps and a handful of evaluated rows: real training, seconds per run.
TINY = {
    "model": {"max_length": 64},
    "data": {"test_fraction": 0.25, "validation_fraction": 0.25, "max_eval_samples": 2, "max_test_samples": 2},
    "task": {"max_new_tokens": 4},
    "train": {"max_steps": 2, "batch_size": 2, "learning_rate": 2e-3, "eval_fractions": [0.5, 1.0]},
    "early_stage": {"fraction": 0.5, "predictor": "snapshot", "grace_trials": 1},
    "resources": {"cpus_per_trial": 1},
}


def completion_rows(pairs=CAPITALS) -> list[dict]:
    return [{"prompt": f"Q: What is the capital of {c}?\nA:", "completion": f" {city}"} for c, city in pairs]


def chat_rows(pairs=CAPITALS) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Capital of {c}?"},
                {"role": "assistant", "content": city},
            ]
        }
        for c, city in pairs
    ]


def classification_rows(pairs=REVIEWS) -> list[dict]:
    return [{"text": text, "label": label} for text, label in pairs]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_csv(path: Path, rows: list[dict], columns=("text", "label")) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_kind_data(folder: Path, kind: str) -> Path:
    """The tiny dataset of `kind` in `folder`."""
    if kind == "completion":
        return write_jsonl(folder / "completion.jsonl", completion_rows())
    if kind == "chat":
        return write_jsonl(folder / "chat.jsonl", chat_rows())
    return write_csv(folder / "reviews.csv", classification_rows())


def write_config(folder: Path, kind: str, source: Path, **sections) -> Path:
    """A YAML config of `kind` on `source` with the tiny budget; `sections` override whole sections' keys."""
    config = {name: dict(values) for name, values in TINY.items()}
    config["name"] = f"tiny-{kind}"
    config["data"]["source"] = str(source)
    config["task"]["name"] = kind
    if kind == "chat":
        config["model"]["max_length"] = 96  # the template adds a default system turn
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path = folder / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
