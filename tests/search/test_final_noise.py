"""The report weighs the finals against the noise of their validation items (`foretune.search.final_noise`):
studies as the search records them, each complete trial with its paired draws (`final_draws`, `final_items`)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from foretune.keys import FINAL_DRAWS_KEY, FINAL_ITEMS_KEY
from foretune.predictors.metrics import spearman
from foretune.search.final_noise import agreement_draws, audited_lead_line, final_draws, final_ranges, noise_lines
from tests.search.conftest import judged_trial

ITEMS = "48:0123456789abcdef"


def study_with_draws(finals, noise, predicted=None, items=None, seed=0, direction="maximize", kept=True):
    """Complete trials whose draws are their final plus a shared draw effect and their own noise (sd `noise`)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, 200)
    study = optuna.create_study(direction=direction)
    for i, final in enumerate(finals):
        interval = None if predicted is None else (predicted[i] - 0.05, predicted[i], predicted[i] + 0.05)
        trial = judged_trial(TrialState.COMPLETE, final, final / 2, predicted=interval)
        if kept:  # else a trainer that kept no predictions: no draws
            trial.set_user_attr(FINAL_DRAWS_KEY, list(final + shared + rng.normal(0, noise, 200)))
            trial.set_user_attr(FINAL_ITEMS_KEY, (items or [ITEMS] * len(finals))[i])
        study.add_trial(trial)
    study.add_trial(judged_trial(TrialState.PRUNED, None, 0.1, reached=0.2))  # no final, no draws
    return study


def lines_of(study):
    from foretune.search.report import trials_table

    mode = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    return noise_lines(study, trials_table(study), mode)


def test_finals_far_apart_against_small_noise():
    finals, predicted = [0.9, 0.7, 0.5, 0.3], [0.8, 0.6, 0.55, 0.2]
    study = study_with_draws(finals, noise=0.005, predicted=predicted)
    draws, items = final_draws(study)
    assert items == ITEMS and draws.shape == (200, 4)
    noise, best, agreement = lines_of(study)
    sd = float(draws.std(ddof=1).median())
    assert 0.005 < sd < 0.01  # shared + own noise: about 0.005 x sqrt(2)
    assert noise == (
        f"Validation noise: each final is scored on 48 validation items; on 200 resamples of them a final moves by"
        f" {sd:.3g} (median standard deviation over 4 complete trials), against {np.std(finals, ddof=1):.3g} between"
        " the finals."
    )
    assert best == "Best final (trial 0, 0.9) ahead of the next (trial 1, 0.7) in 100% of the resamples."
    assert agreement == (
        "Predicted final vs final on resampled validation items (4 trials): Spearman 1.00 to 1.00 in 90% of 200 draws."
    )


def test_near_tied_finals_lead_on_about_half_the_resamples_and_their_agreement_ranges_widely():
    finals, predicted = [0.74, 0.739, 0.738, 0.6, 0.5], [0.70, 0.72, 0.71, 0.65, 0.5]
    study = study_with_draws(finals, noise=0.03, predicted=predicted, seed=1)
    _, best, agreement = lines_of(study)
    lead = float(best.split(" in ")[1].split("%")[0]) / 100
    assert best.startswith("Best final (trial 0, 0.74) ahead of the next (trial 1, 0.739)") and 0.35 < lead < 0.65
    draws, _ = final_draws(study)
    rhos = [spearman(predicted, row) for row in draws.to_numpy()]
    low, high = np.percentile(rhos, [5, 95])
    assert agreement.endswith(f"Spearman {low:.2f} to {high:.2f} in 90% of 200 draws.") and high - low > 0.3


def test_agreement_draws_are_one_spearman_per_draw_over_the_predicted_trials_only():
    from foretune.search.report import trials_table

    finals, predicted = [0.74, 0.739, 0.738, 0.6, 0.5], [0.70, 0.72, 0.71, 0.65, 0.5]
    study = study_with_draws(finals, noise=0.03, predicted=predicted, seed=1)
    unpredicted = judged_trial(TrialState.COMPLETE, 0.7, 0.35)  # ranked by its early score: no final predicted
    unpredicted.set_user_attr(FINAL_DRAWS_KEY, list(np.linspace(0.6, 0.8, 200)))
    unpredicted.set_user_attr(FINAL_ITEMS_KEY, ITEMS)
    study.add_trial(unpredicted)
    draws, _ = final_draws(study)
    assert draws.shape == (200, 6)
    rhos = agreement_draws(study, trials_table(study))
    assert np.allclose(rhos, [spearman(predicted, row) for row in draws[[0, 1, 2, 3, 4]].to_numpy()])
    assert 0 < (rhos >= 0.8).mean() < 1  # near-tied finals: the target met on some draws, not all
    few = study_with_draws(finals[:2], noise=0.03, predicted=predicted[:2], seed=1)
    assert agreement_draws(few, trials_table(few)).size == 0  # 2 predicted trials: no rank agreement


