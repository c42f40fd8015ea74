import numpy as np
import pandas as pd
import pytest

from foretune.errors import ForetuneError
from foretune.predictors import Curve, LearnedPredictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors.io import LOSSES, read_curves


def _study(n, seed):
    """Runs whose final depends on a hidden quality that the objective at 20% does not show
    (every run sits at 0.05 there) but the eval loss already does."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.1, 1.0, 10)
    curves = []
    for i in range(n):
        quality = rng.uniform(0, 1)
        accuracy = np.where(x <= 0.2, 0.05, 0.05 + 0.8 * quality * (x - 0.2) / 0.8) + rng.normal(0, 0.005, 10)
        eval_loss = 2.0 - 1.2 * quality * x**0.5 + rng.normal(0, 0.01, 10)
        curves.append(Curve(x, accuracy, {"seed": float(i % 3)}, f"t{i}", {"eval_loss": eval_loss}))
    return curves


def test_learned_uses_the_extra_metrics_up_to_at():
    train, test = _study(30, seed=1), _study(20, seed=2)
    finals = np.array([final_value(c) for c in test])
    early = [c.upto(0.2) for c in test]
    assert all(len(c.extras["eval_loss"]) == len(c.values) == 2 for c in early)  # sliced with the curve
    with_extras = LearnedPredictor(mode="max").fit(train).predict(early, at=0.2)
    blind = [Curve(c.fractions, c.values, c.params, c.trial) for c in early]
    without = LearnedPredictor(mode="max").fit([Curve(c.fractions, c.values, c.params, c.trial) for c in train])
    assert metrics.spearman(with_extras.mean, finals) > 0.8
    assert metrics.spearman(with_extras.mean, finals) > metrics.spearman(without.predict(blind, at=0.2).mean, finals)


def _two_runs(path, **columns):
    """Two runs of two points each, with an eval loss and the other `columns`, written to `path`."""
    frame = {"trial": [0, 0, 1, 1], "fraction": [0.5, 1.0, 0.5, 1.0], "value": [0.1, 0.2, 0.3, 0.4]}
    pd.DataFrame({**frame, "eval_loss": [2.0, 1.5, 1.8, 1.1], **columns}).to_csv(path, index=False)
    return path


def test_read_curves_takes_named_or_varying_extra_columns(tmp_path):
    path = _two_runs(tmp_path / "curves.csv", lr=[1e-3, 1e-3, 1e-4, 1e-4])
    auto = read_curves(path, extra_cols=None)
    assert list(auto[0].extras) == ["eval_loss"] and auto[0].params == {"lr": 1e-3}
    np.testing.assert_allclose(auto[1].extras["eval_loss"], [1.8, 1.1])
    assert read_curves(path)[0].extras == {}  # none unless asked
    with pytest.raises(ForetuneError, match="no extra metric column 'nope'.*--extra-col"):
        read_curves(path, extra_cols=["nope"])
    with pytest.raises(ValueError, match="one value per fraction"):
        Curve([0.1, 0.2], [1.0, 2.0], extras={"eval_loss": [1.0]})


def test_read_curves_takes_the_columns_named_as_losses_by_default_in_rank(tmp_path):
    """`LOSSES` (`foretune rank`'s default, round 44): every column named as a loss that varies within a trial, as a
    search's trials report them; not a varying metric of another kind (a schedule's learning rate, a scaler's
    loss_scale), nor a constant one, nor a loss named as a hyperparameter."""
    path = _two_runs(
        tmp_path / "curves.csv",
        train_loss=[2.2, 1.4, 2.0, 1.0],
        lr_now=[1e-3, 5e-4, 1e-4, 5e-5],
        loss_scale=[1024.0, 2048.0, 1024.0, 512.0],
        target_loss=[0.5, 0.5, 0.7, 0.7],
    )
    curves = read_curves(path, extra_cols=LOSSES)
    assert sorted(curves[0].extras) == ["eval_loss", "train_loss"]
    assert curves[0].params == {"target_loss": 0.5}  # constant within each trial: a setting
    np.testing.assert_allclose(curves[1].extras["train_loss"], [2.0, 1.0])
    named = read_curves(path, extra_cols=LOSSES, param_cols=["eval_loss"])
    assert list(named[0].extras) == ["train_loss"]
