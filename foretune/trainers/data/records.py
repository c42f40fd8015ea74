"""Product records: the `Product` type, the spellings of "absent", and reading text/attributes tables.

A `Product` is one product text and the attributes it is labelled with, ``{name: value or None}``
(None = the attribute is labelled as absent from the text). `read_records` reads ``.jsonl`` /
``.json`` / ``.csv`` / ``.parquet`` tables with a text column and an attributes column holding a map
(a JSON string in CSV). The helpers here are shared by the other readers (`readers.py`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foretune.errors import ForetuneError

# Spellings of "absent" in the formats we read (AE-110K writes NULL, ExtractGPT n/a).
NULL_STRINGS = frozenset({"", "null", "none", "n/a", "na", "nan"})
RECORD_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class Product:
    """One product text and its labelled attributes.

    `attributes` maps each labelled attribute to its value, or None when the label says the
    attribute is absent. `alternatives` optionally lists further values that also count as right
    (ExtractGPT labels a few attributes with several acceptable values; None among them means
    "absent" is acceptable too). `category` is informational.
    """

    text: str
    attributes: dict[str, str | None]
    category: str | None = None
    alternatives: dict[str, tuple[str | None, ...]] = field(default_factory=dict)

    def accepted(self, attribute: str) -> tuple[str | None, ...]:
        """Every value that counts as a right answer for `attribute` (the label first)."""
        return (self.attributes.get(attribute), *self.alternatives.get(attribute, ()))


def clean_label_value(value: Any) -> str | None:
    """A label value as a string, or None for every spelling of "absent"."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):  # a multi-valued label: keep the first value
        value = next((v for v in value if clean_label_value(v) is not None), None)
        return clean_label_value(value)
    text = " ".join(str(value).split())
    return None if text.lower() in NULL_STRINGS else text


def dedupe_products(products: Iterable[Product]) -> list[Product]:
    """One product per distinct text (first-seen order); duplicates' attributes are merged.

    Texts are compared after whitespace normalisation. For an attribute labelled in several
    duplicates, the first non-null value wins and other non-null values become alternatives.
    """
    merged: dict[str, dict[str, Any]] = {}
    for product in products:
        key = " ".join(product.text.split())
        entry = merged.get(key)
        if entry is None:
            merged[key] = {
                "attributes": dict(product.attributes),
                "category": product.category,
                "alternatives": {k: list(v) for k, v in product.alternatives.items()},
            }
            continue
        attributes, alternatives = entry["attributes"], entry["alternatives"]
        for name, value in product.attributes.items():
            current = attributes.get(name)
            if name not in attributes or current is None:
                attributes[name] = value
            elif value is not None and value != current and value not in alternatives.get(name, []):
                alternatives.setdefault(name, []).append(value)
        for name, values in product.alternatives.items():
            alternatives.setdefault(name, []).extend(v for v in values if v not in alternatives[name])
        entry["category"] = entry["category"] or product.category
    return [
        Product(
            text=text,
            attributes=entry["attributes"],
            category=entry["category"],
            alternatives={k: tuple(v) for k, v in entry["alternatives"].items() if v},
        )
        for text, entry in merged.items()
    ]


def require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise ForetuneError(
            f"{what} not found: {path} (check data.source; paths are relative to the working directory)"
        )


def require_some(products: list[Product], where: Path | str, hint: str) -> list[Product]:
    if not products:
        raise ForetuneError(f"no products in {where}: the dataset is empty ({hint})")
    return products


def iter_json_rows(path: Path) -> Iterable[tuple[str, Any]]:
    """(location, row) pairs of a JSON Lines file or of a JSON file holding a list of rows."""
    if path.suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ForetuneError(f"{path} is not valid JSON ({error}); expected a list of records") from None
        if not isinstance(rows, list):
            raise ForetuneError(f"{path}: expected a JSON list of records, got {type(rows).__name__}")
        for i, row in enumerate(rows):
            yield f"{path} record {i}", row
        return
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as error:
                raise ForetuneError(
                    f"{path}:{number} is not valid JSON ({error.msg}); one JSON object per line expected"
                ) from None


