"""The search service: Bayesian trials (Optuna TPE) on Ray Tune, judged at the early fraction.

    >>> from foretune.search import run_search
    >>> outcome = run_search(config, out="runs/search-demo")   # resumes the study if it exists

Pure (no Ray): `rule` (the early-stage rule), `evaluator` (its bookkeeping on plain curves; `fits`: its predictor's
fit, kept until a refit is due; `earlier_trials`: the study's trials it did not run, earlier sessions' and other
drivers'), `space`,
`storage` (studies, resume, reading curves), `drivers` (several drivers on one study: stale trials,
the shared trial target), `report`, `dashboard`. On Ray Tune: `scheduler` (the
evaluator as a thin TrialScheduler), `searcher`, `trainable`, `progress`, `tuner` (the one place that
builds the Ray + Optuna glue), `driver` (`run_search`), `function_trial` (your own `train_fn(params,
reporter)` as the trial: `foretune.optimize`, `--trainable`), `cluster` (a study every node reaches); `sweep`
(saturation sweeps; its runs as Ray tasks); `estimate` (a search's and a sweep's cost from `pilot`, a few
timed steps of each model) and `estimate_vs_actual` (the report's comparison with the trials). May import
`foretune.predictors`, `config`, `keys`, `errors`; `trainers` only in the Ray modules, `sweep` and `pilot`.
Importing this package does not import Ray, nor the predictors (scipy.stats): a Ray trial's process
imports `foretune.search.trainable` and should not pay for what only the driver judges with.
"""

__all__ = ["EarlyStageRule", "Verdict", "run_search"]

# name -> module it is defined in, imported on first use (PEP 562)
_LAZY = {
    "EarlyStageRule": "foretune.search.rule",
    "Verdict": "foretune.search.rule",
    "run_search": "foretune.search.driver",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'foretune.search' has no attribute {name!r}")
