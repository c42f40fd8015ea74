"""`auto` warm, a score objective: through a loss's predicted final (`foretune/predictors/_final_line.py`)."""

import numpy as np
import pytest

from foretune.predictors import AutoPredictor, Curve, metrics
from foretune.predictors._base import final_value
from foretune.predictors._final_line import MARGIN, final_line_prediction, final_loss_lines
from foretune.predictors._learned import LearnedPredictor

FRACTIONS = np.linspace(0.1, 1.0, 10)
THROUGH_EVAL_LOSS = "signal:eval_loss's predicted final"


def _runs(n, seed):
    """An accuracy flat near 0.05 up to 20%; its final follows the final eval loss, which the learning rate sets
    (a high one falls further later) while the eval loss at 20% says little of it: the early value of either
    metric ranks the finals poorly, the eval loss's curve and the learning rate predict them."""
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        learning_rate = 10 ** rng.uniform(-4, -2)
        final_loss = 0.9 - 0.2 * (np.log10(learning_rate) + 4) + rng.normal(0, 0.01)
        early_loss = 1.0 + rng.normal(0, 0.05)
        eval_loss = np.where(FRACTIONS <= 0.2, early_loss, early_loss + (final_loss - early_loss) * FRACTIONS)
        eval_loss[-1] = final_loss
        final = 1.1 - final_loss + rng.normal(0, 0.01)
        accuracy = np.where(FRACTIONS <= 0.2, 0.05 + rng.normal(0, 0.005, 10), 0.05 + (final - 0.05) * FRACTIONS)
        accuracy[-1] = final
        params = {"learning_rate": learning_rate}
        runs.append(Curve(FRACTIONS, accuracy, params=params, trial=i, extras={"eval_loss": eval_loss}))
    return runs


def _finals(curves):
    return np.array([final_value(c) for c in curves])


def test_a_score_that_follows_a_loss_is_predicted_through_that_loss_s_final():
    finished, judged = _runs(12, seed=1), _runs(15, seed=2)
    auto = AutoPredictor(mode="max").fit(finished)
    prediction = auto.predict([c.upto(0.2) for c in judged], at=0.2)
    assert auto.weights_ == {THROUGH_EVAL_LOSS: 1.0}
    assert prediction.basis.startswith("predicted by auto from eval_loss's predicted final, 12 finished runs")
    finals = _finals(judged)
    early_loss = np.array([c.extras["eval_loss"][1] for c in judged])
    assert metrics.spearman(-early_loss, finals) < 0.5  # the early loss alone ranks them poorly
    assert metrics.spearman(prediction.mean, finals) > 0.9
    assert np.mean((prediction.lower <= finals) & (finals <= prediction.upper)) >= 0.7
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()
    models = dict(auto._loss_models)  # kept for the next judgement on the same finished runs
    auto.predict([c.upto(0.2) for c in judged[:5]], at=0.2)
    assert auto._loss_models == models and all(auto._loss_models[k] is models[k] for k in models)
    assert auto.fit(finished)._loss_models == {}  # a new fit, new models


def test_a_score_that_does_not_follow_the_loss_keeps_its_own_model():
    """The line exists (a higher final loss, a lower score) but errs far more than the score's own model: the
    early accuracy already tells the final."""
    rng = np.random.default_rng(3)
    runs = []
    for i in range(24):
        final = rng.uniform(0.2, 0.9)
        accuracy = 0.05 + (final - 0.05) * FRACTIONS + rng.normal(0, 0.002, 10)
        accuracy[-1] = final
        final_loss = 1.0 - 0.3 * final + rng.normal(0, 0.15)
        eval_loss = 1.2 + (final_loss - 1.2) * FRACTIONS
        runs.append(Curve(FRACTIONS, accuracy, trial=i, extras={"eval_loss": eval_loss}))
    finished, judged = runs[:12], [c.upto(0.2) for c in runs[12:]]
    (line,) = final_loss_lines(finished, judged, 0.2, min_finished=8)
    learned_finals, learned_oos = LearnedPredictor(mode="max").fit(finished).out_of_sample(0.2)
    learned_error = float(np.mean(np.abs(learned_finals - learned_oos)))
    assert line.error > MARGIN * learned_error
    assert final_line_prediction(finished, judged, 0.2, mode="max", min_finished=8, learned_error=learned_error) is None
    auto = AutoPredictor(mode="max").fit(finished)
    prediction = auto.predict(judged, at=0.2)
    assert THROUGH_EVAL_LOSS not in auto.weights_ and auto.weights_["learned"] > 0
    assert metrics.spearman(prediction.mean, _finals(runs[12:])) > 0.9


@pytest.mark.parametrize("at_end", [True, False])
def test_only_a_score_and_a_loss_reported_at_every_finished_run_s_end(at_end):
    finished, judged = _runs(10, seed=4), [c.upto(0.2) for c in _runs(5, seed=5)]
    if not at_end:
        finished[3].extras["eval_loss"][-1] = np.nan
    assert len(final_loss_lines(finished, judged, 0.2, min_finished=8)) == int(at_end)
    # a loss objective keeps its own prediction (its early value is as fine as another loss's)
    assert final_line_prediction(finished, judged, 0.2, mode="min", min_finished=8, learned_error=1.0) is None
