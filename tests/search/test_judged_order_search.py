"""The search's evaluator shows and records each prediction held to the ones shown before (`judged_order`), across
a resume too."""

import numpy as np
import optuna
import pytest

from foretune.keys import (
    EARLY_BASIS_ATTR,
    EARLY_ORDER_ATTR,
    EXTRAS_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
)
from foretune.predictors import AutoPredictor, get_predictor
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.storage import past_trials

FRACTIONS = np.round(np.linspace(0.1, 1.0, 10), 9)


def _run(loss, final):
    """An accuracy flat at 0.05 up to 20% (no signal), then rising to `final`; eval loss `loss` at 20%."""
    values = np.where(FRACTIONS <= 0.2, 0.05, 0.05 + (final - 0.05) * FRACTIONS)
    values[-1] = final
    return values, loss * (1.2 - 0.4 * FRACTIONS)


def _feed(evaluator, trial, loss, final, *, to=1.0, name="eval_loss"):
    values, losses = _run(loss, final)
    evaluator.add(trial, {})
    for fraction, value, eval_loss in zip(FRACTIONS, values, losses, strict=True):
        if fraction > to + 1e-9:
            return
        evaluator.observe(trial, fraction, value, {name: eval_loss})
        if evaluator.due(trial, fraction):
            evaluator.judge(trial, fraction)
    evaluator.finish(trial)


def _evaluator(past=()):
    return EarlyStageEvaluator(
        mode="max",
        fraction=0.2,
        make_predictor=lambda: get_predictor("auto", mode="max"),
        rule=None,
        bounds=(0.0, 1.0),
        past=past,
    )


FIRST = [("f1", 0.5, 0.8), ("f2", 0.7, 0.6)]  # finished first: one line
LATER = [("f3", 0.55, 0.55), ("f4", 0.65, 0.45)]  # finished next, lower: the line moves down


@pytest.mark.parametrize("name", ["eval_loss", "loss/val"])  # a logger's name for it too (`metric_names`)
def test_a_trial_better_early_than_one_judged_before_is_not_shown_below_it(name):
    """Trial "b" has a lower eval loss at 20% than trial "a", but is judged after two more runs finished lower
    than the first two: the fit of 4 runs predicts it below the 2-run fit's prediction for "a". Shown and
    recorded, it is held at "a"'s; the fit's own value stays in the basis."""
    evaluator = _evaluator()
    for trial, loss, final in FIRST:
        _feed(evaluator, trial, loss, final, name=name)
    _feed(evaluator, "a", 0.6, 0.7, to=0.2, name=name)
    for trial, loss, final in LATER:
        _feed(evaluator, trial, loss, final, name=name)
    _feed(evaluator, "b", 0.58, 0.7, to=0.2, name=name)
    a, b = evaluator.verdicts["a"], evaluator.verdicts["b"]
    fitted = AutoPredictor(mode="max").fit([evaluator.curve(t) for t in ("f1", "f2", "f3", "f4")])
    own = float(fitted.predict([evaluator.curve("b").upto(0.2)], at=0.2).mean[0])
    assert own < a[PREDICTED_FINAL_ATTR] - 0.03  # the fit alone would show "b" below "a"
    assert b[PREDICTED_FINAL_ATTR] == pytest.approx(a[PREDICTED_FINAL_ATTR])
    assert b[PREDICTED_LOWER_ATTR] <= own <= b[PREDICTED_UPPER_ATTR]
    assert b[EARLY_BASIS_ATTR].endswith(f"held between the trials judged before by {name} at 20% (this fit: {own:.3g})")
    assert b[EARLY_ORDER_ATTR] == {"metric": name, "value": pytest.approx(0.58 * (1.2 - 0.4 * 0.2))}


def test_a_resumed_search_holds_its_judgements_to_the_earlier_session_s():
    """The earlier session's trial "a" reaches the resumed session through the storage, with what it recorded."""
    first = _evaluator()
    for trial, loss, final in FIRST:
        _feed(first, trial, loss, final)
    _feed(first, "a", 0.6, 0.7, to=0.2)
    study = optuna.create_study(direction="maximize")
    for trial in ("f1", "f2", "a"):
        curve = first.curve(trial)
        steps = [int(round(f * 100)) for f in curve.fractions]
        losses = dict(zip(map(str, steps), curve.extras["eval_loss"].tolist(), strict=True))
        complete = curve.fractions[-1] >= 1
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.PRUNED,
                value=float(curve.values[-1]) if complete else None,
                intermediate_values=dict(zip(steps, curve.values.tolist(), strict=True)),
                user_attrs={
                    EXTRAS_ATTR: {"eval_loss": losses},
                    **first.verdicts.get(trial, {}),
                },
            )
        )
    resumed = _evaluator(past=past_trials(study))
    for trial, loss, final in LATER:
        _feed(resumed, trial, loss, final)
    _feed(resumed, "b", 0.58, 0.7, to=0.2)
    shown_a = first.verdicts["a"][PREDICTED_FINAL_ATTR]
    assert resumed.verdicts["b"][PREDICTED_FINAL_ATTR] == pytest.approx(shown_a)