def test_a_lower_is_better_objective_leads_with_its_lowest_final():
    study = study_with_draws([0.30, 0.50, 0.20], noise=0.01, direction="minimize")
    _, best = lines_of(study)  # no predicted finals: no agreement range
    assert best == "Best final (trial 2, 0.2) ahead of the next (trial 0, 0.3) in 100% of the resamples."


def test_only_trials_scored_on_the_same_items_are_compared():
    other = "48:fedcba9876543210"
    study = study_with_draws([0.9, 0.7, 0.5, 0.3], noise=0.01, items=[ITEMS, ITEMS, other, ITEMS])
    draws, items = final_draws(study)
    assert items == ITEMS and list(draws.columns) == [0, 1, 3]
    assert "over 3 complete trials" in lines_of(study)[0]


@pytest.mark.parametrize("kept", [True, False])
def test_fewer_than_three_trials_with_paired_draws_say_nothing(kept):
    """Two of three trials on the same items, or no draws at all (a trainer that kept no predictions)."""
    items = [ITEMS, ITEMS, "48:other"] if kept else None
    assert lines_of(study_with_draws([0.9, 0.7, 0.5], noise=0.01, items=items, kept=kept)) == []
    assert len(lines_of(study_with_draws([0.9, 0.7, 0.5], noise=0.01))) == 2  # the same three, paired: said


def audited_study(audited_final, kept_final, noise, seed=0):
    """Two kept trials and one audited trial (the verdict would have stopped it), each with paired draws."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, 200)
    study = optuna.create_study(direction="maximize")
    for final, decision in ((kept_final, "kept"), (kept_final - 0.1, "grace"), (audited_final, "audit")):
        trial = judged_trial(TrialState.COMPLETE, final, 0.2, predicted=(0.4, 0.5, 0.6), decision=decision)
        trial.set_user_attr(FINAL_DRAWS_KEY, list(final + shared + rng.normal(0, noise, 200)))
        trial.set_user_attr(FINAL_ITEMS_KEY, ITEMS)
        study.add_trial(trial)
    return study


def test_an_audited_best_is_weighed_against_the_best_kept_trial_on_the_same_resamples():
    from foretune.search.report import trials_table, verdict_summary

    near = audited_study(0.702, 0.700, noise=0.03)
    line = audited_lead_line(near, trials_table(near), "max")
    share = float(line.split(" in ")[1].split("%")[0]) / 100
    assert line.startswith("On 200 resamples of the validation items the audited trial 2 stays ahead of the best kept")
    assert line.endswith("(50% would be a coin toss).") and "best kept trial 0 in" in line and 0.3 < share < 0.7
    assert line in verdict_summary(trials_table(near), "max", near)  # after "Best configuration kept: no (...)"
    far = audited_study(0.9, 0.7, noise=0.01)
    assert "in 100% of them" in audited_lead_line(far, trials_table(far), "max")
    kept_best = audited_study(0.6, 0.7, noise=0.01)  # the best final is a kept trial's: nothing to weigh
    assert audited_lead_line(kept_best, trials_table(kept_best), "max") is None


def test_final_ranges_are_each_finals_middle_90_percent_and_the_plot_draws_them(tmp_path):
    from foretune.cli.plots import plot_predicted_vs_final
    from foretune.search.report import trials_table

    study = study_with_draws([0.9, 0.7, 0.5], noise=0.02, predicted=[0.8, 0.7, 0.4])
    ranges = final_ranges(study)
    draws, _ = final_draws(study)
    assert list(ranges.index) == [0, 1, 2] and list(ranges.columns) == ["low", "high"]
    for trial in ranges.index:
        assert ranges.loc[trial, "low"] == pytest.approx(np.quantile(draws[trial], 0.05))
        assert ranges.loc[trial, "high"] == pytest.approx(np.quantile(draws[trial], 0.95))
    path = tmp_path / "predicted_vs_final.png"
    plot_predicted_vs_final(trials_table(study), path, metric="accuracy", final_ranges=ranges)
    assert path.stat().st_size > 10_000
    assert final_ranges(study_with_draws([0.9, 0.7, 0.5], noise=0.02, kept=False)).empty
