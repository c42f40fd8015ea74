"""Bad data for each task kind: `foretune train` says what and where in one line, exits 2 and writes nothing."""

from __future__ import annotations

import pytest

from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.trainers.lora import LoraTrainer
from tests.trainers.task_kind_data import (
    chat_rows,
    classification_rows,
    completion_rows,
    write_config,
    write_csv,
    write_jsonl,
)

LONG = "word " * 120  # far over the tests' model.max_length of 64 tokens


def _with(rows: list[dict], index: int, **changes) -> list[dict]:
    rows = [dict(row) for row in rows]
    rows[index].update(changes)
    return rows


def _chat_with_last(message: dict) -> list[dict]:
    rows = chat_rows()
    rows[3] = {"messages": [*rows[3]["messages"][:-1], message]}
    return rows


# (kind, file name, rows or text, what the one line must say)
CASES = [
    ("completion", "empty.jsonl", "", "no rows in"),
    ("completion", "cols.jsonl", [{"prompt": "a", "answer": "b"}] * 6, "no column 'completion'"),
    (
        "completion",
        "int.jsonl",
        _with(completion_rows(), 4, completion=5),
        "hold a value of type int in 'completion', not text",
    ),
    ("completion", "blank.jsonl", _with(completion_rows(), 2, prompt="  "), "1 row(s) have an empty 'prompt'"),
    ("completion", "long.jsonl", _with(completion_rows(), 0, prompt=LONG), "1 of 12 rows of"),
    ("chat", "empty.jsonl", "", "no rows in"),
    ("chat", "cols.jsonl", [{"conversation": []}] * 6, "no column 'messages'"),
    ("chat", "user_last.jsonl", _chat_with_last({"role": "user", "content": "hi"}), "do not end with a non-empty"),
    ("chat", "not_text.jsonl", _chat_with_last({"role": "assistant", "content": ["x"]}), "content is not text"),
    ("chat", "not_list.jsonl", [{"messages": "hello"}] * 6, "have no list of messages"),
    ("classification", "empty.csv", "text,label\n", "no rows in"),
    ("classification", "cols.csv", "text,category\na,b\n", "no column 'label'"),
    ("classification", "blank.csv", _with(classification_rows(), 5, text=""), "have an empty 'text'"),
    (
        "classification",
        "list.jsonl",
        _with(classification_rows(), 1, label=["a", "b"]),
        "hold a value of type list in 'label'",
    ),
    ("classification", "long.csv", _with(classification_rows(), 0, text=LONG), "longer than model.max_length=64"),
    # the default task on another task's file: the columns it lacks, and the task the file looks like
    ("attribute_extraction", "pc.jsonl", completion_rows(), "set task.name=completion"),
    ("attribute_extraction", "chat.jsonl", chat_rows(), "set task.name=chat"),
]


def _write(path, content):
    if isinstance(content, str):
        path.write_text(content)
    elif path.suffix == ".csv":
        write_csv(path, content)
    else:
        write_jsonl(path, content)
    return path


@pytest.mark.parametrize("kind, name, content, message", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_data_is_one_line_exit_2_and_nothing_written(tmp_path, cli, kind, name, content, message):
    source = _write(tmp_path / name, content)
    config = write_config(tmp_path, kind, source)
    out = tmp_path / "out"
    code, _, stderr = cli("train", str(config), "--out", str(out))
    assert code == 2, stderr
    assert message in stderr, stderr
    assert str(source) in stderr  # where
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()  # nothing half-written


def test_a_missing_test_file_is_named(tmp_path, cli):
    source = write_jsonl(tmp_path / "c.jsonl", completion_rows())
    config = write_config(tmp_path, "completion", source, data={"test_source": str(tmp_path / "no_test.jsonl")})
    code, _, stderr = cli("train", str(config), "--out", str(tmp_path / "out"))
    assert code == 2 and "no_test.jsonl" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("policy, kept", [("drop", 11), ("truncate", 12)])
def test_too_long_rows_can_be_dropped_or_truncated_and_it_is_said(tmp_path, policy, kept):
    source = write_jsonl(tmp_path / "c.jsonl", _with(completion_rows(), 0, prompt=LONG))
    overrides = {
        "task.name": "completion",
        "data.source": str(source),
        "data.too_long": policy,
        "model.max_length": 64,
        "data.test_fraction": 0.25,
        "data.validation_fraction": 0.25,
    }
    trainer = LoraTrainer(load_config(None, overrides))
    splits = [trainer.train_products, trainer.splits.validation, trainer.splits.test]
    assert sum(map(len, splits)) == kept
    assert trainer.data_note.startswith("1 of 12 rows of") and policy in trainer.data_note
    longest = max(len(trainer.encoder.encode(r).input_ids) for part in splits for r in part)
    assert longest <= 64


def test_a_search_refuses_too_long_rows_before_any_trial(tmp_path):
    """The check a search runs before its first trial measures rows where data.too_long is 'error' (the default)."""
    from foretune.trainers.tasks import check_search_metric_before_trials

    source = write_jsonl(tmp_path / "c.jsonl", _with(completion_rows(), 0, prompt=LONG))
    overrides = {"task.name": "completion", "data.source": str(source), "model.max_length": 64}
    overrides.update({"search.metric": "token_f1", "data.test_fraction": 0.25, "data.validation_fraction": 0.25})
    with pytest.raises(ForetuneError, match="1 of 12 rows"):
        check_search_metric_before_trials(load_config(None, overrides))
    check_search_metric_before_trials(load_config(None, {**overrides, "data.too_long": "drop"}))
