import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

from foretune.keys import (
    CONFIG_ATTR,
    EARLY_BASIS_ATTR,
    HISTORY_STUDIES_ATTR,
)
from foretune.predictors._signal import rank_only_basis
from foretune.search.hindsight import bases_text, hindsight_lines, leave_one_out
from foretune.search.report import build_report, trials_table, verdict_summary
from tests.search.conftest import judged_trial


def test_report_states_agreement_coverage_compute_and_basis():
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(HISTORY_STUDIES_ATTR, ["earlier-study"])
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.8, 0.30))  # ranked by its early score: no prediction
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.7, 0.25, predicted=(0.6, 0.7, 0.8)))  # inside
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.5, 0.20, predicted=(0.55, 0.6, 0.65)))  # outside
    study.add_trial(judged_trial(TrialState.PRUNED, None, 0.10, predicted=(0.2, 0.3, 0.4), reached=0.2))
    table = trials_table(study).set_index("trial")
    assert table.loc[0, "final_in_interval"] is None and table.loc[0, "predicted_final"] != table.loc[0, "final"]
    assert table.loc[1, "final_in_interval"] is True and table.loc[2, "final_in_interval"] is False
    assert table.loc[3, "final_in_interval"] is None  # pruned: no final to check
    assert table.loc[0, "early_basis"] == "ranked by early score; 1 finished run, no final predicted"
    lines = verdict_summary(trials_table(study), "max", study)
    assert "Early rank vs final rank over 3 complete trials: Spearman 1.00." in lines
    assert "80% intervals: 1 of 2 finals inside (50%)." in lines
    assert "Predicted final vs final: not measured (2 complete trial(s) had a predicted final, 3 needed)." in lines
    assert "Compute: 3.20 of 4 full trial budgets (80% of running every trial to the end; pruning saved 20%)." in lines
    best_kept = (
        "Best configuration kept: likely, not verified (every stopped trial's 80% interval lies below the best"
        " final 0.8; the closest bound is 0.4)."
    )
    assert best_kept in lines
    assert "1 trial(s) were ranked by their early score alone (too few finished runs to predict)." in lines
    assert "Finished runs of earlier studies used by the predictor: earlier-study." in lines


def test_a_trial_ranked_by_the_eval_loss_with_no_final_is_named_apart_from_the_early_score_ones():
    study = optuna.create_study(direction="maximize")
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.8, 0.30))  # ranked by its early score
    ranked = judged_trial(TrialState.COMPLETE, 0.9, 0.05)
    ranked.user_attrs[EARLY_BASIS_ATTR] = rank_only_basis("eval_loss", 0.2, 2)
    study.add_trial(ranked)
    table = trials_table(study).set_index("trial")
    assert table.loc[1, "predicted_final"] is None or pd.isna(table.loc[1, "predicted_final"])
    lines = verdict_summary(table.reset_index(), "max", study)
    assert "1 trial(s) were ranked by their early score alone (too few finished runs to predict)." in lines
    assert (
        "1 trial(s): ranked by eval_loss at 20%; 2 finished runs, a judged run's eval_loss more than 2 x their range "
        "below theirs: no final predicted."
    ) in lines

    assert not any("held between" in line for line in lines)


def test_predictions_held_between_earlier_ones_are_counted():
    study = optuna.create_study(direction="maximize")
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.7, 0.05, predicted=(0.6, 0.7, 0.8)))
    held = judged_trial(TrialState.COMPLETE, 0.72, 0.05, predicted=(0.6, 0.7, 0.8))
    held.user_attrs[EARLY_BASIS_ATTR] = (
        "predicted by auto from eval_loss at 20%, 4 finished runs, 80% conformal interval; held between the trials "
        "judged before by eval_loss at 20% (this fit: 0.64)"
    )
    study.add_trial(held)
    lines = verdict_summary(trials_table(study), "max", study)
    assert (
        "1 predicted final(s) held between those of the trials judged before, in the order of the early held-out "
        "loss (each one's basis gives its fit's own value)."
    ) in lines


