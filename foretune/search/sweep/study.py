"""A sweep's runs in an Optuna journal study, each recorded as it ends: the same command run again resumes.

Each run is a finished trial (param and user attribute `n_samples`, its seed, score, metrics, cost, and the
validation curve the early cut saw), so optuna-dashboard shows the sweep as it goes, and a sweep stopped by
Ctrl-C, SIGTERM or a crash is resumed by running the same command: the recorded runs are read back as
`SweepPoint`s and not trained again (`SaturationSweep(recorded=...)`). The config the sweep started with is
kept in the study; a rerun whose config would change a run's score (model, data, task, training, the sweep's
epochs, its metric) is refused, since old and new scores would sit on one curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from foretune.errors import ForetuneError
from foretune.keys import CONFIG_ATTR, N_SAMPLES_ATTR, Mode
from foretune.search.sweep.results import SweepPoint

if TYPE_CHECKING:
    import optuna

    from foretune.config import ExperimentConfig

CURVE_ATTR = "validation_curve"
# User attributes that describe the run; every other one is a metric the run reported.
RUN_ATTRS = {N_SAMPLES_ATTR, "seed", "seconds", "cost", "predicted", "budget_fraction", CURVE_ATTR}


class SweepStudy:
    """The journal study of one sweep (one model): `recorded()` reads its runs back, `record()` adds one.

    Nothing is written before the first `record()`, so a sweep refused on later input leaves no file.
    """

    def __init__(
        self, path: Path, *, study_name: str, mode: Mode, max_n: int, config: ExperimentConfig | None = None
    ) -> None:
        self.path = Path(path)
        self.study_name = study_name
        self.mode = mode
        self.max_n = max(int(max_n), 1)
        self.config = config  # kept in the study when it is made; a resume's config is checked against it
        self._study: optuna.Study | None = None

    def recorded(self) -> list[SweepPoint]:
        """The runs an earlier session recorded (none when there is no such study); with a config, refused with a
        ForetuneError when the study was run with one that changes a run's score."""
        study = self._load()
        if study is None:
            return []
        if self.config is not None:
            self._check_config(study, self.config)
        return [_point(trial) for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]

    def record(self, point: SweepPoint) -> None:
        """Add one finished run as a finished trial (the study and its folder are made on the first)."""
        import optuna

        study = self._open()
        distribution = optuna.distributions.IntDistribution(0, self.max_n)
        metrics = {k: v for k, v in point.metrics.items() if isinstance(v, (int, float)) and k not in RUN_ATTRS}
        study.add_trial(
            optuna.trial.create_trial(
                value=point.score,
                params={N_SAMPLES_ATTR: point.n},
                distributions={N_SAMPLES_ATTR: distribution},
                user_attrs={
                    N_SAMPLES_ATTR: point.n,
                    "seed": point.seed,
                    "seconds": round(point.seconds, 3),
                    "cost": point.cost,
                    "predicted": point.predicted,
                    "budget_fraction": point.fraction,
                    CURVE_ATTR: [list(pair) for pair in point.curve],
                    **metrics,
                },
            )
        )

    def record_missing(self, points: Sequence[SweepPoint]) -> None:
        """Record the points whose (size, seed) the study does not hold yet (a sweep not recorded as it ran)."""
        held = {(p.n, p.seed) for p in self.recorded()}
        for point in points:
            if (point.n, point.seed) not in held:
                self.record(point)

    def _storage(self):
        import optuna

        from foretune.search.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line amid the sweep's
        return open_storage(str(self.path))  # a damaged journal is one clear error

    def _load(self) -> optuna.Study | None:
        import optuna

        if self._study is None and self.path.is_file():
            try:
                self._study = optuna.load_study(study_name=self.study_name, storage=self._storage())
            except KeyError:  # the journal holds other studies only
                return None
        return self._study

    def _open(self) -> optuna.Study:
        import optuna

        if self._load() is None:
            direction = "maximize" if self.mode == "max" else "minimize"
            self._study = optuna.create_study(study_name=self.study_name, storage=self._storage(), direction=direction)
            if self.config is not None:
                from foretune.search.resume_check import stored_config

                self._study.set_user_attr(CONFIG_ATTR, stored_config(self.config))
        return self._study

    def _check_config(self, study: optuna.Study, config: ExperimentConfig) -> None:
        from foretune.search.resume_check import sweep_changes_since

        where = f"{self.path} (study '{self.study_name}')"
        if CONFIG_ATTR not in study.user_attrs:
            raise ForetuneError(
                f"{where} holds {len(study.trials)} run(s) of a sweep that kept no config (an earlier foretune), so "
                "it cannot be resumed: move that file away or give another --out"
            )
        changed = sweep_changes_since(study.user_attrs[CONFIG_ATTR], config)
        if changed:
            shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise ForetuneError(
                f"{where} holds {len(study.trials)} run(s) of this sweep made with another config ({shown}); their "
                "scores would not sit on one curve with new runs'. Put those keys back to resume it, or give "
                "another --out"
            )


def _point(trial: optuna.trial.FrozenTrial) -> SweepPoint:
    attrs = trial.user_attrs
    return SweepPoint(
        n=int(attrs[N_SAMPLES_ATTR]),
        seed=int(attrs["seed"]),
        score=float(trial.value),
        metrics={k: v for k, v in attrs.items() if k not in RUN_ATTRS},
        cost=float(attrs.get("cost", 0.0)),
        seconds=float(attrs.get("seconds", 0.0)),
        fraction=float(attrs.get("budget_fraction", 1.0)),
        predicted=bool(attrs.get("predicted", False)),
        curve=tuple((float(f), float(v)) for f, v in attrs.get(CURVE_ATTR, [])),
        recorded=True,
    )
