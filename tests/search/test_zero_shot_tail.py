"""The zero-shot baseline runs in the tail of a search's trials (foretune/search/zero_shot.py): once, when every
trial has started and one has ended. The hooks are Ray Tune's Callback methods, called here in the order Tune
calls them; the real search through it is tests/search/test_search_lora.py (its zero-shot baseline)."""

from __future__ import annotations

import pickle
import threading
from types import SimpleNamespace

import pytest

from foretune.config import validate_config
from foretune.search.zero_shot import InTheTail, in_one_slot


def _trial(trial_id: str) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id)


def test_the_work_starts_once_all_trials_started_and_one_ended():
    calls: list[str] = []
    release = threading.Event()

    def work() -> str:
        calls.append(threading.current_thread().name)
        release.wait(10)
        return "scores"

    tail = InTheTail(work, trials=3)
    tail.on_trial_start(0, [], _trial("a"))
    tail.on_trial_start(0, [], _trial("b"))
    tail.on_trial_complete(0, [], _trial("a"))  # a third trial will take this slot
    assert not tail.began
    tail.on_trial_start(0, [], _trial("c"))
    tail.on_trial_start(0, [], _trial("c"))  # restarted after a failure: still three trials
    tail.on_trial_error(0, [], _trial("b"))  # every trial started: this slot stays free
    assert tail.began
    tail.on_trial_complete(0, [], _trial("c"))
    release.set()
    assert tail.result() == "scores"
    assert len(calls) == 1 and calls[0].startswith("in-the-tail")  # once, not in the caller's thread


def test_a_tail_that_never_came_returns_none_and_errors_surface():
    tail = InTheTail(lambda: 1, trials=3)
    tail.on_trial_start(0, [], _trial("a"))
    tail.on_trial_complete(0, [], _trial("a"))
    assert not tail.began and tail.result() is None  # the search ended early: the caller runs the work itself

    def broken() -> None:
        raise RuntimeError("no model")

    failing = InTheTail(broken, trials=1)
    failing.on_trial_start(0, [], _trial("a"))
    failing.on_trial_complete(0, [], _trial("a"))
    with pytest.raises(RuntimeError, match="no model"):
        failing.result()


def test_the_callback_pickles_without_its_thread():
    tail = InTheTail(lambda: 1, trials=1)
    tail.on_trial_start(0, [], _trial("a"))
    tail.on_trial_complete(0, [], _trial("a"))
    copy = pickle.loads(pickle.dumps(tail))  # Ray stores callbacks with the experiment's state
    assert copy.started == {"a"} and not copy.began
    assert tail.result() == 1


def test_the_baseline_in_the_tail_uses_one_trials_threads():
    config = validate_config({"resources": {"cpus_per_trial": 2}})
    assert in_one_slot(config).train.num_threads == 2
    own = validate_config({"train": {"num_threads": 3}})
    assert in_one_slot(own).train.num_threads == 3