def test_best_kept_stays_unknown_when_a_stopped_trial_could_have_won():
    study = optuna.create_study(direction="maximize")
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.8, 0.30))
    study.add_trial(judged_trial(TrialState.PRUNED, None, 0.10, predicted=(0.5, 0.7, 0.9), reached=0.2))
    study.add_trial(judged_trial(TrialState.PRUNED, None, 0.05, reached=0.2))  # ranked by early score: no interval
    lines = verdict_summary(trials_table(study), "max", study)
    assert (
        "Best configuration kept: unknown (2 stopped trial(s) never reached their final; 1 of them had no predicted"
        " interval)." in lines
    )
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.6, 0.25))
    lines = verdict_summary(trials_table(study).query("trial != 2"), "max", study)
    assert (
        "Best configuration kept: unknown (1 stopped trial(s) never reached their final; a stopped trial's 80%"
        " interval reaches 0.9, past the best final 0.8)." in lines
    )


def test_best_kept_is_not_claimed_before_any_final():
    """A study whose only trial failed has no best configuration to have kept (it said "yes, no trial was stopped
    early")."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    lines = verdict_summary(trials_table(study), "max", study)
    assert "Best configuration kept: no configuration yet (no trial reached its final)." in lines


def test_a_flat_early_score_gets_no_spearman_shown():
    """Every trial at the same early score (an accuracy at its floor at 20%) or the same predicted final: a rank
    correlation is not a number, and the report printed 'Spearman nan'; it says why there is none."""
    study = optuna.create_study(direction="maximize")
    for final in (0.8, 0.7, 0.5):
        study.add_trial(judged_trial(TrialState.COMPLETE, final, 0.05, predicted=(0.5, 0.6, 0.7)))
    lines = verdict_summary(trials_table(study), "max", study)
    assert "Early rank vs final rank over 3 complete trials: no Spearman (the early scores all equal)." in lines
    assert "Predicted final vs final over 3 complete trials: no Spearman (the predicted finals all equal)." in lines
    assert not any("nan" in line for line in lines)
    study = optuna.create_study(direction="maximize")
    for early in (0.1, 0.2, 0.3):
        study.add_trial(judged_trial(TrialState.COMPLETE, 0.6, early, predicted=(0.5, 0.6 + early, 0.9)))
    lines = verdict_summary(trials_table(study), "max", study)
    assert "Predicted final vs final over 3 complete trials: no Spearman (the finals all equal)." in lines


def test_hindsight_predicts_every_complete_trial_from_the_others():
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(CONFIG_ATTR, {"early_stage": {"predictor": "snapshot", "fraction": 0.2}})
    for early, final in ((0.1, 0.5), (0.2, 0.6), (0.3, 0.8), (0.4, 0.7)):
        study.add_trial(
            create_trial(state=TrialState.COMPLETE, value=final, intermediate_values={20: early, 100: final})
        )
    check = leave_one_out(study, "max")
    assert list(check["trial"]) == [0, 1, 2, 3]
    assert (check["lower"] <= check["predicted"]).all() and (check["predicted"] <= check["upper"]).all()
    # snapshot: the early score moved by the other trials' median gain, so the ranking is the early one
    assert check.loc[0, "predicted"] == pytest.approx(0.1 + 0.4)
    (line,) = hindsight_lines(study, "max")
    assert line.startswith("In hindsight, each of the 4 complete trials predicted at 20% from the others")
    assert "Spearman 0.80 with the finals" in line
    assert "(leave-one-out, predicted by snapshot from 3 finished runs, 80% conformal interval)" in line
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={20: 0.05}))
    assert len(leave_one_out(study, "max")) == 4  # a stopped trial has no final to check
    # several bases (the demo: the eval loss's line for three trials, the train loss's for one) are counted
    mixed = pd.Series(["from eval_loss", "from eval_loss", "from train_loss", "from eval_loss"])
    assert bases_text(mixed) == "from eval_loss: 3 of them; from train_loss: 1 of them"


def test_hindsight_keeps_a_share_in_percent_in_its_range_as_the_search_did():
    """Your own trainable's `val_acc` in percent: the search clipped its predictions to 0..100, so does hindsight."""
    study = optuna.create_study(direction="maximize")
    own = {"trainable": "mypkg.train:run", "metric": "val_acc", "space": {"lr": {"type": "float", "low": 0, "high": 1}}}
    study.set_user_attr(CONFIG_ATTR, {"search": own, "early_stage": {"predictor": "snapshot", "fraction": 0.2}})
    for early, final in ((10, 50), (20, 60), (30, 99), (90, 98)):
        study.add_trial(
            create_trial(state=TrialState.COMPLETE, value=final, intermediate_values={20: early, 100: final})
        )
    check = leave_one_out(study, "max")
    assert check.loc[3, "predicted"] == 100.0 and check["upper"].max() == 100.0  # 90 + a median gain of 40: 130
    unbounded = {**own, "metric_range": "none"}
    study.set_user_attr(CONFIG_ATTR, {"search": unbounded, "early_stage": {"predictor": "snapshot", "fraction": 0.2}})
    assert leave_one_out(study, "max").loc[3, "predicted"] == pytest.approx(130.0)  # the test can fail: unclipped


