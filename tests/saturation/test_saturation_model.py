"""The saturation model on curves with a known answer: asymptote, minimum useful / sufficient n."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.errors import ForetuneError
from foretune.predictors.saturation import SaturationModel

SIZES = np.array([50, 100, 200, 400, 800, 1600, 3200])


def power_law(n, a=0.9, b=3.0, c=0.6):
    return a - b * np.asarray(n, dtype=float) ** (-c)


def true_crossing(f, level, lo=1.0, hi=1e9):
    grid = np.geomspace(lo, hi, 400_000)
    return float(grid[np.argmax(f(grid) >= level)])


@pytest.mark.parametrize("mode", ["max", "min"])
def test_recovers_asymptote_and_saturation_points_of_a_known_curve(mode: str) -> None:
    rng = np.random.default_rng(0)
    n = np.repeat(SIZES, 3)
    y = power_law(n) + rng.normal(0, 0.002, len(n))
    sign = 1 if mode == "max" else -1  # a loss curve: the same curve upside down
    # corrected=False: the read-off answer (the LCDB-learned correction is tested on its own).
    result = SaturationModel(mode=mode, epsilon=0.01, n_bootstrap=60, corrected=False).fit(n, sign * y).result

    assert result.asymptote == pytest.approx(sign * 0.9, abs=0.01)
    useful = true_crossing(power_law, 0.9 - 0.01)  # ~13,500: beyond the data
    sufficient = true_crossing(power_law, power_law(3200) - 0.01)
    # The default exponent prior (learned on LCDB, where curves mostly saturate more slowly than a
    # free power-law fit of their start says) leans late on this fast curve; the interval covers.
    assert result.min_useful_n == pytest.approx(useful, rel=0.5)
    assert result.min_sufficient_n == pytest.approx(sufficient, rel=0.15)
    lo, hi = result.min_useful_n_interval
    assert lo < useful < hi * 1.1
    assert result.extrapolated and not result.min_sufficient_n_extrapolated
    gains = result.gain_per_doubling()  # improvement, positive in both modes
    assert np.all(np.diff(gains) < 0) and np.all(gains > 0)  # diminishing returns


def test_flat_curve_is_already_saturated() -> None:
    rng = np.random.default_rng(1)
    values = 0.8 + rng.normal(0, 0.002, len(SIZES))
    result = SaturationModel(epsilon=0.01, n_bootstrap=30).fit(SIZES, values).result
    read_off = SaturationModel(epsilon=0.01, n_bootstrap=0, corrected=False).fit(SIZES, values).result
    assert read_off.min_sufficient_n == SIZES[0] and result.regime == "flat"
    # The LCDB-learned correction may move it up a little (flat-looking LCDB curves saturate later).
    assert SIZES[0] <= result.min_sufficient_n <= 1.5 * SIZES[0]
    assert result.min_sufficient_n_interval[0] == SIZES[0]
    assert result.min_useful_n is not None and result.min_useful_n <= SIZES[1]
    assert not result.extrapolated


def test_one_outlier_does_not_move_the_answer() -> None:
    clean = power_law(SIZES)
    dirty = clean.copy()
    dirty[4] -= 0.15  # one collapsed run at n = 800 (non-monotone)
    a = SaturationModel(epsilon=0.01, n_bootstrap=0).fit(SIZES, clean).result
    b = SaturationModel(epsilon=0.01, n_bootstrap=0).fit(SIZES, dirty).result
    assert b.set_aside == (800.0,)
    # With one point fewer the exponent prior weighs a little more on the (unmeasured) asymptote.
    assert b.asymptote == pytest.approx(a.asymptote, abs=0.03)
    assert b.min_sufficient_n == pytest.approx(a.min_sufficient_n, rel=0.25)


def test_a_sharp_smooth_rise_is_fitted_not_set_aside() -> None:
    """A point far off every family's fit but between its neighbours is a shape the families miss (here a
    sigmoid in log n: a model that learns the answer's format between 25 and 100 examples), not a bad run:
    all points stay fitted (one at n = 100 was set aside as far off the curve)."""
    n = np.array([25, 50, 100, 200, 400, 800, 1600], dtype=float)
    y = 0.2 + 0.6 / (1 + np.exp(-3.0 * (np.log(n) - np.log(50))))
    result = SaturationModel(n_bootstrap=0).fit(n, y).result
    assert result.set_aside == ()
    # The same point turned into a dip below both neighbours is set aside.
    dipped = y.copy()
    dipped[3] = 0.3
    assert SaturationModel(n_bootstrap=0).fit(n, dipped).result.set_aside == (200.0,)
    # One failed run among five sizes, one run each: its dip inflates the noise guessed from the same points, and
    # at 5 noise levels it stayed in the fit, which then read a flat curve at 0.75 (min useful n 1,132).
    dip = SaturationModel(n_bootstrap=0).fit([100, 200, 400, 800, 1600], [0.5, 0.7, 0.2, 0.8, 0.82]).result
    assert dip.set_aside == (400.0,) and dip.asymptote > 0.8


def test_noisy_non_monotone_points_give_wider_intervals_that_still_cover() -> None:
    rng = np.random.default_rng(2)
    n = np.repeat(SIZES, 4)
    quiet = SaturationModel(n_bootstrap=80, corrected=False).fit(n, power_law(n) + rng.normal(0, 0.002, len(n))).result
    noisy_y = power_law(n) + rng.normal(0, 0.02, len(n))
    # Some seeds' runs dip as n grows (the repeats at a size are the columns): the fit must cope.
    assert np.any(np.diff(noisy_y.reshape(len(SIZES), 4), axis=0) < 0)
    noisy = SaturationModel(n_bootstrap=80, corrected=False).fit(n, noisy_y).result
    # The noise-only (bootstrap) band grows with the noise; the reported band contains it.
    width = lambda r: np.log(r.min_sufficient_n_noise_interval[1] / r.min_sufficient_n_noise_interval[0])  # noqa: E731
    assert width(noisy) > width(quiet)
    for r in (quiet, noisy):
        lo, hi = r.min_sufficient_n_interval
        assert lo <= r.min_sufficient_n_noise_interval[0] and hi >= r.min_sufficient_n_noise_interval[1]
        assert lo <= r.min_sufficient_n <= hi
    assert noisy.asymptote_interval[0] - 0.03 < 0.9 < noisy.asymptote_interval[1] + 0.03


def test_points_still_rising_at_the_end_are_not_called_a_plateau() -> None:
    # The real AE-110K sweep (benchmarks/results/saturation.md): one run per size, a jump at the
    # largest n. An earlier version fitted `flat` (AICc charges pow3 30 units on 5 points), set
    # nothing aside and answered "min useful n = 243", inside the data.
    n = [0, 16, 32, 64, 128, 256]
    values = [0.0, 0.0, 0.023, 0.028, 0.050, 0.174]
    result = SaturationModel(n_bootstrap=40).fit(n, values).result
    assert result.family_weights.get("flat", 0.0) < 0.01
    assert result.set_aside == ()
    assert result.extrapolated
    assert result.min_useful_n is None or result.min_useful_n > 256
    lo, hi = result.min_useful_n_interval
    assert lo is not None and lo >= 16 and (hi is None or hi > 256)
    assert result.asymptote > 0.174  # more data is expected to help


def test_bounds_cap_the_asymptote_of_a_share_metric() -> None:
    # The real AE-110K sweep to n = 512: still rising fast, and a free fit promises ~147% accuracy.
    n, values = [16, 32, 64, 128, 256, 512], [0.0, 0.0225, 0.0276, 0.0495, 0.1744, 0.2895]
    free = SaturationModel(n_bootstrap=20, bounds=None).fit(n, values).result
    capped = SaturationModel(n_bootstrap=20, bounds=(0.0, 1.0)).fit(n, values).result
    assert free.asymptote > 1.0 and not free.asymptote_capped and free.to_dict()["bounds"] is None
    assert 0.2895 < capped.asymptote <= 1.0 and capped.asymptote_interval[1] <= 1.0
    assert capped.asymptote_capped and capped.to_dict()["asymptote_capped"] is True
    grid = np.geomspace(16, 1e5, 30)
    for result in (free, capped):  # the estimate lies in its own interval, also on the bound
        assert result.asymptote_interval[0] <= result.asymptote <= result.asymptote_interval[1]
        lo, hi = result.predict_interval(grid)
        assert np.all(lo <= result.predict(grid)) and np.all(result.predict(grid) <= hi)
    assert free.predict([4])[0] < 0.0 <= capped.predict([4])[0]  # no negative accuracy below the data
    assert np.all(capped.predict_interval([4, 1e6])[0] >= 0.0) and np.all(capped.predict_interval([4, 1e6])[1] <= 1.0)
    # A loss bounded below by 0 (mode="min"): the asymptote does not go below it.
    loss = SaturationModel(mode="min", n_bootstrap=0, bounds=(0.0, None)).fit(n, [1.0 - v for v in values]).result
    assert loss.asymptote >= 0.0
    with pytest.raises(ValueError, match="bounds"):
        SaturationModel(bounds=(1.0, 0.0))


def test_a_share_is_bounded_by_default_as_foretune_rank_reads_one() -> None:
    """By default (bounds="auto") scores of mode max all in [0, 1] are an accuracy: the asymptote stays at or
    below 1, the same fit as with bounds (0, 1) given; a score above 1 or a loss is not bounded."""
    n, values = [16, 32, 64, 128, 256, 512], [0.0, 0.0225, 0.0276, 0.0495, 0.1744, 0.2895]
    auto = SaturationModel(n_bootstrap=20).fit(n, values).result
    given = SaturationModel(n_bootstrap=20, bounds=(0.0, 1.0)).fit(n, values).result
    assert auto.bounds == (0.0, 1.0) and auto.asymptote == given.asymptote <= 1.0
    assert auto.asymptote_interval == given.asymptote_interval and auto.min_useful_n == given.min_useful_n
    scaled = SaturationModel(n_bootstrap=0).fit(n, [100 * v for v in values]).result  # a score in percent
    assert scaled.bounds is None and scaled.asymptote > 100
    loss = SaturationModel(mode="min", n_bootstrap=0).fit(n, [1.0 - v for v in values]).result
    assert loss.bounds is None


def test_a_range_read_with_the_metric_name_bounds_a_share_in_percent() -> None:
    """`ReadRange` (a sweep's `search.metric_range: auto`): a share named so in percent is bounded by 100, the task's
    [0, 1] is kept while every score fits it, and a loss named so is 0 and up."""
    from foretune.predictors.calibration import ReadRange

    n, values = [16, 32, 64, 128, 256, 512], [0.0, 0.0225, 0.0276, 0.0495, 0.1744, 0.2895]
    percent = [100 * v for v in values]
    read = SaturationModel(n_bootstrap=0, bounds=ReadRange("val_acc", "max")).fit(n, percent).result
    assert read.bounds == (0.0, 100.0) and read.asymptote <= 100.0
    task = ReadRange("accuracy", "max", (0.0, 1.0))
    assert SaturationModel(n_bootstrap=0, bounds=task).fit(n, percent).result.bounds == (0.0, 100.0)
    assert SaturationModel(n_bootstrap=0, bounds=task).fit(n, values).result.bounds == (0.0, 1.0)
    losses = [1.0 - v for v in values]
    assert SaturationModel(mode="min", n_bootstrap=0, bounds=ReadRange("eval_loss", "min")).fit(
        n, losses
    ).result.bounds == (0.0, None)


def test_a_jump_at_the_largest_n_is_never_set_aside() -> None:
    y = power_law(SIZES)
    y[-1] += 0.1  # far off the curve through the others, but the only news about larger n
    result = SaturationModel(n_bootstrap=0).fit(SIZES, y).result
    assert 3200.0 not in result.set_aside
    assert result.score_at_max_n > power_law(3200) + 0.03


def test_max_n_beyond_the_data_extrapolates_min_sufficient_n() -> None:
    result = SaturationModel(n_bootstrap=0).fit(SIZES, power_law(SIZES), max_n=20_000).result
    assert result.min_sufficient_n > SIZES[-1] and result.min_sufficient_n_extrapolated
    expected = true_crossing(power_law, power_law(20_000) - 0.01)
    assert result.min_sufficient_n == pytest.approx(expected, rel=0.25)


def test_zero_shot_point_is_the_baseline_not_part_of_the_fit() -> None:
    n = np.concatenate([[0], SIZES])
    y = np.concatenate([[0.1], power_law(SIZES)])
    result = SaturationModel(n_bootstrap=0).fit(n, y).result
    assert result.baseline == pytest.approx(0.1)
    assert list(result.n) == list(SIZES)


@pytest.mark.parametrize(
    ("n", "values", "match"),
    [
        ([50, 100], [0.5, 0.6], "at least 3; measure 1 more"),
        ([0, 0, 50], [0.1, 0.1, 0.5], "at least 3; measure 2 more"),
        ([50, -100, 200, 400, 800], [0.5] * 5, "non-negative integers"),
        ([50, 100.5, 200, 400, 800], [0.5] * 5, "non-negative integers"),
        ([50, 100, 200, 400, 800], [0.5, np.nan, 0.6, 0.6, 0.6], "finite"),
    ],
)
def test_bad_points_raise_one_clear_error(n, values, match) -> None:
    with pytest.raises(ForetuneError, match=match):
        SaturationModel().fit(n, values)


@pytest.mark.parametrize("k", [3, 4])
def test_answers_from_three_or_four_points_with_an_interval_that_holds_the_truth(k: int) -> None:
    n = SIZES[:k]  # 50..200 or 50..400; the answer lies beyond them
    result = SaturationModel(epsilon=0.01, n_bootstrap=40).fit(n, power_law(n), max_n=3200).result
    truth = true_crossing(power_law, power_law(3200) - 0.01)
    lo, hi = result.min_sufficient_n_interval
    assert result.min_sufficient_n == pytest.approx(truth, rel=0.5)
    assert lo < truth < hi and hi / lo > 1.5  # as wide as four exact points warrant, no wider than the grid
    assert result.regime == "still rising"


def test_a_handful_of_noisy_points_never_gives_a_zero_width_interval() -> None:
    # The sweep: seed-noise wiggles on a flat curve (two of three differences equal).
    n, values = [0, 16, 32, 64, 128, 256], [0.043, 0.102, 0.090, 0.090, 0.102, 0.102]
    result = SaturationModel(epsilon=0.01, n_bootstrap=40, bounds=(0, 1)).fit(n, values).result
    lo, hi = result.asymptote_interval
    assert hi - lo > 0.005
    assert result.regime == "flat"


@pytest.mark.parametrize(
    ("values", "regime"),
    [
        ([0.50, 0.70, 0.78, 0.795, 0.80], "bent"),  # levels off by n = 400
        (power_law(SIZES[:5], b=1.0, c=0.3), "still rising"),
        ([0.80, 0.801, 0.80, 0.802, 0.801], "flat"),
        ([0.50, 0.70, 0.62, 0.56, 0.52], "ill-behaved: not monotone"),  # peaks, then falls
    ],
)
def test_each_answer_reports_its_regime(values, regime: str) -> None:
    result = SaturationModel(epsilon=0.01, n_bootstrap=0).fit(SIZES[:5], values).result
    assert result.regime == regime
    assert result.to_dict()["regime"] == regime


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        SaturationModel(mode="up")
    with pytest.raises(ValueError, match="epsilon"):
        SaturationModel(epsilon=0)
    with pytest.raises(ValueError, match="unknown families"):
        SaturationModel(families=("pow3", "nope"))


def test_fit_returns_the_model_which_predicts_like_its_result() -> None:
    model = SaturationModel(n_bootstrap=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict([100])
    assert model.fit(SIZES, power_law(SIZES)) is model
    grid = [25, 500, 10_000]
    np.testing.assert_array_equal(model.predict(grid), model.result.predict(grid))
    np.testing.assert_array_equal(model.predict_interval(grid), model.result.predict_interval(grid))
    assert model.predict([3200])[0] == pytest.approx(power_law(3200), abs=0.005)


def test_importable_without_torch_or_ray(run_without) -> None:
    code = (
        "from foretune.predictors.saturation import SaturationModel\n"
        "model = SaturationModel(n_bootstrap=0).fit([50, 100, 200, 400, 800], [0.5, 0.6, 0.65, 0.68, 0.69])\n"
        "print(model.result.asymptote)\n"
    )
    done = run_without(code, blocked=("torch", "ray"))
    assert done.returncode == 0, done.stderr


def test_the_sweep_calls_an_interval_tight_only_when_the_one_it_names_is() -> None:
    from foretune.search.sweep import SaturationSweep

    # The sweep: it once stopped "interval tight (hi/lo <= 1.5)" beside [16, 294].
    scores = {0: 0.043, 16: 0.102, 32: 0.090, 64: 0.090, 128: 0.102, 256: 0.102}
    sweep = SaturationSweep(lambda n, seed: {"accuracy": scores[n]}, sizes=list(scores), n_bootstrap=30, bounds=(0, 1))
    result = sweep.run()
    lo, hi = result.saturation.min_useful_n_noise_interval
    assert "tight" not in result.stopped_because and hi / lo > 1.5
    assert result.saturation.regime == "flat"
