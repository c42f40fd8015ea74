"""The one error type users see.

Anything the user can fix (a bad config key, a missing file, an impossible request) is raised as
`ForetuneError` with a message that says what is wrong, where, and how to fix it. The CLI prints it
on one line and exits with code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ForetuneError(Exception):
    """A problem with the user's input, reported as one clear line (CLI exit code 2)."""

    exit_code = 2
    label = "error"


class Interrupted(ForetuneError):
    """Ctrl-C stopped a search or a sweep: what finished is kept, and what to do next (exit code 130, as for
    SIGINT)."""

    exit_code = 130
    label = "interrupted"

    @staticmethod
    def by(sigterm: bool) -> type[Interrupted]:
        """The error a stopped command ends with: Terminated after SIGTERM (exit 143), else Interrupted (Ctrl-C)."""
        return Terminated if sigterm else Interrupted


class Failed(ForetuneError):
    """A run of a sweep failed at run time (raised, or its worker or node died): what finished is kept, which run
    failed and why, and how to go on (exit code 1: not the input's fault, as far as foretune can tell)."""

    exit_code = 1
    label = "failed"


class Terminated(Interrupted):
    """SIGTERM (`kill`, `timeout`, a batch scheduler's or `ray job stop`'s stop) stopped a search: as Ctrl-C
    (exit code 143, as for SIGTERM)."""

    exit_code = 143
    label = "terminated"
