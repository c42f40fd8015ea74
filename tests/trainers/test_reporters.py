"""FileReporter: the curve file on disk is always whole, whenever the run is stopped."""

import csv
import json

import pytest

from foretune.trainers.reporters import FileReporter


class StopWhileWritten(float):
    """A metric value whose writing is where a Ctrl-C or SIGTERM lands (it raises as the csv row is formatted)."""

    def __str__(self) -> str:
        raise KeyboardInterrupt


def _steps(path):
    return [row["step"] for row in csv.DictReader(path.read_text().splitlines())]


def test_a_stop_mid_write_leaves_the_finished_evaluations_and_no_cut_row(tmp_path):
    """The old reporter created the file before writing to it: a stop during the first write left a header with no
    row (so `foretune train` said nothing was written while curve.csv was there) and a test that waited for the file
    read it half made."""
    path = tmp_path / "curve.csv"
    with pytest.raises(KeyboardInterrupt):
        FileReporter(path).report(0.1, 2, {"eval_loss": StopWhileWritten(0.5)})
    assert list(tmp_path.iterdir()) == []

    reporter = FileReporter(path)
    reporter.report(0.1, 2, {"eval_loss": 0.5, "accuracy": 0.25})
    with pytest.raises(KeyboardInterrupt):
        reporter.report(0.2, 4, {"eval_loss": StopWhileWritten(0.4), "accuracy": 0.3})
    assert list(tmp_path.iterdir()) == [path] and _steps(path) == ["2"]  # no partial file beside it

    reporter.report(0.3, 6, {"eval_loss": 0.3, "accuracy": 0.4, "late_key": 1.0})  # the first report's keys are kept
    assert _steps(path) == ["2", "6"] and "late_key" not in path.read_text()


def test_jsonl_holds_every_report_with_its_own_keys(tmp_path):
    path = tmp_path / "curve.jsonl"
    reporter = FileReporter(path)
    reporter.report(0.5, 5, {"eval_loss": 0.5})
    reporter.report(1.0, 10, {"eval_loss": 0.25, "accuracy": 0.75})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [
        {"fraction": 0.5, "step": 5, "eval_loss": 0.5},
        {"fraction": 1.0, "step": 10, "eval_loss": 0.25, "accuracy": 0.75},
    ]
    assert list(tmp_path.iterdir()) == [path]
