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
NODE_KEY = "node_id"  # the Ray node a trial ran on (a result key, from the trainable)

# --- Optuna trial user attributes ---
TEST_ATTR_PREFIX = "test_"  # test_<metric>: the trial's held-out test scores
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
HISTORY_STUDIES_ATTR = "early_history_studies"  # earlier studies whose finished runs the predictor used
NODE_ATTR = "node"  # the Ray node id the trial ran on
# Sweep trials.
N_SAMPLES_ATTR = "n_samples"

# --- Optuna study user attributes ---
CONFIG_ATTR = "foretune_config"  # the validated config the study was started with
ZERO_SHOT_ATTR = "zero_shot_test"  # the untuned model's test scores
DRIVER_SESSIONS_ATTR = "driver_sessions"  # how many `foretune search` sessions have driven the study

# --- files ---
JOURNAL_NAME = "study.journal"  # the default study storage inside a run folder
