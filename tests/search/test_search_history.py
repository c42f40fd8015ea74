import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from foretune.config import ExperimentConfig
from foretune.keys import CONFIG_ATTR, JOURNAL_NAME
from foretune.predictors import get_predictor
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.history import history_curves
from foretune.search.rule import EarlyStageRule
from foretune.search.storage import open_storage


def _study(storage, name, config, finals):
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr(CONFIG_ATTR, config)
    for i, final in enumerate(finals):
        curve = {pct: final * pct / 100 for pct in (20, 40, 60, 80, 100)}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=final,
                params={"lr": 1e-3 * (i + 1)},
                distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
                intermediate_values=curve,
            )
        )
    return study


def test_finished_runs_of_matching_earlier_studies_fit_the_predictor(tmp_path):
    storage = open_storage(str(tmp_path / JOURNAL_NAME))
    config = ExperimentConfig().model_dump(mode="json")
    other_metric = ExperimentConfig().with_overrides({"search.metric": "eval_loss", "search.mode": "min"}, where="t")
    _study(storage, "earlier", config, [0.5, 0.6, 0.7])
    _study(storage, "other-metric", other_metric.model_dump(mode="json"), [0.1, 0.2, 0.3])
    _study(storage, "current", config, [])

    curves, used = history_curves(storage, "current", config)
    assert used == ["earlier"] and len(curves) == 3
    assert curves[0].trial == "earlier/0" and curves[0].fractions[-1] == 1.0 and curves[0].final == 0.5
    assert all(c.history for c in curves)  # they fit the predictor, never calibrate its interval

    # The first trial of the new study is ranked by what the 3 earlier runs teach, but gets no predicted
    # final: the new study has no finished run of its own to calibrate one on.
    rule = EarlyStageRule(mode="max", rule="top_k", keep=5, grace_trials=0)
    evaluator = EarlyStageEvaluator(
        mode="max", fraction=0.2, make_predictor=lambda: get_predictor("auto", mode="max"), rule=rule, history=curves
    )
    evaluator.add("new", {"lr": 1e-3})
    evaluator.observe("new", 0.2, 0.1)
    assert evaluator.judge("new", 0.2)
    notes = evaluator.verdicts["new"]
    assert "predicted_final" not in notes
    assert "3 runs of earlier studies; 0 finished runs of this study, no final predicted" in notes["early_basis"]
    assert notes["early_finished_used"] == 3
