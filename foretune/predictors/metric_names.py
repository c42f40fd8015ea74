"""What a reported metric's name says: whether it is a loss, whether it is measured on held-out data, and whether
it is a share (0 to 1, or 0 to 100 in percent: `is_share`, the range its predictions are clipped to).

The verdict prefers a held-out loss (measured on data no run trained on) to a train loss as the line to a
score's final, and orders a study's judgements on it (`_signal.one_metric`, `judged_order`). Trainers name it
differently: transformers `eval_loss`, Lightning and Keras `val_loss`, loggers `val/loss` or `loss/val`. Read
by name prefix alone ("eval"), a user's `val_loss` counted as a train loss: replayed on the default job's 48
recorded twins with the eval loss renamed `val_loss`, predicted vs final >= 0.8 fell from 92% to 83% of twins
(benchmarks/results/verdict.md, round 37). So a name is split into words and each word is looked up.
"""

from __future__ import annotations

import re

# Words that name a split no run trains on (many training loops call their validation split "test").
HELD_OUT_WORDS = frozenset({"eval", "evaluation", "val", "valid", "validation", "dev", "test", "heldout", "holdout"})
# Words that may stand beside a loss's word in a name written loss-first ("loss/val", "loss_train").
SPLIT_WORDS = HELD_OUT_WORDS | {"train", "training"}
# A perplexity is exp(loss): the same order, lower is better. Read as a loss, a held-out perplexity reported in place
# of the eval loss predicts as the eval loss does (the job's twin replay, benchmarks/results/verdict.md, round 37).
# A language model's loss by its other names (round 38): negative log-likelihood, cross-entropy (Keras'
# `val_categorical_crossentropy`), bits per byte or character (nanochat's `val_bpb`: the loss over ln 2).
# A regression's error (round 40): mean squared / absolute error and their roots, logs and percentages (Keras'
# `val_mse`, `val_mean_absolute_error`; a `compute_metrics`'s `eval_rmse`), continuous and lower-is-better as a loss
# is, often the loss itself under another name (a transformers regression head's `eval_loss` is the MSE).
ERROR_WORDS = frozenset({"mse", "mae", "rmse", "msle", "rmsle", "mape"})
LOSS_WORDS = frozenset({"loss", "ppl", "perplexity", "nll", "ce", "xent", "crossentropy", "bpb", "bpc"}) | ERROR_WORDS
# ... and those errors spelled out, as a name's words joined end.
LOSS_ENDINGS = ("loss", "crossentropy", "squarederror", "absoluteerror", "percentageerror", "logarithmicerror")
# A word that says the metric is negated, higher is better: scikit-learn's scorers `neg_log_loss`,
# `neg_mean_squared_error` (round 40). A contrastive trainer's loss on its negative pairs may be named `neg_loss`
# too; it is read as a score then (no held-out line, no NaN stop), the lesser harm than a lower-is-better label on a
# negated loss.
NEGATED_WORDS = frozenset({"neg"})
# Words after a metric's name that say how it was aggregated, not what it is: Lightning logs `self.log("val_loss",
# on_step=True, on_epoch=True)` as `val_loss_step` and `val_loss_epoch` (round 39).
AGGREGATE_WORDS = frozenset({"step", "epoch", "mean", "avg"})
# Words of a score that is a share, 0 to 1 or 0 to 100 in percent (round 41): an accuracy, F1, precision, recall,
# exact match, an area under a curve, an overlap (IoU, Dice), a translation or summary score (BLEU, ROUGE, chrF).
SHARE_WORDS = frozenset(
    {"accuracy", "acc", "f1", "precision", "recall", "em", "exact", "auc", "auroc", "iou", "miou", "dice", "jaccard"}
    | {"bleu", "sacrebleu", "rouge", "rouge1", "rouge2", "rougel", "rougelsum", "chrf"}
    | {"top1", "top5", "map", "ap", "map50"}
)


