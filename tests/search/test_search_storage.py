"""Reading studies (`foretune.search.storage`), the report's table, and both without Ray or torch."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from foretune.errors import ForetuneError
from foretune.keys import CONFIG_ATTR, EARLY_FRACTION_ATTR, EARLY_SCORE_ATTR, JOURNAL_NAME
from foretune.search.report import trials_table
from foretune.search.storage import journal_path, open_storage, past_trials, read_optuna_study, redact, trial_curve

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trial(state: TrialState, curve: dict[int, float], *, value: float | None = None, **attrs) -> FrozenTrial:
    return create_trial(
        state=state,
        value=value,
        params={"lr": 0.01},
        distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
        intermediate_values=curve,
        user_attrs=attrs,
    )


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_optuna_study_intermediate_values(tmp_path, kind):
    storage = f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else str(tmp_path / JOURNAL_NAME)
    study = optuna.create_study(study_name="s", storage=open_storage(storage), direction="maximize")

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for step in range(1, 11 if trial.number < 2 else 3):
            trial.report(step * lr, step)
        return 10 * lr

    study.optimize(objective, n_trials=3)
    curves = read_optuna_study("s", storage)
    assert [c.trial for c in curves] == [0, 1, 2]
    np.testing.assert_allclose(curves[0].fractions, np.arange(1, 11) / 10)
    np.testing.assert_allclose(curves[2].fractions, [0.1, 0.2])
    assert set(curves[0].params) == {"lr"}
    assert len(read_optuna_study("s", storage, states=("COMPLETE",), total_steps=20)[0].fractions) == 10
    with pytest.raises(ForetuneError, match="no study"):
        read_optuna_study("missing", storage)


def test_trial_curve_reads_budget_percents_and_past_trials_say_which_finished():
    study = optuna.create_study(direction="minimize")
    study.add_trial(_trial(TrialState.COMPLETE, {10: 1.0, 20: 0.8, 100: 0.5}, value=0.5))
    study.add_trial(_trial(TrialState.PRUNED, {10: 1.1, 20: 0.9}))
    study.add_trial(_trial(TrialState.PRUNED, {}))  # stopped before its first evaluation: no curve
    curve = trial_curve(study.trials[0])
    np.testing.assert_allclose(curve.fractions, [0.1, 0.2, 1.0])
    assert curve.final == 0.5 and curve.trial == 0 and dict(curve.params) == {"lr": 0.01}
    past = past_trials(study)
    assert [(p.curve.trial, p.finished) for p in past] == [(0, True), (1, False)]


@pytest.mark.parametrize(
    "storage, shown",
    [
        ("postgresql://alice:s3cret@db.example:5432/foretune", "postgresql://alice:***@db.example:5432/foretune"),
        ("postgresql+psycopg2://alice:${FORETUNE_DB_PASSWORD}@db/ft", "postgresql+psycopg2://alice:***@db/ft"),
        ("mysql://bob:p%40ss@h/d", "mysql://bob:***@h/d"),
        ("sqlite:///runs/study.db", "sqlite:///runs/study.db"),
        ("runs/search-x/study.journal", "runs/search-x/study.journal"),
    ],
)
def test_redact_masks_only_the_password(storage, shown):
    assert redact(storage) == shown


def test_journal_path_of_a_run_folder_or_a_journal_file(tmp_path):
    assert journal_path(tmp_path) == tmp_path / JOURNAL_NAME
    assert journal_path(tmp_path / "not-yet") == tmp_path / "not-yet" / JOURNAL_NAME  # a run folder to be made
    file = tmp_path / "elsewhere.journal"
    file.write_text("")
    assert journal_path(file) == file
    assert journal_path(str(file)) == file


def test_a_damaged_journal_is_one_error_that_names_it(tmp_path, cli):
    """A line that is not JSON in the middle of a journal (edited by hand, two files concatenated): a
    JSONDecodeError traceback from deep inside Optuna; a half-written last line (a crash) still reads."""
    journal = tmp_path / JOURNAL_NAME
    study = optuna.create_study(study_name="kept", storage=open_storage(str(journal)))
    study.add_trial(_trial(TrialState.COMPLETE, {10: 0.5}, value=0.7))
    intact = journal.read_text()
    journal.write_text(intact + '{"op_code": 5, "worker_id": "x", "tri')  # cut mid-write
    assert optuna.load_study(study_name="kept", storage=open_storage(str(journal))).trials[0].value == 0.7
    journal.write_text(intact + "not a record\n" + intact)
    with pytest.raises(ForetuneError, match="is damaged \\(a line of it is not JSON\\)"):
        open_storage(str(journal))
    code, _, stderr = cli("report", str(tmp_path))
    assert code == 2 and "Traceback" not in stderr and str(journal) in " ".join(stderr.split())


def test_report_scores_unjudged_trials_at_their_own_early_fraction():
    study = optuna.create_study(direction="minimize")
    study.set_user_attr(CONFIG_ATTR, {"early_stage": {"fraction": 0.2}})
    curve = {10: 1.0, 20: 0.8, 40: 0.6, 100: 0.5}
    study.add_trial(_trial(TrialState.COMPLETE, curve, value=0.5))  # not judged: the study's 20%
    study.add_trial(_trial(TrialState.COMPLETE, curve, value=0.5, **{EARLY_FRACTION_ATTR: 0.4}))
    study.add_trial(_trial(TrialState.COMPLETE, curve, value=0.5, **{EARLY_SCORE_ATTR: 0.7}))
    early = trials_table(study).set_index("trial")["early_score"]
    assert early.to_dict() == {0: 0.8, 1: 0.6, 2: 0.7}


def test_reading_and_reporting_import_neither_ray_nor_torch(run_without, tmp_path):
    code = (
        "import foretune.search.storage, foretune.search.report, foretune.search.dashboard\n"
        "import foretune.search.evaluator, foretune.search.rule\n"
        "import optuna\n"
        "from foretune.search.report import build_report\n"
        "from foretune.search.storage import journal_path, open_storage, read_optuna_study\n"
        f"run = {str(tmp_path)!r}\n"
        "study = optuna.create_study(study_name='s', storage=open_storage(str(journal_path(run))))\n"
        "trial = study.ask()\n"
        "trial.suggest_float('lr', 0.001, 0.1)\n"
        "trial.report(0.5, 50)\n"
        "study.tell(trial, 0.4)\n"
        "report = build_report(study, run)\n"
        "assert len(report.table) == 1 and len(read_optuna_study('s', str(journal_path(run)))) == 1\n"
        "assert not {'ray', 'torch'} & set(sys.modules)\n"
        "print('ok')\n"
    )
    result = run_without(code, blocked=("torch", "ray"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("password", ["postgres", "p", "s@cr!t"])
def test_a_refused_connection_names_the_driver_and_hides_only_the_password(password):
    """The password is masked where it stands as a word, never inside one: 'postgres' leaves 'psycopg' and
    'port' readable (a one-letter password turned them into '***syco***g.O***erationalError ... ***ort')."""
    from urllib.parse import quote

    url = f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:9/foretune"  # port 9: nothing listens
    with pytest.raises(ForetuneError) as error:
        open_storage(url)
    message = str(error.value)
    assert "psycopg.OperationalError" in message and "port 9 failed" in message, message
    assert f":{password}@" not in message and ":***@127.0.0.1:9" in message
