"""Resuming a study with another config: a change that makes its finals incomparable is one error; the rest may
change between sessions (foretune/search/resume_check.py)."""

from __future__ import annotations

import pytest

from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.search.driver import open_study
from foretune.search.storage import open_storage


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "study.journal")


SPACE = {"search.space": {"learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-2}}}


def _open(journal: str, **overrides):
    """`open_study` as `run_search` calls it, on the config with these dotted keys set."""
    return open_study(load_config(None, {**SPACE, **overrides}), open_storage(journal), "resumed", journal)


def test_a_budget_or_data_change_is_refused_and_named(journal):
    study = _open(journal)
    study.enqueue_trial({})  # the first session left a trial
    with pytest.raises(ForetuneError) as refused:
        _open(journal, **{"train.max_steps": 99, "data.synthetic_size": 80})
    message = str(refused.value)
    assert "study 'resumed'" in message and "with another config" in message
    assert "train.max_steps" in message and "-> 99" in message and "data.synthetic_size" in message
    assert "--study NAME" in message


def test_what_does_not_change_a_final_may_change(journal):
    _open(journal)
    # the searched key itself (the space sets it per trial), the number of trials, where it runs, the rule
    study = _open(journal, **{"train.learning_rate": 0.5, "search.trials": 40, "train.device": "cpu"})
    assert study.study_name == "resumed"
    _open(journal, **{"early_stage.keep": 0.5, "resources.cpus_per_trial": 2, "early_stage.fraction": 0.25})
