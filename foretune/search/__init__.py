"""The search service: Bayesian trials (Optuna TPE) on Ray Tune, judged at the early fraction.

    >>> from foretune.search import run_search
    >>> outcome = run_search(config, out="runs/search-demo")   # resumes the study if it exists

Modules: `space` (config space -> Optuna), `rule` (the pure early-stage rule), `scheduler` (the rule
as a Ray Tune scheduler), `searcher` (honest Optuna records), `storage` (studies and resume),
`tuner` (the one place that builds the Ray + Optuna glue), `driver` (`run_search`), `report`,
`dashboard`. Importing this package does not import Ray.
"""

from foretune.search.rule import EarlyStageRule, Verdict

__all__ = ["EarlyStageRule", "Verdict", "run_search"]


def __getattr__(name: str):
    if name == "run_search":
        from foretune.search.driver import run_search

        return run_search
    raise AttributeError(f"module 'foretune.search' has no attribute {name!r}")