def test_a_study_run_without_foretune_is_reported_for_what_it_holds(tmp_path):
    """Two objectives, no curves, no foretune config: the metric is the study's first metric name (it was
    'value'), no best.yaml is promised, complete trials count as whole budgets (they counted 0: 'pruning saved
    100%'), a failed or running trial is left out of the compute, and no rank agreement is claimed (it said
    'Spearman nan' over 0 trials)."""
    from foretune.search.report import build_report

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "cost.gpu_hours"])
    for accuracy, cost in ((0.7, 0.3), (0.6, 0.2), (0.5, 0.4)):
        study.add_trial(create_trial(values=[accuracy, cost], params={}, distributions={}))
    study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={}, distributions={}))
    study.ask()  # running
    report = build_report(study, tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert report.metric == "accuracy" and "Best: trial 0, accuracy = 0.7." in markdown
    assert not (tmp_path / "best.yaml").exists() and "best.yaml" not in markdown
    assert "Compute: 3.00 of 4 full trial budgets (75% of running every trial to the end; pruning saved 25%)." in (
        report.summary
    )
    assert "not measured (0 of 3 complete trials have an early score, 3 needed)" in markdown
    assert "nan" not in markdown.split("|")[0]


def test_the_markdown_table_keeps_the_verdicts_columns_and_names_where_the_rest_are(tmp_path):
    """The demo's report.md table was 67 columns wide (each test score's interval per attribute, every cost)."""
    study = optuna.create_study(direction="maximize")
    study.set_metric_names(["accuracy"])
    best = judged_trial(TrialState.COMPLETE, 0.8, 0.30)
    details = {"test_accuracy": 0.75, "test_accuracy_ci_low": 0.5, "test_acc/Brand": 0.9, "cost.train_seconds": 84.0}
    best.user_attrs.update(details | {"cost.tokens": 5715})
    study.add_trial(best)
    study.add_trial(judged_trial(TrialState.PRUNED, None, 0.10, predicted=(0.2, 0.3, 0.4), reached=0.2))
    report = build_report(study, tmp_path)
    header = next(line for line in report.files["markdown"].read_text().splitlines() if line.startswith("| trial"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:10] == ["trial", "state", "early_rank", "final_rank", "final", "predicted_final"] + [
        "predicted_lower",
        "predicted_upper",
        "final_in_interval",
        "early_score",
    ]
    assert {"early_basis", "param.lr", "test_accuracy", "cost.train_seconds"} <= set(columns)
    assert not {"test_acc/Brand", "test_accuracy_ci_low", "cost.tokens", "estimate", "error"} & set(columns)
    left_out = len(report.table.columns) - len(columns)
    assert (
        f"{left_out} more columns (test scores with intervals, costs) in `trials.csv`."
        in report.files["markdown"].read_text()
    )
    assert {"test_acc/Brand", "cost.tokens"} <= set(pd.read_csv(tmp_path / "trials.csv").columns)