# Words of an error rate to minimize, 0 and up (round 42): a classification's error (`val_error`, `top1_err`), a
# speech or character recognizer's word / character error rate (WER and CER may pass 100%: no upper bound).
ERROR_RATE_WORDS = frozenset({"error", "err", "wer", "cer"})


# Words of a quantity with no upper end (round 43): a cost (foretune's own `cost.device_hours`, `cost.usd`), a time,
# a size. A metric to minimize so named is never read as an error rate by its values, however small they are.
UNBOUNDED_WORDS = frozenset(
    {"cost", "usd", "seconds", "secs", "hours", "time", "latency", "memory", "bytes", "mb", "gb", "flops", "params"}
)


def name_words(metric: str) -> list[str]:
    """`metric` split into lower-case words at separators and camelCase humps: "valLoss" -> ["val", "loss"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", metric)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def base_words(metric: str) -> list[str]:
    """`name_words` less the trailing words that say how the metric was aggregated: "val_loss_epoch" -> ["val",
    "loss"]."""
    words = name_words(metric)
    while words and words[-1] in AGGREGATE_WORDS:
        words = words[:-1]
    return words


def is_loss(metric: str) -> bool:
    """A loss: a name ending in "loss" ("eval_loss", "loss", "val/loss", "nll_loss"), in another of `LOSS_WORDS`
    ("val_ppl", "eval_perplexity", "val_nll", "val_bpb", "eval_rmse") or in "cross_entropy" or an error spelled out
    ("val_mean_squared_error"), or one of those words and a split ("loss/val", "mse_train"), each maybe followed by
    how it was aggregated ("val_loss_epoch", "train_loss_step"); not "loss_scale" (a mixed-precision scaler's state),
    not a negated one ("neg_log_loss", higher is better)."""
    words = base_words(metric)
    if not words or NEGATED_WORDS & set(words):
        return False
    joined = "".join(words)
    if joined.endswith(LOSS_ENDINGS):
        return True
    return words[-1] in LOSS_WORDS or (words[0] in LOSS_WORDS and set(words[1:]) <= SPLIT_WORDS)


def is_held_out(metric: str) -> bool:
    """Measured on held-out data by its name: a word of `HELD_OUT_WORDS`, alone or glued to "loss"
    ("val_loss", "validation/loss", "evalLoss", "valloss", "test_loss"); not "train_loss", "loss", "value_loss"."""
    return any(word.removesuffix("loss") in HELD_OUT_WORDS for word in name_words(metric))


def is_test(metric: str) -> bool:
    """Named for a test split: where a run reports a validation loss too, the search orders on that one."""
    return any(word.removesuffix("loss") == "test" for word in name_words(metric))


def is_error_rate(metric: str) -> bool:
    """An error rate by its name, 0 and up: a word of `ERROR_RATE_WORDS` ("val_error", "top1_err", "eval_wer") and not
    a loss ("mean_squared_error" is one: `is_loss`)."""
    return bool(ERROR_RATE_WORDS & set(name_words(metric))) and not is_loss(metric)


def is_share(metric: str) -> bool:
    """A score that is a share by its name, so 0 to 1 or 0 to 100: a word of `SHARE_WORDS` ("eval_accuracy",
    "val_acc", "macro_f1", "exact_match", "rougeL", "top1_acc") and not a loss ("acc_loss")."""
    return bool(SHARE_WORDS & set(name_words(metric))) and not is_loss(metric)


def is_unbounded(metric: str) -> bool:
    """A quantity with no upper end by its name: a word of `UNBOUNDED_WORDS` ("cost.device_hours", "latency_ms")."""
    return bool(UNBOUNDED_WORDS & set(name_words(metric)))


def is_read_by_values(metric: str) -> bool:
    """Named neither a loss, an error rate, nor a cost, a time or a size ("value", "objective"): to minimize, its
    values say whether it is a share, an error rate (`calibration.reads_as_error_rate`)."""
    return not (is_loss(metric) or is_error_rate(metric) or is_unbounded(metric))
