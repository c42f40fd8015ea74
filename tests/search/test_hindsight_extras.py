"""The signals a trial reported besides its objective (eval loss, ...) are stored with it and read back."""

import math

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from foretune.keys import CONFIG_ATTR, EXTRAS_ATTR
from foretune.search.hindsight import leave_one_out
from foretune.search.report import trials_table, verdict_summary
from foretune.search.report_table import report_columns
from foretune.search.scheduler import diverged_loss
from foretune.search.storage import trial_curve


def _study(with_extras: bool, name: str = "eval_loss", copies: bool = False) -> optuna.Study:
    """Ten complete trials, all at 0.1 at 20% (the objective ties there); eval loss at 20% orders the finals.
    `copies`: each also reports the loss in bits and its perplexity."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(CONFIG_ATTR, {"early_stage": {"predictor": "learned", "fraction": 0.2}})
    rng = np.random.default_rng(0)
    for i, final in enumerate(rng.permutation(np.linspace(0.3, 0.9, 10))):
        loss = {"20": 2.0 - final, "60": 1.5 - final, "100": 1.2 - final}
        extras = {name: loss, "train_loss": {"20": 1.0}}
        if copies:
            extras["val_bpb"] = {k: v / math.log(2) for k, v in loss.items()}
            extras["val_ppl"] = {k: math.exp(v) for k, v in loss.items()}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=float(final),
                params={"lr": 1e-3 * (1 + i % 3)},  # unrelated to the final
                distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
                intermediate_values={20: 0.1, 60: final / 2, 100: float(final)},
                user_attrs={EXTRAS_ATTR: extras} if with_extras else {},
            )
        )
    return study


def test_trial_curve_reads_the_stored_extras_aligned_to_its_evaluations():
    trial = _study(with_extras=True).trials[0]
    curve = trial_curve(trial)
    assert list(curve.fractions) == [0.2, 0.6, 1.0]
    assert np.allclose(curve.extras["eval_loss"], [2.0 - trial.value, 1.5 - trial.value, 1.2 - trial.value])
    assert np.isnan(curve.extras["train_loss"][1:]).all() and curve.extras["train_loss"][0] == 1.0
    assert trial_curve(_study(with_extras=False).trials[0]).extras == {}


def test_tune_s_flattened_config_stored_as_extras_by_earlier_sessions_is_not_read_as_a_metric():
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=0.5,
        intermediate_values={20: 0.1, 100: 0.5},
        user_attrs={EXTRAS_ATTR: {"eval_loss": {"20": 1.0, "100": 0.7}, "config/learning_rate": {"20": 1e-3}}},
    )
    assert set(trial_curve(trial).extras) == {"eval_loss"}


def test_hindsight_and_report_use_the_stored_eval_loss():
    with_loss = leave_one_out(_study(with_extras=True), "max")
    assert len(with_loss) == 10 and with_loss["basis"].str.contains("learned").all()
    rho = with_loss[["predicted", "final"]].corr(method="spearman").iloc[0, 1]
    assert rho > 0.9  # eval loss at 20% orders the finals; the objective alone ties there
    without = leave_one_out(_study(with_extras=False), "max")
    assert without[["predicted", "final"]].corr(method="spearman").iloc[0, 1] < 0.9
    study = _study(with_extras=True)
    table = trials_table(study)
    assert np.allclose(table["early_eval_loss"], 2.0 - table["final"]) and "early_train_loss" in table
    assert "eval_loss at the early fraction vs final rank: Spearman 1.00." in verdict_summary(table, "max", study)


def test_the_report_gives_a_copy_of_a_loss_no_line_of_its_own():
    """A loss reported again in bits and as its perplexity ranks the trials as the loss does: the report had a line
    for each (three identical Spearman lines); it names the copies once (round 39)."""
    study = _study(with_extras=True, copies=True)
    table = trials_table(study)
    assert {"early_val_bpb", "early_val_ppl"} <= set(table.columns)  # the table still shows what was reported
    lines = verdict_summary(table, "max", study)
    assert "eval_loss at the early fraction vs final rank: Spearman 1.00." in lines
    assert not any(line.startswith(("val_bpb at", "val_ppl at")) for line in lines)
    assert (
        "val_bpb, val_ppl: another loss's values, a multiple, power or exp of them (the same ranks), read once."
        in lines
    )
    plain = _study(with_extras=True)
    assert not any("read once" in line for line in verdict_summary(trials_table(plain), "max", plain))


def test_a_loss_named_loss_first_is_reported_and_its_nan_stops_the_trial():
    """A logger's `loss/val` is a loss (`metric_names.is_loss`): the report's early column and its rank line, and
    the scheduler's NaN check; a mixed-precision `loss_scale` is not."""
    study = _study(with_extras=True, name="loss/val")
    table = trials_table(study)
    assert np.allclose(table["early_loss/val"], 2.0 - table["final"])
    assert "early_loss/val" in report_columns(table, "value")
    assert "loss/val at the early fraction vs final rank: Spearman 1.00." in verdict_summary(table, "max", study)
    assert diverged_loss({"score": 0.5, "loss/val": math.nan}, "score", "max") == "loss/val is nan"
    assert diverged_loss({"score": 0.5, "loss_scale": math.nan}, "score", "max") is None
