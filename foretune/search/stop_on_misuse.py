"""Your function misused the reporter (or a trainer reported the metric outside a range given by hand): stop the
search at the first trial that shows it.

A wrong metric name or fractions in percent fail every trial the same way, each after training up to its first
evaluation (on a cluster: minutes to hours of GPU time per trial, for nothing). The trial raises
`function_trial.ReportMisuse` in its worker; this Tune callback reads it from the failed trial on the driver and
ends the tuning loop at its next step, as Ctrl-C does (`ctrl_c`), so the search ends with that one message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ray.tune import Callback

from foretune.search.ctrl_c import in_chain
from foretune.search.function_trial import ReportMisuse
from foretune.search.scheduler import last_error_line

_MARKER = f"{ReportMisuse.__name__}: "
_QUIET = "RAY_IGNORE_UNHANDLED_ERRORS"  # read by Ray's driver each time it would log an error nobody fetched


class StopOnReportMisuse(Callback):
    """Records the first `ReportMisuse` a trial failed on; the loop's next step raises it."""

    def __init__(self) -> None:
        self.message: str | None = None

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        line = last_error_line(trial)
        if self.message is None and _MARKER in line:
            self.message = line.split(_MARKER, 1)[1]

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self.message is not None:
            # The trials in flight fail the same way as Tune stops them: Ray would log each one's error again
            # ("Unhandled error") above the one line (`fit_stopping_on_misuse` sets the variable back).
            os.environ[_QUIET] = "1"
            raise ReportMisuse(self.message)


def fit_stopping_on_misuse(tuner: Any, on_stop: Callable[[], Any] = lambda: None) -> Any:
    """`tuner.fit()`; a reporter misused by your function (`StopOnReportMisuse`) ends it as one error line, after
    `on_stop` (the driver hands back the trials it had asked, so none is left RUNNING in the study)."""
    quiet = os.environ.get(_QUIET)
    try:
        return tuner.fit()
    except Exception as error:
        misuse = in_chain(error, ReportMisuse)  # Tune may wrap what a callback raised
        if misuse is None:
            raise
        on_stop()
        raise ReportMisuse(
            f"{misuse}. The search stopped there: every trial would fail the same way. Fix train_fn and run the "
            "same command again (the failed trial stays in the study, recorded FAIL)"
        ) from None
    finally:
        if quiet is None:
            os.environ.pop(_QUIET, None)
        else:
            os.environ[_QUIET] = quiet
