"""Which reported metrics are losses, and which held out (`metric_names`): the verdict is the same whatever the
trainer calls its validation loss."""

from dataclasses import replace

import numpy as np
import pytest

from foretune.predictors import AutoPredictor, Curve, LearnedPredictor
from foretune.predictors._learned import extra_names
from foretune.predictors._signal import shared_losses
from foretune.predictors.judged_order import order_metric
from foretune.predictors.metric_copies import distinct_metrics
from foretune.predictors.metric_names import is_held_out, is_loss, is_share
from tests.predictors.test_predictors_signal import _study  # the held-out loss there is `eval_loss`

FRACTIONS = np.round(np.linspace(0.1, 1.0, 10), 9)
HELD_OUT_NAMES = [
    "val_loss",
    "valid_loss",
    "validation/loss",
    "loss/val",
    "valLoss",
    "dev_loss",
    "test_loss",
    "val_nll",
    "val_loss_epoch",  # Lightning's on_epoch / on_step names (round 39)
    "valid_loss_step",
    "val_mse",  # a regression's error (round 40)
    "val_mean_squared_error",
]


@pytest.mark.parametrize(
    "name",
    [
        *["eval_loss", "evaluation_loss", "valloss", "ValLoss", "val_ppl", "eval_perplexity", *HELD_OUT_NAMES],
        *["holdout_ce", "eval_xent", "val_bpb", "val_categorical_crossentropy", "eval_cross_entropy", "nll/val"],
        *["eval_rmse", "val_mae", "valMse", "val_root_mean_squared_error", "val_mean_absolute_percentage_error"],
    ],
)
def test_held_out_losses_by_their_names(name):
    assert is_loss(name) and is_held_out(name)


@pytest.mark.parametrize(
    "name",
    [
        *["loss", "train_loss", "loss_train", "train/loss", "value_loss", "retrieval_loss", "ppl", "train_perplexity"],
        *["train_loss_epoch", "loss_step", "train/loss_mean", "mse", "train_mae", "mean_squared_logarithmic_error"],
    ],
)
def test_other_losses_are_not_held_out(name):
    assert is_loss(name) and not is_held_out(name)


@pytest.mark.parametrize(
    "name",
    [
        *["accuracy", "eval_accuracy", "val_f1", "loss_scale", "lossy_rate", "ppl_ratio", "policy_entropy", "price"],
        *["", "val_accuracy_epoch", "epoch", "step", "loss_scale_step", "val_r2", "eval_error_rate"],
        *["neg_log_loss", "val_neg_mean_squared_error", "negMse"],  # scikit-learn's negated losses: higher is better
    ],
)
def test_scores_and_loss_scalers_are_not_losses(name):
    assert not is_loss(name)


def test_error_rates_by_their_names():
    from foretune.predictors.metric_names import is_error_rate

    rates = ["error", "val_error", "error_rate", "top1_err", "valErr", "eval_wer", "test_cer"]
    others = ["val_mean_squared_error", "eval_loss", "val_mse", "accuracy", "regret", "terrain", "werewolf", ""]
    assert [n for n in rates if not is_error_rate(n)] == [] and [n for n in others if is_error_rate(n)] == []


def test_shares_by_their_names():
    shares = ["accuracy", "eval_accuracy", "val_acc", "valAcc", "acc/Brand", "macro_f1", "exact_match", "eval_em"]
    shares += ["precision", "recall", "roc_auc", "val_miou", "dice", "bleu", "sacrebleu", "rougeL", "top1_acc", "mAP"]
    others = ["eval_loss", "acc_loss", "val_mse", "reward", "score", "val_r2", "perplexity", "policy_entropy", ""]
    assert [n for n in shares if not is_share(n)] == [] and [n for n in others if is_share(n)] == []


def _verdict(runs, finished):
    auto = AutoPredictor(mode="max").fit(runs[:finished])
    return auto, auto.predict([c.upto(0.2) for c in runs[finished:]], at=0.2)


@pytest.mark.parametrize("name", HELD_OUT_NAMES)
def test_auto_predicts_the_same_whatever_the_held_out_loss_is_called(name):
    """Before round 37 only a name starting "eval" was held out: a study reporting `val_loss` switched to the train
    loss's line wherever its error was a little smaller (a second scale within one study), and `loss/val` was no
    loss at all. 2 and 6 finished runs: the held-out loss's line, or its tail, either way."""
    held_out_line = 0
    for seed in range(12):
        for finished in (2, 6):
            runs = _study(seed)
            renamed = [
                replace(c, extras={name: c.extras["eval_loss"], "train_loss": c.extras["train_loss"]}) for c in runs
            ]
            auto, expected = _verdict(runs, finished)
            auto_renamed, got = _verdict(renamed, finished)
            assert {k.replace("eval_loss", name): v for k, v in auto.weights_.items()} == auto_renamed.weights_
            for part in ("mean", "lower", "upper"):
                np.testing.assert_array_equal(getattr(expected, part), getattr(got, part))
            assert expected.basis.replace("eval_loss", name) == got.basis
            assert got.follows in (None, name, "train_loss")
            held_out_line += auto.weights_ == {"signal:eval_loss": 1.0}
    assert held_out_line >= 12  # the held-out loss's line predicted in most of these studies


