"""Several drivers on one study: a driver's best-so-far board (`best_so_far`) learns the other drivers' finals too.

A driver's board starts from the study's complete trials and records its own trials' finals as they complete; the
finals the other drivers' trials reach meanwhile come from the study's storage, read by this Tune callback of the
driver. Kept apart from `best_so_far`, which every trial process imports (and `import foretune` must not load Ray).
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune import Callback

from foretune.keys import DRIVER_ATTR


class OtherDriversFinals(Callback):
    """A driver's Tune callback: the finals of complete trials the study's other drivers ran (not in `known`), read
    at most every `every_s` and recorded on this search's board, so that a trial of this driver leads only when it
    leads the whole study (each driver's board would otherwise know its own trials only, and score more of them on
    the test split)."""

    def __init__(self, board: Any, study: optuna.Study, tag: str, known: set[int], every_s: float = 10.0) -> None:
        self.board, self.study, self.tag, self.known, self.every_s = board, study, tag, set(known), every_s
        self._read_at: float | None = None

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if self.board is None or (self._read_at is not None and now - self._read_at < self.every_s):
            return
        self._read_at = now
        try:
            done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        except Exception:  # a storage hiccup: the next step reads again; meanwhile more trials are scored, not fewer
            return
        new = [t for t in done if t.number not in self.known and t.values and t.user_attrs.get(DRIVER_ATTR) != self.tag]
        if new:
            self.board.record.remote([list(t.values) for t in new])
            self.known |= {t.number for t in new}

    def __getstate__(self) -> dict:  # Ray pickles callbacks; the study holds its storage (maybe a database password)
        return self.__dict__ | {"study": None, "board": None}
