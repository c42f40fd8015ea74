"""The plain-line progress of a search (`TrialLogCallback`): one judged line per rung with the rung, the predicted
final, the rank and the verdict; the probability rule's probability on its line. Driven by the real evaluator on
plain curves (no Ray: the callback only reads what the evaluator wrote)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np

from foretune.keys import FRACTION_KEY
from foretune.predictors import get_predictor
from foretune.search.evaluator import EarlyStageEvaluator, VerdictsAndErrors
from foretune.search.progress import TrialLogCallback
from foretune.search.rule import EarlyStageRule, ProbabilityRule
from tests.search.conftest import FRACTIONS


def _logged_search(rule, curves: dict[str, list[float]]) -> list[str]:
    """Each curve as one trial after the other, judged by `rule` at 10% and on; the callback's lines."""
    evaluator = EarlyStageEvaluator(
        mode="min", fraction=0.1, make_predictor=lambda: get_predictor("snapshot", mode="min"), rule=rule
    )
    lines: list[str] = []
    notes = VerdictsAndErrors(verdicts=evaluator.verdicts)
    callback = TrialLogCallback(metric="val_loss", mode="min", notes=notes, label=str, write=lines.append)
    for name, values in curves.items():
        trial = SimpleNamespace(trial_id=name, config={"learning_rate": 0.001}, last_result={})
        callback.on_trial_start(0, [], trial)
        evaluator.add(name, {})
        for fraction, value in zip(FRACTIONS, values, strict=False):
            evaluator.observe(name, fraction, value)
            keep = not evaluator.due(name, fraction) or evaluator.judge(name, fraction)
            trial.last_result = {FRACTION_KEY: float(fraction), "val_loss": value}
            callback.on_trial_result(0, [], trial, trial.last_result)
            if not keep:
                break
        evaluator.finish(name)
        callback.on_trial_complete(0, [], trial)
    return lines


def test_each_rung_verdict_is_one_line():
    rule = EarlyStageRule(mode="min", rule="quantile", keep=0.5, use_upper_bound=False, later_rungs=[(0.3, 1 / 3)])
    rule.grace_trials = 1
    curves = {
        "grace": list(1.0 - 0.1 * np.arange(10)),
        "fades": [0.95, 0.9, 0.85, 0.8],  # ahead at 10% (top half of 2), behind at 30% (top third of 2)
        "strong": list(0.9 - 0.1 * np.arange(10)),
    }
    lines = _logged_search(rule, curves)
    judged = [line for line in lines if " judged at " in line]
    assert judged[0].startswith("grace judged at rung 1 10%  early val_loss=1  ") and judged[0].endswith("-> grace")
    assert re.fullmatch(r"fades judged at rung 1 10%  early val_loss=0\.95  .*rank 1 of 2  -> kept", judged[1])
    assert re.fullmatch(r"fades judged at rung 2 30%  no final predicted  rank 2 of 2  -> pruned", judged[2])
    assert re.fullmatch(r"strong judged at rung 1 10% .* -> kept", judged[3])
    assert re.fullmatch(
        r"strong judged at rung 2 30%  (predicted final \S+|no final predicted)  rank 1 of 3  -> kept", judged[4]
    )
    assert len(judged) == 5  # the grace trial is never judged again; each verdict once
    assert "fades pruned at 30%  val_loss=0.85" in " ".join(lines)


def test_a_probability_verdict_shows_its_probability():
    rule = ProbabilityRule(mode="min", k=1, min_probability=0.2, grace_trials=3, stop_from=0.1)
    curves = {f"grace{i}": list(0.5 + 0.05 * i - 0.02 * np.arange(10)) for i in range(3)}
    curves["behind"] = list(2.0 - 0.01 * np.arange(10))
    lines = _logged_search(rule, curves)
    behind = [line for line in lines if line.startswith("behind judged at 10%")]
    assert len(behind) == 1, lines
    assert re.search(r"predicted final \S+ .*rank 4 of 4  P\(final beats 0\.32\)=0\.\d\d  -> pruned$", behind[0])
    assert "grace0 judged at 10%  early val_loss=0.5  no final predicted  rank 1 of 1  -> grace" in lines


def test_a_run_that_ends_without_a_final_value_is_logged_failed_or_ended():
    """A run that diverges to NaN at its end is FAIL in the study (`searcher`); its line says so, not "completed".
    A run that stops on its own before fraction 1 (a function returning early) is not said to be pruned."""
    rule = EarlyStageRule(mode="min", rule="quantile", keep=0.5, use_upper_bound=False)
    rule.grace_trials = 3
    curves = {
        "good": list(1.0 - 0.05 * np.arange(10)),
        "returned": list(1.0 - 0.05 * np.arange(5)),
        "diverged": [*(0.9 - 0.05 * np.arange(9)), float("nan")],
    }
    lines = _logged_search(rule, curves)
    assert "returned ended at 50% without a final, not stopped by a verdict  val_loss=0.8  in " in " ".join(lines)
    assert any(line.startswith("good completed  val_loss=0.55") for line in lines)
    assert [line for line in lines if line.startswith("diverged ") and "judged" not in line][1:] == [
        next(line for line in lines if line.startswith("diverged failed  in "))
    ]
    assert lines[-1].endswith(": the final val_loss is nan")