def test_a_held_out_perplexity_predicts_where_the_eval_loss_would():
    """A run that reports a perplexity (exp of its loss) in place of the eval loss: its line predicts the score, as the
    eval loss's does (before round 37 no line: the objective's own rule)."""
    for seed in range(6):
        runs = _study(seed)
        as_perplexity = [replace(c, extras={"val_ppl": np.exp(c.extras["eval_loss"])}) for c in runs]
        only_eval = [replace(c, extras={"eval_loss": c.extras["eval_loss"]}) for c in runs]
        for finished in (2, 6):
            auto, prediction = _verdict(as_perplexity, finished)
            assert (
                auto.weights_
                == {"signal:val_ppl": 1.0}
                == {k.replace("eval_loss", "val_ppl"): v for k, v in _verdict(only_eval, finished)[0].weights_.items()}
            )
            assert prediction.follows == "val_ppl" and "from val_ppl at 20%" in prediction.basis


def test_the_order_metric_is_a_validation_loss_before_a_test_loss():
    curve = Curve(FRACTIONS, FRACTIONS, extras={n: FRACTIONS for n in ("train_loss", "test_loss", "val_loss")})
    assert order_metric(curve, "train_loss") == "val_loss"
    only_test = replace(curve, extras={n: FRACTIONS for n in ("train_loss", "test_loss")})
    assert order_metric(only_test, "train_loss") == "test_loss"
    in_bits = replace(curve, extras={n: FRACTIONS for n in ("val_bpb", "val_loss_epoch", "eval_ppl")})
    assert order_metric(in_bits, "train_loss") == "val_loss_epoch"  # the name users read, as `distinct_metrics` keeps


def _with(runs, **columns):
    """`runs` reporting the named columns, each a function of (eval loss, train loss)."""
    return [
        replace(c, extras={n: f(c.extras["eval_loss"], c.extras["train_loss"]) for n, f in columns.items()})
        for c in runs
    ]


@pytest.mark.parametrize("finished", [2, 6, 12])
def test_a_loss_reported_twice_predicts_as_once(finished):
    """A run reporting its eval loss beside its perplexity (`eval_ppl`, exp of it, sorted after), or a perplexity that
    sorts first (`a_perplexity`), or the same values under a second name (`val_nll`), or in other units (round 39:
    bits, a sum over a fixed number of tokens): one quantity, one candidate. Before round 38 (39 for the units) each
    was a second line, blend member and feature: the prediction moved with the copy."""
    copies = {
        "eval_ppl": lambda e, t: np.exp(e),
        "a_perplexity": lambda e, t: np.exp(e),
        "val_nll": lambda e, t: e,
        "train_ppl": lambda e, t: np.exp(t),
        "eval_bpb": lambda e, t: e / np.log(2),  # in bits (round 39)
        "train_total_loss": lambda e, t: 512 * t,  # a sum over a fixed number of tokens
        "eval_bits_perplexity": lambda e, t: 2 ** (e / np.log(2)),
        "eval_rmse": lambda e, t: np.sqrt(e),  # a power of it (round 40)
        "train_mse": lambda e, t: t**2,
    }
    for seed in range(8 if finished < 12 else 3):  # a warm fit takes a second
        runs = _study(seed, n=24)  # from 12 finished runs the warm blend (`learned` and the loss lines)
        once = _with(runs, eval_loss=lambda e, t: e, train_loss=lambda e, t: t)
        twice = _with(runs, eval_loss=lambda e, t: e, train_loss=lambda e, t: t, **copies)
        assert extra_names(twice) == ["eval_loss", "train_loss"]
        auto, expected = _verdict(once, finished)
        auto_twice, got = _verdict(twice, finished)
        assert auto.weights_ == auto_twice.weights_
        for part in ("mean", "lower", "upper"):
            np.testing.assert_array_equal(getattr(expected, part), getattr(got, part))
        assert expected.basis == got.basis


