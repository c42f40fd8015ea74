"""The trials of a study an evaluator did not run itself: earlier sessions' and, meanwhile, other drivers'.

A session's own trials reach its evaluator through Ray. The study's other trials reach it through the storage:
those of earlier sessions, read once when the session starts (a resume), and, with several `foretune search`
drivers on one study (README, "Several drivers on one study"), those the other drivers run meanwhile (`peers`: read
again before each first verdict, and at most every `refresh_s` before later ones). Without them, each of four
drivers would learn from about a quarter of the finished runs and rank each trial against a quarter of the judged
ones. Other drivers' running trials count too, as a driver's own do: their searchers write every evaluation, other
metrics included, as it comes (`searcher.PrunedAwareOptunaSearch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from foretune.predictors._base import Curve
from foretune.predictors.judged_order import JudgedRun
from foretune.search.repeats import curve_points

logger = logging.getLogger(__name__)

_EPS = 1e-9
# The probability rule judges at every evaluation; it need not read the storage each time: other drivers' runs end
# minutes apart, and a PostgreSQL study of a few hundred trials takes a fraction of a second to read.
PEER_REFRESH_S = 10.0


@dataclass(frozen=True)
class EarlierTrialCurve:
    """The curve of a trial this session did not run (an earlier session's, another driver's), and whether it
    finished."""

    curve: Curve
    finished: bool  # reached the full budget
    # Its recorded costs (`cost.*`, up to its last evaluation): with several objectives a trial is judged on them too.
    costs: Mapping[str, float] = field(default_factory=dict)
    # Its early verdict's predicted final and order value: a later prediction shown is held to it (`judged_order`).
    judged: JudgedRun | None = None


class EarlierTrials:
    """The study's trials besides this session's own, as the evaluator ranks against (every one that reached the
    early `fraction`) and learns from (the finished ones)."""

    def __init__(
        self,
        past: Iterable[EarlierTrialCurve],
        fraction: float,
        *,
        peers: Callable[[], Iterable[EarlierTrialCurve]] | None = None,
        refresh_s: float = PEER_REFRESH_S,
    ) -> None:
        self.fraction = fraction
        self.past = self._reached(past)
        self.peers: list[EarlierTrialCurve] = []
        self._read_peers, self.refresh_s = peers, refresh_s
        self._read_at: float | None = None
        self._finished_points: list | None = None

    def _reached(self, trials: Iterable[EarlierTrialCurve]) -> list[EarlierTrialCurve]:
        return [p for p in trials if len(p.curve.fractions) and p.curve.fractions[0] <= self.fraction + _EPS]

    def refresh(self, *, force: bool = False) -> None:
        """Read the other drivers' trials again if `refresh_s` passed since the last read, or `force` (a trial's
        first verdict: it ranks against every trial judged so far)."""
        if self._read_peers is None:
            return
        now = time.monotonic()
        if not force and self._read_at is not None and now - self._read_at < self.refresh_s:
            return
        self._read_at = now
        try:
            read = self._reached(self._read_peers())
        except Exception as error:  # a storage hiccup must not stop the search: the next judgement reads again
            logger.warning("could not read the other drivers' trials of the study (%s); judging without them", error)
            return
        known = {p.curve.trial for p in self.past}
        self.peers = [p for p in read if p.curve.trial not in known]
        self._finished_points = None

    def __getstate__(self) -> dict:
        # Ray pickles the scheduler (tuner.pkl); the reader holds the study and its storage (maybe a database
        # password): it stays out, as the searcher's study does. Resume goes through the Optuna study itself.
        return self.__dict__ | {"_read_peers": None}

    @property
    def trials(self) -> list[EarlierTrialCurve]:
        return self.past + self.peers

    def finished(self) -> list[Curve]:
        return [p.curve for p in self.trials if p.finished]

    def finished_points(self) -> list[tuple[str, dict, Mapping[str, Any]]]:
        """(trial, evaluations, params) of the finished ones, for `stop_repeats` (built once per read)."""
        if self._finished_points is None:
            self._finished_points = [
                (str(p.curve.trial), curve_points(p.curve), p.curve.params) for p in self.trials if p.finished
            ]
        return self._finished_points
