"""Names shared across packages, written once: result keys, Optuna study/trial attribute names, files.

Pure constants: importing this module imports nothing else.
"""

from __future__ import annotations

from typing import Literal, get_args

# The search direction, everywhere a metric is maximised or minimised.
Mode = Literal["max", "min"]
MODES: tuple[str, ...] = ("max", "min")


def check_mode(mode: object, *, what: str = "mode") -> str:
    """`mode` if it is 'max' or 'min'; a ValueError that names the value otherwise."""
    if mode not in MODES:
        raise ValueError(f"{what} must be 'max' or 'min', got {mode!r}")
    return str(mode)


# What an adaptive saturation sweep narrows down before it stops.
SweepTarget = Literal["min_useful_n", "min_sufficient_n"]
SWEEP_TARGETS: tuple[str, ...] = ("min_useful_n", "min_sufficient_n")

# The regime a saturation fit reports beside its answer (`foretune.predictors.saturation.regime`).
REGIME_RISING = "still rising"
REGIME_BENT = "bent"
REGIME_FLAT = "flat"
REGIME_NOT_MONOTONE = "ill-behaved: not monotone"
SaturationRegime = Literal["still rising", "bent", "flat", "ill-behaved: not monotone"]
REGIME_KEY = "regime"  # its key in a saturation summary (summary.json, --json)

# The early-stage predictors by name (`foretune.predictors.PREDICTORS` builds them; a test keeps the two equal).
PredictorName = Literal["auto", "snapshot", "curve", "learned"]
PREDICTOR_NAMES: tuple[str, ...] = get_args(PredictorName)

# Scale factor that turns a median absolute deviation into a normal standard deviation.
MAD_TO_STD = 1.4826

# --- what a trainer reports at each budget fraction (a Reporter's row, a Ray Tune result) ---
FRACTION_KEY = "fraction"  # share of the trial's budget reached, in (0, 1]
STEP_KEY = "step"  # optimizer steps done
BUDGET_PCT_KEY = "budget_pct"  # the Optuna intermediate-value step: percent of the budget, aligned across trials
TEST_PREFIX = "test/"  # keys of the final held-out evaluation (Ray flattens {"test": {...}})
CONFIG_PREFIX = "config/"  # Tune's result carries the trial's config, flattened into these keys: not metrics
NODE_KEY = "node_id"  # the Ray node a trial ran on (a result key, from the trainable)
# A completed trial's objective re-scored on resampled validation items (`bootstrap.paired_draws`): a result key
# and the same-named trial user attribute; the items they were drawn from, as "<count>:<fingerprint>".
FINAL_DRAWS_KEY = "final_draws"
FINAL_ITEMS_KEY = "final_items"

