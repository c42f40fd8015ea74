"""`data.test_folds: k`: the best configuration and the zero-shot model scored over k disjoint test folds
(real LoRA steps on the tiny test model), and how the search report shows test scores."""

from __future__ import annotations

import pytest

from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.search.held_out_folds import FoldScores, fold_splits, prepare_folds, run_test_folds
from foretune.search.held_out_report import held_out_section
from foretune.trainers.data import generate_products, make_splits


def test_folds_are_disjoint_cover_train_and_test_and_train_on_the_rest() -> None:
    splits = make_splits(generate_products(50, seed=0), seed=0)
    folds = fold_splits(splits, 3, seed=0)
    texts = [{p.text for p in fold.test} for fold in folds]
    pool = {p.text for p in splits.train} | {p.text for p in splits.test}
    assert len(folds) == 3 and sum(map(len, texts)) == len(pool) and set().union(*texts) == pool
    for fold, held in zip(folds, texts, strict=True):
        assert not held & {p.text for p in fold.train}  # never trained on what it is tested on
        assert len(fold.train) + len(held) == len(pool)
        assert fold.validation == splits.validation
    assert [p.text for p in fold_splits(splits, 3, seed=0)[1].train] == [p.text for p in folds[1].train]


def test_too_many_folds_is_a_clear_error() -> None:
    splits = make_splits(generate_products(10, seed=0), seed=0)
    with pytest.raises(ForetuneError, match="lower data.test_folds"):
        fold_splits(splits, 6, seed=0)
    with pytest.raises(ForetuneError, match="data.test_folds"):
        load_config(None, {"data.test_folds": 1})
    too_big = load_config(None, {"data.synthetic_size": 30, "data.test_folds": 2, "data.train_size": 20})
    with pytest.raises(ForetuneError, match="lower data.train_size to 1"):
        prepare_folds(too_big)


def test_k_folds_give_k_scores_over_disjoint_items(tiny_train_settings) -> None:
    config = load_config(None, {**tiny_train_settings, "data.test_folds": 2})
    seen = []
    scores = run_test_folds(config, on_fold=lambda i, k: seen.append((i, k)))
    assert seen == [(0, 2), (1, 2)]
    assert scores.k == 2 and len(scores.zero_shot) == len(scores.fine_tuned) == 2
    assert [s["n_products"] for s in scores.fine_tuned] == scores.fold_sizes  # every item of its fold scored
    mean, stderr = scores.summary()["fine_tuned"]["eval_loss"]
    losses = [s["eval_loss"] for s in scores.fine_tuned]
    assert mean == pytest.approx(sum(losses) / 2) and stderr == pytest.approx(abs(losses[0] - losses[1]) / 2)
    stored = scores.to_dict()
    assert FoldScores.from_dict(stored).summary() == scores.summary()
    lines = "\n".join(held_out_section({"eval_loss": 1.0}, {"eval_loss": 2.0}, stored, "eval_loss"))
    assert "Over 2 disjoint test folds" in lines and "±" in lines


def test_report_section_shows_intervals_and_the_small_test_note() -> None:
    best = {"accuracy": 0.71, "accuracy_ci_low": 0.55, "accuracy_ci_high": 0.86, "n_items": 24.0, "f1": 0.8}
    zero_shot = {"accuracy": 0.3, "accuracy_ci_low": 0.15, "accuracy_ci_high": 0.46, "f1": 0.4}
    lines = held_out_section(best, zero_shot, None, "accuracy")
    assert "| accuracy | 0.3000 [0.15, 0.46] | 0.7100 [0.55, 0.86] |" in lines
    assert "| f1 | 0.4000 | 0.8000 |" in lines  # no interval stored: the score alone
    # a rate where lower is better says so beside the scores (a fine-tune filling every absent attribute reads 1.0)
    rates = held_out_section({**best, "null_fp_rate": 1.0}, {**zero_shot, "null_fp_rate": 0.4}, None, "accuracy")
    assert "| null_fp_rate (lower is better) | 0.4000 | 1.0000 |" in rates
    assert any(line.startswith("The test split has only 24 items") and "0.31 wide" in line for line in lines)