def test_distinct_metrics_keeps_the_loss_and_every_other_quantity():
    loss = np.array([2.0, 1.5, np.nan, 1.2])
    curves = [
        Curve(
            FRACTIONS[:4],
            FRACTIONS[:4],
            extras={
                "ppl": np.exp(loss),  # sorts before "val_loss": the loss is kept
                "val_loss": loss,
                "nll": loss + 1e-9,  # the same values
                "shifted_loss": loss + 0.01,  # another quantity
                "gap_loss": np.array([2.0, 1.5, 1.4, 1.2]),  # reported where the loss is not
                "accuracy": loss,  # not a loss: never compared
            },
        )
    ]
    assert distinct_metrics(curves, sorted(curves[0].extras)) == ["accuracy", "gap_loss", "shifted_loss", "val_loss"]
    loss = np.array([2.0, 1.5, np.nan, 1.2, 1.1])
    units = {"val_loss": loss, "val_bpb": loss / np.log(2), "sum_loss": 64 * loss, "bits_ppl": 2 ** (loss / np.log(2))}
    curves = [Curve(FRACTIONS[:5], FRACTIONS[:5], extras=units)]
    assert distinct_metrics(curves, sorted(units)) == ["val_loss"]  # in other units: the held-out "...loss" kept
    lightning = [Curve(FRACTIONS[:5], FRACTIONS[:5], extras={"val_bpb": loss / np.log(2), "val_loss_epoch": loss})]
    assert distinct_metrics(lightning, ["val_bpb", "val_loss_epoch"]) == ["val_loss_epoch"]
    near_one = np.array([0.9, 1.0, 1.00002, 1.3, 0.7, np.nan])  # a regression's MSE around 1, logged as float32
    regression = {"val_loss": near_one, "val_rmse": np.sqrt(near_one).astype(np.float32).astype(float)}
    curves = [Curve(FRACTIONS[:6], FRACTIONS[:6], extras=regression)]
    assert distinct_metrics(curves, ["val_loss", "val_rmse"]) == ["val_loss"]  # a power of it (round 40)
    curves = [Curve(FRACTIONS[:6], FRACTIONS[:6], extras={**regression, "val_rmse": np.sqrt(near_one) + 1e-3})]
    assert distinct_metrics(curves, ["val_loss", "val_rmse"]) == ["val_loss", "val_rmse"]
    few = [Curve(FRACTIONS[:2], FRACTIONS[:2], extras={n: v[:2] for n, v in units.items()})]
    # two numbers always have a ratio: not a copy in other units; 2 ** bits is exp(loss), a perplexity, still one
    assert distinct_metrics(few, sorted(units)) == ["sum_loss", "val_bpb", "val_loss"]
    negative = [Curve(FRACTIONS[:5], FRACTIONS[:5], extras={"val_loss": loss, "neg_loss": -loss})]
    assert distinct_metrics(negative, ["neg_loss", "val_loss"]) == ["neg_loss", "val_loss"]
    never = Curve(FRACTIONS[:2], FRACTIONS[:2], extras={"a_loss": [np.nan] * 2, "b_loss": [np.nan] * 2})
    assert distinct_metrics([never], ["a_loss", "b_loss"]) == ["a_loss", "b_loss"]  # nothing to compare


@pytest.mark.parametrize("finished", [2, 6, 12])
def test_a_copy_of_a_loss_objective_is_no_second_signal(finished):
    """A loss objective (the eval loss, mode "min") whose trainer also reports its perplexity, or the same values under
    another name: the early curve already carries it, so it is neither a feature nor a line of its own."""
    for seed in range(6 if finished < 12 else 3):
        runs = [replace(c, values=c.extras["eval_loss"]) for c in _study(seed, n=24)]
        once = _with(runs, train_loss=lambda e, t: t)
        copies = {"eval_ppl": lambda e, t: np.exp(e), "val_nll": lambda e, t: e, "val_bpb": lambda e, t: e / np.log(2)}
        twice = _with(runs, train_loss=lambda e, t: t, **copies)
        assert extra_names(twice) == ["train_loss"]
        expected = AutoPredictor(mode="min").fit(once[:finished]).predict([c.upto(0.2) for c in once[finished:]], 0.2)
        got = AutoPredictor(mode="min").fit(twice[:finished]).predict([c.upto(0.2) for c in twice[finished:]], 0.2)
        for part in ("mean", "lower", "upper"):
            np.testing.assert_array_equal(getattr(expected, part), getattr(got, part))


def test_a_judged_run_whose_losses_agree_early_keeps_both():
    """Rounded logs: a judged run's train loss may equal its eval loss (or a loss objective) at its one point at 20%.
    What is a copy is decided on the finished runs' whole curves, so neither the candidate lines nor `learned`'s
    features lose the train loss for that run."""
    runs = _study(0, n=24)
    judged = runs[12].upto(0.2)
    agreeing = replace(judged, extras={**judged.extras, "train_loss": judged.extras["eval_loss"]})
    assert shared_losses(runs[:12], [agreeing]) == ["eval_loss", "train_loss"]
    rng = np.random.default_rng(0)  # a loss objective whose final follows the gap to the train loss
    as_objective = []
    for i in range(13):
        early, gap = rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.3)
        values = early * np.where(FRACTIONS <= 0.2, 1.0, 1.0 - (0.2 + gap) * FRACTIONS)
        as_objective.append(Curve(FRACTIONS, values, trial=i, extras={"train_loss": values - gap}))
    early = as_objective[12].upto(0.2)
    agreeing = replace(early, extras={"train_loss": early.values.copy()})
    without = replace(early, extras={"train_loss": np.full_like(early.values, np.nan)})
    learned = LearnedPredictor(mode="min").fit(as_objective[:12])
    assert learned.predict([agreeing], 0.2).mean[0] != learned.predict([without], 0.2).mean[0]
