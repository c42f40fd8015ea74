"""The completion, chat and classification task kinds end to end: `foretune train` (real LoRA steps on the tiny test
model, which has the built-in model's tokenizer and chat template; tiny data written here) and one `foretune search`
through Ray; plus their scores and splits. The real model trains in tests/trainers/test_lora.py."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pandas as pd
import pytest

from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.trainers.data import split_by_key
from foretune.trainers.tasks import ClassificationTask, classification_scores, text_scores
from tests.trainers.task_kind_data import (
    completion_rows,
    write_config,
    write_jsonl,
    write_kind_data,
)

KIND_METRICS = {
    "completion": ("exact_match", "token_f1"),
    "chat": ("exact_match", "token_f1"),
    "classification": ("accuracy", "macro_f1"),
}

METRIC_MODULE = '''
def label_length(predictions, references):
    """A user's metric: the share of predictions as long as their reference."""
    return {"same_length": sum(len(p) == len(r) for p, r in zip(predictions, references)) / len(references)}
'''


# --- scores and splits (pure) ------------------------------------------------------------------------


def test_text_scores_normalise_and_count_token_overlap():
    scores = text_scores(["Paris.", "new  york city", ""], ["paris", "New York", "Rome"])
    assert scores["exact_match"] == pytest.approx(1 / 3)
    # SQuAD F1: 1, 2*(2/3*1)/(2/3+1) = 0.8, 0
    assert scores["token_f1"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert scores["n_examples"] == 3


def test_classification_scores_macro_average_over_labels():
    scores = classification_scores(["a", "a", "b", "a"], ["a", "b", "b", "a"])
    assert scores["accuracy"] == 0.75
    # F1(a) = 2*2/(4+1) = 0.8, F1(b) = 2*1/(2+0+1) = 2/3
    assert scores["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_completion_and_classification_learn_and_compare_the_whole_answer():
    from foretune.trainers.data import TextRecord
    from foretune.trainers.tasks import CompletionTask

    record = TextRecord(prompt="Q: capital of Peru?\nA:", answer=" Lima")
    for task in (CompletionTask(), ClassificationTask(prompt_style="chat", labels=[" Lima", "Oslo"])):
        assert task.answer(record) == task.reference(record) == " Lima"
        assert task.answer_spans(record) == [("answer", 0, 5)] and task.conversation(record) is None
        assert task.stop_strings == ()
    assert not CompletionTask().uses_chat_template and CompletionTask(prompt_style="chat").uses_chat_template
    assert ClassificationTask(prompt_style="chat").uses_chat_template


def test_fixed_test_and_validation_files_are_used_as_given(tmp_path):
    rows = completion_rows()
    source = write_jsonl(tmp_path / "all.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", rows[:2])  # also in the source: dropped from training
    validation = write_jsonl(tmp_path / "val.jsonl", rows[2:3])
    overrides = {"data.source": str(source), "data.test_source": str(test), "data.validation_source": str(validation)}
    config = load_config(None, {"task.name": "completion", **overrides})
    from foretune.trainers.tasks import make_task

    splits = make_task(config).load_splits(config.data)
    assert [r.prompt for r in splits.test] == [r["prompt"] for r in rows[:2]]
    assert [r.prompt for r in splits.validation] == [rows[2]["prompt"]]
    assert len(splits.train) == len(rows) - 3  # every other row trains; none of the fixed ones
    # Random splits keep every prompt in one split.
    drawn = split_by_key(list(range(20)) * 2, key=lambda r: r, test_fraction=0.2, validation_fraction=0.1)
    assert not set(drawn.train) & set(drawn.test) and len(set(drawn.test)) == 4


def test_completion_rows_read_alike_from_jsonl_csv_parquet_and_a_datasets_folder(tmp_path):
    import datasets

    from foretune.trainers.data import read_completion_records
    from tests.trainers.task_kind_data import write_csv

    rows = completion_rows()
    data = load_config(None, {"task.name": "completion"}).data
    expected = read_completion_records(str(write_jsonl(tmp_path / "c.jsonl", rows)), data)
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    sources = [
        str(write_csv(tmp_path / "c.csv", rows, columns=("prompt", "completion"))),
        str(tmp_path / "c.parquet"),
        f"hf:{tmp_path / 'saved'}",
    ]
    for source in sources:
        assert read_completion_records(source, data) == expected, source
    assert expected[0].prompt == rows[0]["prompt"] and expected[0].answer == " Paris"


def test_a_single_label_is_refused(tmp_path):
    from tests.trainers.task_kind_data import write_csv

    source = write_csv(tmp_path / "one.csv", [{"text": f"t{i}", "label": "yes"} for i in range(8)])
    config = load_config(None, {"task.name": "classification", "data.source": str(source)})
    with pytest.raises(ForetuneError, match="single label"):
        ClassificationTask().load_splits(config.data)


def test_one_label_spelled_two_ways_is_refused(tmp_path):
    from tests.trainers.task_kind_data import write_csv

    labels = ["yes", "no"] * 6 + ["Yes "]
    source = write_csv(tmp_path / "typo.csv", [{"text": f"t{i}", "label": label} for i, label in enumerate(labels)])
    config = load_config(None, {"task.name": "classification", "data.source": str(source)})
    with pytest.raises(ForetuneError, match=r"spells one label 2 ways in 'label': 'yes' \(6 rows\), 'Yes' \(1 row\)"):
        ClassificationTask().load_splits(config.data)


def test_search_metric_must_be_reported_by_the_task_or_its_metric_fn(tmp_path, monkeypatch):
    from foretune.trainers.tasks import MetricFn, check_search_metric, make_task, reported_metrics

    (tmp_path / "my_metrics.py").write_text(METRIC_MODULE + "\ndef broken(p, r):\n    return [1.0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(None, {"task.name": "completion", "task.metric_fn": "my_metrics:label_length"})
    metric_fn = MetricFn(config.task.metric_fn)
    reported = reported_metrics(make_task(config), metric_fn, ["Paris", "Rome"])
    assert reported == ["exact_match", "token_f1", "eval_loss", "train_loss", "same_length"]
    with pytest.raises(ForetuneError, match="search.metric 'accuracy' is never reported by task completion"):
        check_search_metric(config, reported)  # the default metric is attribute extraction's
    for metric in ("token_f1", "same_length"):
        check_search_metric(config.with_overrides({"search.metric": metric}), reported)
    with pytest.raises(ForetuneError, match="returned list"):
        MetricFn("my_metrics:broken")(["a"], ["a"])
    with pytest.raises(ForetuneError, match="cannot import 'no_such_module'"):
        MetricFn("no_such_module:f")


def test_a_metric_fn_re_scores_resampled_records_as_the_task_scores_them(tmp_path, monkeypatch):
    """`MetricFn.item_score`: the user's metric in the task's `score` shape, so the search's paired draws can
    resample a final scored by it (the references are the resampled records' own)."""
    from foretune.predictors.bootstrap import paired_draws
    from foretune.trainers.data.text_records import TextRecord
    from foretune.trainers.tasks import MetricFn, make_task

    (tmp_path / "my_item_metrics.py").write_text(METRIC_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    task = make_task(load_config(None, {"task.name": "completion"}))
    score = MetricFn("my_item_metrics:label_length").item_score(task)
    records = [TextRecord(prompt=f"q{i}", answer="abc" if i % 2 else "abcdef") for i in range(8)]
    predictions = ["xyz"] * 8  # as long as the odd records' answers only
    assert score(records, predictions) == {"same_length": 0.5}
    assert score(records[1::2], predictions[:4]) == {"same_length": 1.0}
    draws = paired_draws(score, records, predictions, "same_length")
    assert len(draws) == 200 and min(draws) < 0.5 < max(draws)


def test_a_metric_fn_that_fails_on_a_resample_costs_its_interval_or_draws_not_the_trial(tmp_path, monkeypatch):
    """A user's metric that needs two distinct references raises on a resample that drew one: that resample scores
    nothing (`MetricFn.resample_score`), the whole items are still scored as reported."""
    from foretune.predictors.bootstrap import item_intervals, paired_draws
    from foretune.trainers.data.text_records import TextRecord
    from foretune.trainers.tasks import MetricFn, make_task

    picky = METRIC_MODULE + (
        "\ndef picky(predictions, references):\n"
        "    if len(set(references)) < 2:\n"
        "        raise ValueError('needs two distinct references')\n"
        "    return label_length(predictions, references)\n"
    )
    (tmp_path / "my_picky_metrics.py").write_text(picky)
    monkeypatch.syspath_prepend(str(tmp_path))
    task = make_task(load_config(None, {"task.name": "completion"}))
    metric = MetricFn("my_picky_metrics:picky")
    records = [TextRecord(prompt=f"q{i}", answer="abc" if i else "abcdef") for i in range(4)]  # one "abcdef"
    predictions = ["xyz"] * 4
    with pytest.raises(ForetuneError, match="needs two distinct references"):
        metric.item_score(task)(records[1:], predictions[1:])  # as the metric is reported: the user's error
    resampled = metric.resample_score(task)
    assert resampled(records[1:], predictions[1:]) == {} and resampled(records, predictions) == {"same_length": 0.75}
    scores = {**task.score(records, predictions), "same_length": 0.75}
    intervals = item_intervals(scores, task.score, records, predictions, user_score=resampled, n_resamples=200)
    assert intervals["same_length"].low <= 0.75 <= intervals["same_length"].high  # from the resamples it scored
    assert paired_draws(resampled, records, predictions, "same_length") == []  # ~a third of the draws lack it


def test_search_metric_is_checked_from_the_config_before_any_trial(tmp_path, monkeypatch):
    """What a search checks before its first trial: the data read (no tokenizer), a metric_fn called once."""
    from foretune.trainers.tasks import check_search_metric_before_trials
    from tests.trainers.task_kind_data import write_csv

    (tmp_path / "my_metrics.py").write_text(METRIC_MODULE + "\ndef broken(p, r):\n    return [1.0]\n")
    in_percent = "\ndef in_percent(p, r):\n    return {'same_length': 100 * label_length(p, r)['same_length']}\n"
    (tmp_path / "my_percent_metrics.py").write_text(METRIC_MODULE + in_percent)  # its own module: imported once
    monkeypatch.syspath_prepend(str(tmp_path))
    source = write_kind_data(tmp_path, "completion")
    config = load_config(None, {"task.name": "completion", "data.source": str(source)})
    for metric, metric_fn in (("token_f1", None), ("same_length", "my_metrics:label_length")):
        check_search_metric_before_trials(config.with_overrides({"search.metric": metric, "task.metric_fn": metric_fn}))
    with pytest.raises(ForetuneError, match="search.metric 'accuracy' is never reported by task completion"):
        check_search_metric_before_trials(config)
    with pytest.raises(ForetuneError, match="returned list"):
        check_search_metric_before_trials(config.with_overrides({"task.metric_fn": "my_metrics:broken"}))
    percent = config.with_overrides({"search.metric": "same_length", "task.metric_fn": "my_percent_metrics:in_percent"})
    check_search_metric_before_trials(percent)  # auto: read from the values
    check_search_metric_before_trials(percent.with_overrides({"search.metric_range": [0, 100]}))
    with pytest.raises(
        ForetuneError, match=r"search.metric_range \[0, 1\]: task.metric_fn 'my_percent_metrics:in_percent' "
    ):
        check_search_metric_before_trials(percent.with_overrides({"search.metric_range": [0, 1]}))
    with pytest.raises(ForetuneError, match="lower data.train_size"):
        check_search_metric_before_trials(config.with_overrides({"search.metric": "token_f1", "data.train_size": 99}))
    one_label = write_csv(tmp_path / "one.csv", [{"text": f"t{i}", "label": "yes"} for i in range(8)])
    with pytest.raises(ForetuneError, match="single label"):
        check_search_metric_before_trials(
            load_config(None, {"task.name": "classification", "data.source": str(one_label)})
        )


# --- foretune train, each kind ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["completion", "chat", "classification"])
def test_foretune_train_runs_each_task_kind(tmp_path, monkeypatch, cli, tiny_model_dir, kind):
    source = write_kind_data(tmp_path, kind)
    extra = {"model": {"name": tiny_model_dir}}  # the built-in model's tokenizer and chat template; seconds per run
    if kind == "classification":  # a user's metric rides along
        (tmp_path / "my_metrics.py").write_text(METRIC_MODULE)
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        extra["task"] = {"metric_fn": "my_metrics:label_length"}
        extra["search"] = {"metric": "same_length", "mode": "max"}  # its key as the objective: in the test table
    if kind == "completion":  # a fixed test file, used as given
        extra["data"] = {"test_source": str(write_jsonl(tmp_path / "test.jsonl", completion_rows()[:2]))}
    config = write_config(tmp_path, kind, source, **extra)
    out = tmp_path / "run"
    code, stdout, stderr = cli("train", str(config), "--out", str(out))  # in this process (tests/conftest.py)
    assert code == 0, stderr[-2000:]

    curve = pd.read_csv(out / "curve.csv")
    assert curve["fraction"].tolist() == [0.5, 1.0]  # reported at every budget fraction
    for metric in (*KIND_METRICS[kind], "eval_loss", "train_loss"):
        assert curve[metric].map(math.isfinite).all(), metric
    metrics = json.loads((out / "metrics.json").read_text())
    for metric in KIND_METRICS[kind]:
        assert 0.0 <= metrics["test"][metric] <= 1.0 and 0.0 <= metrics["zero_shot_test"][metric] <= 1.0
    assert metrics["test"]["n_examples"] == 2
    if kind == "classification":
        assert 0.0 <= curve["same_length"].iloc[-1] <= 1.0 and "same_length" in metrics["test"]
        for which, scores in (("fine_tuned", metrics["test"]), ("zero_shot", metrics["zero_shot_test"])):
            shown = metrics["test_intervals"][which]["same_length"]  # re-scored by the user's function
            assert shown["low"] <= scores["same_length"] <= shown["high"], which
        assert re.search(r"┃ *model ┃.*┃ *same_length ┃", stdout)  # its column in the test table
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert "held-out test split" in stdout
    # what the rows are and how answers were scored: a classification picks the likeliest label, never generates
    scored = "likeliest label" if kind == "classification" else "generated answers"
    assert " test rows, " in stdout and f"items, {scored};" in " ".join(stdout.split())


# --- foretune search through Ray, one kind ------------------------------------------------------------


@pytest.mark.slow
def test_foretune_search_on_classification_optimises_a_metric_fn_key(ray_cluster, tiny_model_dir, tmp_path):
    source = write_kind_data(tmp_path, "classification")
    (tmp_path / "my_metrics.py").write_text(METRIC_MODULE)
    search = {
        "metric": "same_length",  # a key of task.metric_fn
        "mode": "max",
        "trials": 2,
        "max_concurrent_trials": 2,  # one CPU each: side by side on two cores
        "n_startup_trials": 2,
        "space": {"learning_rate": {"type": "log_float", "low": 1e-4, "high": 3e-3}},
    }
    metric_fn = {"metric_fn": "my_metrics:label_length"}
    model = {"name": tiny_model_dir}
    config = write_config(tmp_path, "classification", source, task=metric_fn, search=search, model=model)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "search", str(config), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # where my_metrics.py is importable from, as for a user
        env=ray_cluster.joined_env(),  # joins the session's Ray cluster (RAY_ADDRESS)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2
    import optuna

    from foretune.search.storage import open_storage

    study = optuna.load_study(study_name="tiny-classification", storage=open_storage(str(out / "study.journal")))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete, [t.user_attrs.get("error") for t in study.trials]  # the first judged runs on (grace)
    for trial in complete:
        assert sorted(trial.intermediate_values) == [50, 100]  # reported at both budget fractions
        assert 0.0 <= trial.value <= 1.0
        assert 0.0 <= trial.user_attrs["test_accuracy"] <= 1.0  # scored on the test split
        low, high = trial.user_attrs["test_same_length_ci_low"], trial.user_attrs["test_same_length_ci_high"]
        assert low <= trial.user_attrs["test_same_length"] <= high  # the metric_fn's key has its interval too
        draws = trial.user_attrs["final_draws"]  # the metric_fn's final re-scored on resampled validation items
        assert len(draws) == 200 and min(draws) <= trial.value <= max(draws)
    zero_shot = study.user_attrs["zero_shot_test"]
    assert zero_shot["same_length_ci_low"] <= zero_shot["same_length"] <= zero_shot["same_length_ci_high"]
    report = (out / "report.md").read_text()
    assert re.search(r"^\| same_length \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \| [0-9.]+ \[", report, re.M), report[:1500]
