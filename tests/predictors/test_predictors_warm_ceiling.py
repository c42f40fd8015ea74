"""The warm-ceiling benchmark's estimators (benchmarks/warm_ceiling.py) on data whose noise is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foretune.predictors import Curve, metrics
from tests.benchmark_scripts import benchmark_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ceiling():
    return benchmark_module("warm_ceiling")


def test_late_noise_variance_recovers_a_known_noise(ceiling):
    rng = np.random.default_rng(0)
    x = np.linspace(0.1, 1.0, 10)
    curves = [
        Curve(x, 0.5 + rng.uniform(0.5, 2) * (1 - x) ** 2 + rng.normal(0, 0.01, x.size), {}, i) for i in range(60)
    ]
    assert np.sqrt(ceiling.late_noise_variance(curves)) == pytest.approx(0.01, rel=0.2)
    # A smooth curve has no noise to find; three late points are detrended by a line.
    smooth = [Curve(np.array([0.2, 0.6, 0.8, 1.0]), np.array([2.0, 1.2, 1.1, 1.0]), {}, 0)]
    assert ceiling.late_noise_variance(smooth) == pytest.approx(0.0, abs=1e-20)


def test_noise_ceilings_fall_with_the_noise(ceiling):
    rng = np.random.default_rng(1)
    finals = np.linspace(0.1, 0.9, 20)
    assert ceiling.gaussian_ceiling(finals, finals, 0.0, rng, 50) == pytest.approx(1.0)
    small = ceiling.gaussian_ceiling(finals, finals, 0.01**2, rng, 200)
    large = ceiling.gaussian_ceiling(finals, finals, 0.2**2, rng, 200)
    assert 1.0 > small > large > 0.0
    many, few = (ceiling.binomial_ceiling(finals, finals, n, rng, 200) for n in (200, 12))
    assert many > few


def test_the_replay_generators_posterior_ranks_finals_better_than_the_early_value(ceiling):
    frame = pd.read_csv(ceiling.REPLAY)
    posterior = ceiling.replay_posterior_finals(frame, 0.2, np.random.default_rng(0), 20_000)
    trials = sorted(posterior)
    finals = frame[frame.fraction == 1.0].set_index("trial").val_loss.loc[trials].to_numpy()
    early = frame[frame.fraction == 0.2].set_index("trial").val_loss.loc[trials].to_numpy()
    bayes = np.array([posterior[t][0] for t in trials])
    assert metrics.spearman(bayes, finals) > metrics.spearman(early, finals) + 0.05
    assert np.abs(bayes - finals).mean() < 0.05  # the posterior mean is on the finals' scale


def test_the_job72_sets_binomial_ceiling_counts_the_jobs_own_validation_values(ceiling):
    """The job72 set (round 58) is read in the job's space (no warm-up column), and its binomial n are the default
    job's 72 validation products and their non-null values, counted from the job's own split."""
    from foretune.config import load_config
    from foretune.trainers.data import load_splits

    job = load_config(ROOT / "configs" / "default.yaml")
    products = load_splits(job.data, offline=True).validation[: job.data.max_final_eval_samples]
    values = sum(value is not None for product in products for value in product.attributes.values())
    assert ceiling.JOB72_BINOMIAL_N == (len(products), values) == (72, 282)
    sets = {spec["set"]: spec for spec in ceiling.file_sets()}
    accuracy, loss = sets["LoRA job72 accuracy"], sets["LoRA job72 eval loss"]
    assert accuracy["binomial"] == ceiling.JOB72_BINOMIAL_N and loss["binomial"] == ()
    assert accuracy["role"] == loss["role"] == "RO"  # report-only whole (benchmarks/data/README.md)
    (curves,) = accuracy["pools"].values()
    assert len(curves) == 40 and all(set(c.params) == set(job.search.space) for c in curves)
