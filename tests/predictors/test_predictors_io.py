import numpy as np
import pandas as pd
import pytest

from foretune.errors import ForetuneError
from foretune.predictors.io import curves_from_frame, read_curves


def _table():
    return pd.DataFrame(
        {
            "trial": ["a", "a", "a", "b", "b"],
            "fraction": [0.5, 0.1, 1.0, 0.2, 1.0],
            "value": [0.6, 0.3, 0.8, 0.4, 0.7],
            "lr": [1e-3, 1e-3, 1e-3, 1e-2, 1e-2],
            "opt": ["adam", "adam", "adam", "sgd", "sgd"],
            "wall_time": [1.0, 2.0, 3.0, 4.0, 5.0],  # varies within a trial: not a hyperparameter
        }
    )


def test_long_table_to_sorted_curves_with_params(tmp_path):
    path = tmp_path / "curves.csv"
    _table().to_csv(path, index=False)
    a, b = read_curves(path)
    assert a.trial == "a" and b.trial == "b"
    np.testing.assert_allclose(a.fractions, [0.1, 0.5, 1.0])
    np.testing.assert_allclose(a.values, [0.3, 0.6, 0.8])
    assert a.params == {"lr": 1e-3, "opt": "adam"}
    assert read_curves(path, param_cols=[])[0].params == {}
    assert read_curves(path, param_cols=["lr"])[1].params == {"lr": 1e-2}


def test_parquet(tmp_path):
    path = tmp_path / "curves.parquet"
    _table().to_parquet(path)
    assert len(read_curves(path)) == 2


def test_step_and_total_columns():
    frame = pd.DataFrame({"run": [1, 1, 2], "step": [50, 100, 20], "total": [100, 100, 200], "loss": [2.0, 1.5, 3.0]})
    curves = curves_from_frame(frame, trial_col="run", value_col="loss", step_col="step", total_col="total")
    np.testing.assert_allclose(curves[0].fractions, [0.5, 1.0])
    np.testing.assert_allclose(curves[1].fractions, [0.1])
    with pytest.raises(ForetuneError, match="--total-col"):
        curves_from_frame(frame, trial_col="run", value_col="loss", step_col="step")


def test_empty_values_are_missing_not_errors():
    frame = _table().astype({"value": object})
    frame.loc[1, "value"] = ""
    curves = curves_from_frame(frame)
    assert np.isnan(curves[0].values[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.rename(columns={"trial": "run"}), "no trial column 'trial'"),
        (lambda f: f.assign(fraction=[0.5, 0.1, 1.5, 0.2, 1.0]), r"outside \[0, 1\]"),
        (lambda f: f.assign(value=["0.6", "0.3", "oops", "0.4", "0.7"]), "must be numeric.*'oops'"),
        (lambda f: f.assign(fraction=["x", 0.1, 1.0, 0.2, 1.0]), "must be numeric"),
        (lambda f: f.drop(columns="value"), "no value column"),
        (lambda f: f.assign(fraction=[50, 10, 100, 20, 100]), r"budget fraction 50 .*percent\? divide"),
        (
            lambda f: pd.concat([f, f.assign(value=f["value"] + 0.1)]),
            r"trial 'a' has two values at fraction 0.5 \(row 7\)",
        ),
    ],
)
def test_bad_tables_raise_one_clear_error(change, message):
    with pytest.raises(ForetuneError, match=message):
        curves_from_frame(change(_table()))


def test_missing_file(tmp_path):
    with pytest.raises(ForetuneError, match="not found"):
        read_curves(tmp_path / "nope.csv")


def test_a_row_repeated_whole_is_read_once():
    twice = pd.concat([_table(), _table()], ignore_index=True)
    curves = curves_from_frame(twice)
    assert [len(c.fractions) for c in curves] == [len(c.fractions) for c in curves_from_frame(_table())]
