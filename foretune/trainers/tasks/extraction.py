"""Product attribute value extraction: prompts, JSON target answers, grading and scores.

The model sees a product text and the names of the attributes to extract, and answers with one
compact JSON object, e.g. ``{"Brand": "Trevlo", "Color": null}`` (keys in the asked order, null when
the attribute is absent). Which attributes are asked for a product is what its record labels:
every attribute in `product.attributes`, null ones included (that is how AE-110K and ExtractGPT are
labelled, and the synthetic data labels a fixed set per category); a task built with `attributes`
asks only those of them.

Scoring follows the seed paper (Oliver & Wang 2024): per-attribute accuracy = correctly extracted
non-null values / all non-null ground-truth values, computed per attribute and averaged over
attributes. Values are compared case-insensitively with whitespace collapsed.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from foretune.trainers.data import NULL_STRINGS, Product, Splits, load_splits
from foretune.trainers.tasks.base import TRAINER_METRICS
from foretune.trainers.tasks.parsing import clean_answer_value, parse_answer

if TYPE_CHECKING:
    import pandas as pd

    from foretune.config import DataConfig, ExperimentConfig

__all__ = ["AttributeExtractionTask", "Grade", "grade", "metric_bounds", "normalize_value", "score_frame"]

PromptStyle = Literal["plain", "chat"]
_PROMPT_STYLES = ("plain", "chat")

# Metrics of `AttributeExtractionTask.score` that are shares, in [0, 1] (plus the per-attribute acc/<name>).
SHARE_METRICS = frozenset({"accuracy", "accuracy_micro", "exact_match", "null_fp_rate", "precision", "recall", "f1"})


# Shares reported by the other task kinds (completion, chat, classification).
OTHER_KIND_SHARES = frozenset({"token_f1", "macro_f1"})


def metric_bounds(metric: str) -> tuple[float, float | None] | None:
    """The range of a metric a task reports, if it has one (shares: 0..1; the trainer's cross-entropy losses:
    0 and up, so a loss still falling is not extrapolated below 0; a metric_fn's: none)."""
    if metric in SHARE_METRICS | OTHER_KIND_SHARES or metric.startswith("acc/"):
        return (0.0, 1.0)
    return (0.0, None) if metric in TRAINER_METRICS else None


INSTRUCTION = "Extract the attributes from the product text. Answer with JSON; use null if absent."
SYSTEM_PROMPT = (
    "You extract product attribute values from product texts. Answer with one JSON object that maps "
    "each requested attribute to its value copied from the text, or null if the text does not state it."
)


class AttributeExtractionTask:
    """Prompts, targets and scores for attribute value extraction.

    Args:
        attributes: Ask only these attributes (in this order) when a product is labelled with
            them; None asks every labelled attribute of each product, in record order.
        prompt_style: "plain" builds a compact text prompt; "chat" builds system/user messages
            for the tokenizer's chat template.
    """

    name = "attribute_extraction"
    metric_names = ("accuracy", "accuracy_micro", "exact_match", "null_fp_rate", "precision", "recall", "f1")
    stop_strings = ("}",)  # the answer is one flat JSON object: stop at its closing brace

    def __init__(self, attributes: Sequence[str] | None = None, *, prompt_style: PromptStyle = "plain") -> None:
        if prompt_style not in _PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {_PROMPT_STYLES}, got {prompt_style!r}")
        if attributes is not None:
            if isinstance(attributes, str) or not all(isinstance(a, str) and a.strip() for a in attributes):
                raise ValueError(f"attributes must be a list of non-empty names, got {attributes!r}")
            if not attributes:
                raise ValueError("attributes must name at least one attribute (or be None for all)")
            attributes = list(dict.fromkeys(attributes))
        self.attributes: list[str] | None = attributes
        self.prompt_style: PromptStyle = prompt_style

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> AttributeExtractionTask:
        return cls(config.data.attributes, prompt_style=config.task.prompt_style)

    def __repr__(self) -> str:
        return f"AttributeExtractionTask(attributes={self.attributes!r}, prompt_style={self.prompt_style!r})"

    @property
    def uses_chat_template(self) -> bool:
        return self.prompt_style == "chat"

    def load_splits(self, data: DataConfig, *, offline: bool = True) -> Splits:
        """Products of `data` split by text (see `foretune.trainers.data.load_splits`)."""
        return load_splits(data, offline=offline)

    def conversation(self, product: Product) -> None:
        return None

    def reference(self, product: Product) -> dict[str, str | None]:
        return dict(product.attributes)

    # -- prompts and targets ----------------------------------------------------------------------

    def attributes_for(self, product: Product) -> list[str]:
        """The attribute names asked about `product`: its labelled ones (filtered by `attributes`)."""
        if self.attributes is None:
            return list(product.attributes)
        return [a for a in self.attributes if a in product.attributes]

    def _question(self, product: Product) -> str:
        return f"Product: {product.text}\nAttributes: {', '.join(self.attributes_for(product))}"

    def prompt(self, product: Product) -> str:
        """The plain-text prompt; it ends with a newline, right where the answer starts."""
        return f"{INSTRUCTION}\n{self._question(product)}\nJSON:\n"

    def chat_messages(self, product: Product) -> list[dict[str, str]]:
        """System and user messages; the answer is the assistant turn.

        The user turn shows the JSON to fill in, which small instruct models follow zero-shot
        far better than a list of names.
        """
        names = (json.dumps(name, ensure_ascii=False) for name in self.attributes_for(product))
        blank = "{" + ", ".join(f"{name}: ?" for name in names) + "}"
        question = f"Product: {product.text}\nFill in with values copied from the product, or null: {blank}"
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]

    def answer(self, product: Product) -> str:
        """The target: compact JSON with keys in `attributes_for` order (same text as json.dumps)."""
        return _render(product, self.attributes_for(product))[0]

    def answer_spans(self, product: Product) -> list[tuple[str, int, int]]:
        """(attribute, start, end) character spans of each value inside `answer(product)`.

        A span covers the value's JSON token: the quoted string including both quotes (so the
        closing quote checks that the value ends there) or the bare ``null``.
        """
        return _render(product, self.attributes_for(product))[1]

    # -- parsing and scoring ----------------------------------------------------------------------

    @staticmethod
    def parse_answer(text: str) -> dict[str, str | None]:
        """The first JSON object found in `text`, tolerantly; see `parse_answer`."""
        return parse_answer(text)

    def score(
        self,
        products: Sequence[Product],
        predictions: Sequence[Mapping[str, str | None]],
        *,
        per_attribute_limit: int | None = 20,
    ) -> dict[str, float]:
        """Metrics of `predictions` (parsed answers, one per product) against the labels.

        - ``accuracy``: per attribute, correct non-null values / non-null labels; then the mean
          over attributes (macro; the seed paper's metric). NaN if no label is non-null.
        - ``accuracy_micro``: the same pooled over all attributes.
        - ``exact_match``: share of products with every asked attribute right (nulls included).
        - ``null_fp_rate``: share of null labels for which a value was returned (0 without nulls).
        - ``precision`` / ``recall`` / ``f1`` as in Brinkmann et al. 2023: a right value is a true
          positive, a wrong value or a value for a null label a false positive, a missing value a
          false negative.
        - ``acc/<attribute>``: per-attribute accuracy for the `per_attribute_limit` attributes with
          the most non-null labels (all if None), and ``labels/<attribute>``: how many labels it had.
        - ``n_products``, ``n_values``: how much was scored.
        """
        rows = grade(self, products, predictions)
        return _metrics(rows, len(products), per_attribute_limit)

    def score_frame(self, products: Sequence[Product], predictions: Sequence[Mapping[str, str | None]]) -> pd.DataFrame:
        """Per-attribute table (values, correct, accuracy, nulls, null false positives)."""
        return score_frame(grade(self, products, predictions))