def table_rows(path: Path) -> tuple[list[str], Iterable[tuple[str, Mapping[str, Any]]]]:
    """(columns, rows) of a CSV, parquet or JSON(L) table."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = [(f"{path}:{i + 2}", row) for i, row in enumerate(reader)]
        return columns, rows
    if path.suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise ForetuneError(f"cannot read parquet file {path}: {error}") from None
        records = frame.to_dict(orient="records")
        return list(frame.columns), [(f"{path} row {i}", row) for i, row in enumerate(records)]
    rows = list(iter_json_rows(path))
    columns: list[str] = []
    for location, row in rows:
        if not isinstance(row, dict):
            raise ForetuneError(f"{location}: expected a JSON object per record, got {type(row).__name__}")
        columns.extend(k for k in row if k not in columns)
    return columns, rows


def parse_attribute_map(raw: Any, location: str, column: str) -> dict[str, str | None]:
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ForetuneError(
                f"{location}: column '{column}' must hold a JSON object like "
                '{"Brand": "Acme", "Color": null}, got ' + repr(raw[:80])
            ) from None
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return {}
    if hasattr(raw, "items") and not isinstance(raw, dict):  # e.g. a pyarrow/pandas mapping
        raw = dict(raw.items())
    if isinstance(raw, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in raw):
        raw = dict(raw)  # parquet map columns come back as [(key, value), ...]
    if not isinstance(raw, dict):
        raise ForetuneError(
            f"{location}: column '{column}' must hold a map of attribute -> value, got {type(raw).__name__}"
        )
    return {" ".join(str(k).split()): clean_label_value(v) for k, v in raw.items() if str(k).strip()}


def read_records(
    path: str | Path, *, text_column: str = "text", attributes_column: str = "attributes"
) -> list[Product]:
    """Products from a ``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet`` table.

    Each row holds the product text in `text_column` and a map ``{attribute: value or null}`` in
    `attributes_column` (a JSON string in CSV). Null, NaN, "", "null", "n/a" and "NULL" all mean
    "absent". An optional ``category`` column is kept. Rows without text are skipped. In parquet,
    store the map as a JSON string or a map column: a struct column fills every row with every
    key (as null), which would ask each product about attributes it was never labelled with.
    """
    path = Path(path)
    require_file(path, "data file")
    if path.suffix not in RECORD_SUFFIXES:
        raise ForetuneError(
            f"cannot read {path}: unknown file type '{path.suffix}' (use one of {', '.join(RECORD_SUFFIXES)}, "
            "or set data.format)"
        )
    columns, rows = table_rows(path)
    rows = list(rows)
    if not rows:
        raise ForetuneError(
            f"no products in {path}: the file has no records (add rows with '{text_column}' and '{attributes_column}')"
        )
    missing = [c for c in (text_column, attributes_column) if c not in columns]
    if missing:
        raise ForetuneError(
            f"{path} has no column {' or '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(map(str, columns)) or 'none'}); "
            "set data.text_column / data.attributes_column to the right names" + other_task_hint(columns)
        )
    products = []
    for location, row in rows:
        text = row.get(text_column)
        if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
            continue
        category = row.get("category")
        products.append(
            Product(
                text=" ".join(str(text).split()),
                attributes=parse_attribute_map(row.get(attributes_column), location, attributes_column),
                category=None if category is None or category != category else str(category),
            )
        )
    return require_some(dedupe_products(products), path, f"every row lacks a '{text_column}' value")


def other_task_hint(columns) -> str:
    """A hint when the columns are those of another task (attribute extraction is the default task)."""
    names = set(map(str, columns))
    for wanted, task in (
        (("prompt", "completion"), "completion"),
        (("messages",), "chat"),
        (("label",), "classification"),
    ):
        if names.issuperset(wanted):
            return f"; or, if the file holds {' / '.join(wanted)} data, set task.name={task}"
    return ""