# --- Optuna trial user attributes ---
TEST_ATTR_PREFIX = "test_"  # test_<metric>: the trial's held-out test scores
# <metric>_ci_low / <metric>_ci_high: a test metric's bootstrap 95% interval (foretune.predictors.bootstrap)
CI_LOW_SUFFIX = "_ci_low"
CI_HIGH_SUFFIX = "_ci_high"
ITEMS_KEY = "n_items"  # how many test items were scored (beside the intervals, for the small-test note)
FRACTION_REACHED_ATTR = "fraction_reached"
BUDGET_STEPS_ATTR = "budget_steps"
ERROR_ATTR = "error"
INTERRUPTED_ATTR = "interrupted"  # set on trials that were RUNNING when their driver died
RETRY_OF_ATTR = "retry_of"  # number of the interrupted trial a queued trial re-runs
DRIVER_ATTR = "driver"  # host:pid:start of the `foretune search` process that asked the trial
# The early-stage verdict (written by the evaluator, read by the report and on resume).
EARLY_FRACTION_ATTR = "early_fraction"
EARLY_SCORE_ATTR = "early_score"
PREDICTED_FINAL_ATTR = "predicted_final"
PREDICTED_LOWER_ATTR = "predicted_lower"
PREDICTED_UPPER_ATTR = "predicted_upper"
EARLY_RANK_ATTR = "early_rank"
EARLY_JUDGED_WITH_ATTR = "early_judged_with"
EARLY_DECISION_ATTR = "early_decision"
EARLY_BASIS_ATTR = "early_basis"  # in words: predicted by what from how many finished runs, or "no final predicted"
EARLY_FINISHED_USED_ATTR = "early_finished_used"  # finished runs the verdict's predictor learned from
# {"metric": ..., "value": ...}: what later judgements hold this trial's predicted final to (`judged_order`)
EARLY_ORDER_ATTR = "early_order"
# Predictive termination (early_stage.rule="probability"): the latest judgement of a trial, at each evaluation
# from the early fraction on; on a PRUNED trial, the judgement that stopped it.
JUDGED_FRACTION_ATTR = "judged_fraction"  # budget fraction of that judgement
JUDGED_PREDICTION_ATTR = "judged_prediction"  # the predicted final it rested on
BEAT_PROBABILITY_ATTR = "beat_probability"  # calibrated P(final better than the k-th best final so far)
BEAT_TARGET_ATTR = "beat_target"  # that k-th best final
# Later rungs of the quantile rule (early_stage.rungs): the latest rung a trial was judged at (1 = the first, at
# early_fraction), with JUDGED_FRACTION_ATTR / JUDGED_PREDICTION_ATTR of that judgement.
EARLY_RUNG_ATTR = "early_rung"
JUDGED_RANK_ATTR = "judged_rank"  # rank of its predicted final among the trials that reached that rung (1 = best)
JUDGED_WITH_ATTR = "judged_with"  # how many trials that rank was among
REPEAT_OF_ATTR = "repeat_of"  # early_stage.stop_repeats: the finished trial whose curve this one repeated
HISTORY_STUDIES_ATTR = "early_history_studies"  # earlier studies whose finished runs the predictor used
NODE_ATTR = "node"  # the Ray node id the trial ran on
# Sweep trials.
N_SAMPLES_ATTR = "n_samples"

# --- Optuna study user attributes ---
CONFIG_ATTR = "foretune_config"  # the validated config the study was started with
ZERO_SHOT_ATTR = "zero_shot_test"  # the untuned model's test scores
TEST_FOLDS_ATTR = "test_folds"  # best config and zero-shot scored over k disjoint test folds (search/held_out_folds.py)
DRIVER_SESSIONS_ATTR = "driver_sessions"  # how many `foretune search` sessions have driven the study

# --- files ---
JOURNAL_NAME = "study.journal"  # the default study storage inside a run folder
ESTIMATE_NAME = "estimate.json"  # `foretune estimate --out RUN_DIR`: the pilot's projection, compared by the report

# --- costs of a trial (foretune.trainers.costs): result keys, and the same names as Optuna trial user attributes ---
COST_PREFIX = "cost."
COST_TRAIN_SECONDS = "cost.train_seconds"  # wall time of the run so far: model load, steps, evaluations
COST_DEVICE_HOURS = "cost.device_hours"  # GPU-hours on GPUs; core-hours (seconds x torch threads / 3600) on CPU
COST_TOKENS = "cost.tokens"  # tokens trained on (prompt + answer, padding left out)
COST_PEAK_MEMORY_MB = "cost.peak_memory_mb"  # CUDA max allocated, or the process's peak RSS on CPU
COST_PARAMS_TOTAL = "cost.params_total"
COST_PARAMS_TRAINABLE = "cost.params_trainable"
COST_LATENCY_MS = "cost.latency_ms"  # mean inference time per example on the evaluation set (last evaluation)
COST_USD = "cost.usd"  # device_hours x cost.price_per_device_hour, when a price is set
# Costs that grow with the budget trained (extrapolated linearly from the fraction reached); the others are known early.
CUMULATIVE_COSTS: tuple[str, ...] = (COST_TRAIN_SECONDS, COST_DEVICE_HOURS, COST_TOKENS, COST_USD)
# Every other metric a trial reported at each evaluation (eval loss, train loss, the task's metrics), as
# {metric: {budget percent: value}}: the signals the early-stage predictor saw in the run (`Curve.extras`).
EXTRAS_ATTR = "extras"
CURVE_ATTR = "curve"  # multi-objective studies: {budget percent: value} of the first objective (no intermediate values)
PARETO_DOMINATED_BY_ATTR = "early_dominated_by"  # judged trials whose predicted objectives dominate this one's
PARETO_PREDICTED_ATTR = "early_predicted_objectives"  # {objective: predicted final} the verdict compared