# --------------------------------------------------------------------------------------------------
# Rendering the target


def _render(product: Product, names: Sequence[str]) -> tuple[str, list[tuple[str, int, int]]]:
    parts, spans, position = ["{"], [], 1
    for i, name in enumerate(names):
        key = ("" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        value = json.dumps(product.attributes[name], ensure_ascii=False)
        position += len(key)
        spans.append((name, position, position + len(value)))
        position += len(value)
        parts += [key, value]
    parts.append("}")
    return "".join(parts), spans


# --------------------------------------------------------------------------------------------------
# Grading answers


def normalize_value(value: Any) -> str | None:
    """How values are compared: None for every spelling of "absent", else casefolded, spaces collapsed."""
    if value is None:
        return None
    text = " ".join(str(value).split()).casefold()
    return None if text in NULL_STRINGS else text


@dataclass(frozen=True)
class Grade:
    """One asked attribute of one product: the label, the prediction, and whether it is right."""

    product: int
    attribute: str
    truth: str | None
    predicted: str | None
    correct: bool


def _fold_key(name: object) -> str:
    """Attribute names match ignoring case, spaces and punctuation ("model_number" = "Model Number")."""
    return re.sub(r"[\W_]+", "", str(name).casefold())


def _lookup(prediction: Mapping[str, str | None], name: str, folded: Mapping[str, str]) -> str | None:
    if name in prediction:
        return clean_answer_value(prediction[name])
    key = folded.get(_fold_key(name))
    return None if key is None else clean_answer_value(prediction[key])


def grade(
    task: AttributeExtractionTask,
    products: Sequence[Product],
    predictions: Sequence[Mapping[str, str | None]],
) -> list[Grade]:
    """A `Grade` per asked attribute of every product (keys matched as `_fold_key` says)."""
    if len(products) != len(predictions):
        raise ValueError(f"got {len(predictions)} predictions for {len(products)} products")
    rows = []
    for index, (product, prediction) in enumerate(zip(products, predictions, strict=True)):
        prediction = prediction if isinstance(prediction, Mapping) else {}
        folded: dict[str, str] = {}
        for key in prediction:
            folded.setdefault(_fold_key(key), key)
        for name in task.attributes_for(product):
            predicted = _lookup(prediction, name, folded)
            accepted = {normalize_value(v) for v in product.accepted(name)}
            rows.append(Grade(index, name, product.attributes[name], predicted, normalize_value(predicted) in accepted))
    return rows


def _ratio(numerator: float, denominator: float, empty: float) -> float:
    return numerator / denominator if denominator else empty


def _metrics(rows: Sequence[Grade], n_products: int, per_attribute_limit: int | None) -> dict[str, float]:
    values: dict[str, int] = defaultdict(int)
    right: dict[str, int] = defaultdict(int)
    product_ok: dict[int, bool] = {}
    nulls = null_fp = tp = fp = fn = 0
    for row in rows:
        product_ok[row.product] = product_ok.get(row.product, True) and row.correct
        if row.truth is None:
            nulls += 1
            null_fp += row.predicted is not None
        else:
            values[row.attribute] += 1
            right[row.attribute] += row.correct
        if row.predicted is None:
            fn += row.truth is not None and not row.correct
        elif row.correct:
            tp += 1
        else:
            fp += 1
    per_attribute = {name: right[name] / count for name, count in values.items()}
    n_values = sum(values.values())
    precision = _ratio(tp, tp + fp, 0.0)
    recall = _ratio(tp, tp + fn, 0.0)
    metrics = {
        "accuracy": sum(per_attribute.values()) / len(per_attribute) if per_attribute else math.nan,
        "accuracy_micro": _ratio(sum(right.values()), n_values, math.nan),
        "exact_match": _ratio(sum(product_ok.values()), len(product_ok), math.nan),
        "null_fp_rate": _ratio(null_fp, nulls, 0.0),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall, 0.0),
        "n_products": float(n_products),
        "n_values": float(n_values),
    }
    ranked = sorted(values, key=lambda name: (-values[name], name))
    for name in ranked if per_attribute_limit is None else ranked[:per_attribute_limit]:
        metrics[f"acc/{name}"] = per_attribute[name]
        metrics[f"labels/{name}"] = float(values[name])
    return metrics


def score_frame(rows: Sequence[Grade]) -> pd.DataFrame:
    """Per-attribute table from `grade` rows, most-labelled attributes first."""
    import pandas as pd

    columns = [
        "attribute",
        "asked",
        "values",
        "correct_values",
        "accuracy",
        "nulls",
        "null_false_positives",
        "null_fp_rate",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame([row.__dict__ for row in rows])
    frame["is_value"] = frame["truth"].notna()
    frame["right_value"] = frame["is_value"] & frame["correct"]
    frame["null_fp"] = ~frame["is_value"] & frame["predicted"].notna()
    table = frame.groupby("attribute", sort=False).agg(
        asked=("product", "size"),
        values=("is_value", "sum"),
        correct_values=("right_value", "sum"),
        null_false_positives=("null_fp", "sum"),
    )
    table["nulls"] = table["asked"] - table["values"]
    table["accuracy"] = table["correct_values"] / table["values"].where(table["values"] > 0)
    table["null_fp_rate"] = table["null_false_positives"] / table["nulls"].where(table["nulls"] > 0)
    table = table.reset_index().sort_values(["values", "attribute"], ascending=[False, True], kind="stable")
    return table[columns].reset_index(drop=True)
