"""Product records, the readers that make them, and the seeded train / validation / test splits.

A `Product` is one product text and the attributes it is labelled with, ``{name: value or None}``
(None = the attribute is labelled as absent from the text). Every source becomes a list of products:

- ``synthetic``        the built-in generator (`foretune.trainers.synthetic`), no files needed
- records              ``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet`` with a text column and an
                       attributes column holding a map (a JSON string in CSV)
- ``ae110k``           AE-110K OpenTag triples ``title \\x01 attribute \\x01 value`` (``NULL`` = absent),
                       one file or a folder of them; triples are grouped by title into products
- ``extractgpt``       Brinkmann et al.'s JSONL: ``{"input", "category", "target_scores"}``
- ``hf:NAME``          a Hugging Face `datasets` dataset (hub id or a folder saved with `save_to_disk`)

Splits are made BY PRODUCT TEXT: identical texts are merged into one product first, so a text can
never sit in both training and test (AE-110K's own split was per triple and leaks 1,927 titles).
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foretune.errors import ForetuneError

if TYPE_CHECKING:
    from foretune.config import DataConfig

__all__ = [
    "Product",
    "Splits",
    "dedupe_products",
    "load_products",
    "load_splits",
    "make_splits",
    "read_ae110k",
    "read_extractgpt",
    "read_hf",
    "read_records",
    "select_attributes",
]

# Spellings of "absent" in the formats we read (AE-110K writes NULL, ExtractGPT n/a).
NULL_STRINGS = frozenset({"", "null", "none", "n/a", "na", "nan"})
RECORD_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
_AE110K_SEP = "\x01"


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


@dataclass(frozen=True)
class Splits:
    """Train / validation / test products; `train` is in a fixed, seeded order (nested subsets)."""

    train: list[Product]
    validation: list[Product]
    test: list[Product]

    def train_subset(self, n: int) -> list[Product]:
        """The first `n` training products: subset(n) is contained in subset(m) for every m >= n."""
        if n < 0:
            raise ForetuneError(f"training subset size must be >= 0, got {n}")
        if n > len(self.train):
            raise ForetuneError(
                f"asked for {n} training products but the training split holds {len(self.train)}; "
                f"lower data.train_size to at most {len(self.train)} or use more data"
            )
        return self.train[:n]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


# --------------------------------------------------------------------------------------------------
# Small helpers


def _clean_value(value: Any) -> str | None:
    """A label value as a string, or None for every spelling of "absent"."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):  # a multi-valued label: keep the first value
        value = next((v for v in value if _clean_value(v) is not None), None)
        return _clean_value(value)
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


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise ForetuneError(
            f"{what} not found: {path} (check data.source; paths are relative to the working directory)"
        )


def _require_some(products: list[Product], where: Path | str, hint: str) -> list[Product]:
    if not products:
        raise ForetuneError(f"no products in {where}: the dataset is empty ({hint})")
    return products


# --------------------------------------------------------------------------------------------------
# Readers


def _iter_json_rows(path: Path) -> Iterable[tuple[str, Any]]:
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


def _table_rows(path: Path) -> tuple[list[str], Iterable[tuple[str, Mapping[str, Any]]]]:
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
    rows = list(_iter_json_rows(path))
    columns: list[str] = []
    for location, row in rows:
        if not isinstance(row, dict):
            raise ForetuneError(f"{location}: expected a JSON object per record, got {type(row).__name__}")
        columns.extend(k for k in row if k not in columns)
    return columns, rows


def _parse_attribute_map(raw: Any, location: str, column: str) -> dict[str, str | None]:
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
    return {" ".join(str(k).split()): _clean_value(v) for k, v in raw.items() if str(k).strip()}


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
    _require_file(path, "data file")
    if path.suffix not in RECORD_SUFFIXES:
        raise ForetuneError(
            f"cannot read {path}: unknown file type '{path.suffix}' (use one of {', '.join(RECORD_SUFFIXES)}, "
            "or set data.format)"
        )
    columns, rows = _table_rows(path)
    rows = list(rows)
    if not rows:
        raise ForetuneError(
            f"no products in {path}: the file has no records "
            f"(add rows with '{text_column}' and '{attributes_column}')"
        )
    missing = [c for c in (text_column, attributes_column) if c not in columns]
    if missing:
        raise ForetuneError(
            f"{path} has no column {' or '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(map(str, columns)) or 'none'}); "
            "set data.text_column / data.attributes_column to the right names"
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
                attributes=_parse_attribute_map(row.get(attributes_column), location, attributes_column),
                category=None if category is None or category != category else str(category),
            )
        )
    return _require_some(dedupe_products(products), path, f"every row lacks a '{text_column}' value")


def _ae110k_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        _require_file(item, "AE-110K data")
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise ForetuneError(
                    f"no products in {item}: the folder has no files (expected AE-110K files such as opentags.dev)"
                )
            files.extend(found)
        else:
            files.append(item)
    return files


def read_ae110k(paths: str | Path | Sequence[str | Path]) -> list[Product]:
    """Products from AE-110K OpenTag files (one file, several, or a folder of them), pooled.

    Each line is a triple ``title \\x01 attribute \\x01 value`` with value ``NULL`` when the attribute
    is absent. Triples are grouped by title (HTML entities such as ``&#39;`` decoded, whitespace
    normalised) into one product, so dev and test files can be pooled and re-split by title. For an
    attribute labelled twice, the first non-null value is the label and the others alternatives.
    """
    products: list[Product] = []
    files = _ae110k_files(paths)
    for path in files:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split(_AE110K_SEP)
                if len(parts) != 3:
                    raise ForetuneError(
                        f"{path}:{number}: expected 'title \\x01 attribute \\x01 value', found {len(parts)} "
                        "field(s); is this an AE-110K file? (set data.format to read it another way)"
                    )
                title, attribute, value = (" ".join(html.unescape(p).split()) for p in parts)
                if not title or not attribute:
                    continue
                products.append(Product(text=title, attributes={attribute: _clean_value(value)}))
    where = ", ".join(map(str, files))
    return _require_some(dedupe_products(products), where, "the files hold no triples")


def read_extractgpt(path: str | Path) -> list[Product]:
    """Products from Brinkmann et al.'s ExtractGPT JSONL.

    Record: ``{"input": title, "category": ..., "target_scores": {attribute: {value: 1, ...}}}``;
    the value ``n/a`` means absent. The first listed value is the label, further ones are
    alternatives that also count as right. HTML entities are decoded.
    """
    path = Path(path)
    _require_file(path, "ExtractGPT file")
    products = []
    for location, row in _iter_json_rows(path):
        if not isinstance(row, dict) or "input" not in row or "target_scores" not in row:
            keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
            raise ForetuneError(
                f"{location}: an ExtractGPT record needs 'input' and 'target_scores' (found: {keys}); "
                "set data.format=records for a text/attributes table"
            )
        attributes: dict[str, str | None] = {}
        alternatives: dict[str, tuple[str | None, ...]] = {}
        for name, scores in row["target_scores"].items():
            values = list(scores) if isinstance(scores, dict) else [scores]
            cleaned = [_clean_value(html.unescape(str(v))) for v in values]
            # Prefer a real value as the label: an "n/a" listed next to a value only makes absence acceptable.
            label = next((v for v in cleaned if v is not None), None)
            attributes[name] = label
            rest = tuple(dict.fromkeys(v for v in cleaned if v != label))
            if rest:
                alternatives[name] = rest
        category = row.get("category")
        products.append(
            Product(
                text=" ".join(html.unescape(str(row["input"])).split()),
                attributes=attributes,
                category=None if category is None else str(category),
                alternatives=alternatives,
            )
        )
    return _require_some(dedupe_products(p for p in products if p.text), path, "the file has no records")


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Offline mode for one call. The libraries read HF_HUB_OFFLINE once at import, so the
    module-level flags are switched (and restored) instead of the environment; without this a
    missing dataset costs ~25 s of network retries before failing."""
    if not offline:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    flags = [(datasets.config, "HF_HUB_OFFLINE"), (datasets.config, "HF_DATASETS_OFFLINE"),
             (huggingface_hub.constants, "HF_HUB_OFFLINE")]
    saved = [(module, attr, getattr(module, attr)) for module, attr in flags if hasattr(module, attr)]
    for module, attr, _ in saved:
        setattr(module, attr, True)
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def read_hf(
    name: str, *, text_column: str = "text", attributes_column: str = "attributes", offline: bool = True
) -> list[Product]:
    """Products from a Hugging Face `datasets` dataset: every split, pooled (we re-split).

    `name` is a folder written by ``Dataset.save_to_disk`` or a hub id (``user/name`` or
    ``user/name:config``). With `offline` (the default on this machine) only the local cache is used.
    """
    try:
        import datasets
    except ImportError:
        raise ForetuneError("reading 'hf:' data needs the `datasets` package: pip install datasets") from None

    local = Path(name)
    try:
        if local.is_dir() and any((local / f).exists() for f in ("dataset_dict.json", "dataset_info.json", "state.json")):
            loaded = datasets.load_from_disk(str(local))
        else:
            repo, _, config = name.partition(":")
            with _hub_offline(offline):
                loaded = datasets.load_dataset(repo, config or None)
    except Exception as error:  # datasets raises many types (connection, not found, bad config)
        message = " ".join(str(error).split())[:300]
        raise ForetuneError(
            f"cannot load dataset 'hf:{name}': {type(error).__name__}: {message} "
            "(offline: download it once elsewhere and copy the cache, or save it with save_to_disk and use hf:FOLDER)"
        ) from None
    parts = list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]
    products: list[Product] = []
    for part in parts:
        missing = [c for c in (text_column, attributes_column) if c not in part.column_names]
        if missing:
            raise ForetuneError(
                f"dataset 'hf:{name}' has no column {' or '.join(repr(c) for c in missing)} "
                f"(columns: {', '.join(part.column_names)}); set data.text_column / data.attributes_column"
            )
        for i, row in enumerate(part):
            text = row[text_column]
            if text is None or not str(text).strip():
                continue
            attributes = _parse_attribute_map(row[attributes_column], f"hf:{name} row {i}", attributes_column)
            products.append(Product(text=" ".join(str(text).split()), attributes=attributes))
    return _require_some(dedupe_products(products), f"hf:{name}", "the dataset has no rows with text")


# --------------------------------------------------------------------------------------------------
# Dispatch


def _looks_like_ae110k(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
    return _AE110K_SEP in head


def _looks_like_extractgpt(path: Path) -> bool:
    for _, row in _iter_json_rows(path):
        return isinstance(row, dict) and "target_scores" in row
    return False


def detect_format(source: str) -> str:
    """The format 'auto' resolves to for `source`: synthetic, hf, ae110k, extractgpt or records."""
    if source == "synthetic":
        return "synthetic"
    if source.startswith("hf:"):
        return "hf"
    path = Path(source)
    _require_file(path, "data source")
    if path.is_dir():
        return "ae110k"
    if path.suffix in (".jsonl", ".json"):
        return "extractgpt" if _looks_like_extractgpt(path) else "records"
    if path.suffix in (".csv", ".parquet"):
        return "records"
    if _looks_like_ae110k(path):
        return "ae110k"
    raise ForetuneError(
        f"cannot tell the format of {path}: not .jsonl/.json/.csv/.parquet and no AE-110K '\\x01' separators; "
        "set data.format to records, ae110k or extractgpt"
    )


def load_products(data: DataConfig, *, offline: bool = True) -> list[Product]:
    """All products of `data.source` (deduplicated by text), read as `data.format` says.

    `offline` only matters for ``hf:`` hub datasets (pass the model config's `offline`).
    """
    if data.source == "synthetic" and data.format in ("auto",):
        from foretune.trainers.synthetic import generate_products

        return generate_products(data.synthetic_size, seed=data.seed)
    fmt = detect_format(data.source) if data.format == "auto" else data.format
    if fmt == "hf":
        return read_hf(
            data.source.removeprefix("hf:"),
            text_column=data.text_column,
            attributes_column=data.attributes_column,
            offline=offline,
        )
    if fmt == "ae110k":
        return read_ae110k(data.source)
    if fmt == "extractgpt":
        return read_extractgpt(data.source)
    if fmt == "records":
        return read_records(data.source, text_column=data.text_column, attributes_column=data.attributes_column)
    raise ForetuneError(f"data.format '{fmt}' cannot read source '{data.source}'")


# --------------------------------------------------------------------------------------------------
# Splits


def make_splits(
    products: Sequence[Product], *, test_fraction: float = 0.2, validation_fraction: float = 0.1, seed: int = 0
) -> Splits:
    """Seeded split by product text: test first, then validation, the rest is training.

    Fractions are shares of all (deduplicated) products. The order does not depend on the input
    order: products are sorted by text, then shuffled with `seed`. The training list keeps that
    shuffled order, so its prefixes are the nested training subsets.
    """
    if not 0 < test_fraction < 1:
        raise ForetuneError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0 <= validation_fraction < 1 or test_fraction + validation_fraction >= 1:
        raise ForetuneError(
            f"validation_fraction={validation_fraction} with test_fraction={test_fraction} leaves no training data; "
            "keep both in [0, 1) with a sum below 1"
        )
    unique = sorted(dedupe_products(products), key=lambda p: p.text)
    if len(unique) < 3:
        raise ForetuneError(
            f"need at least 3 distinct products to split into train/validation/test, got {len(unique)}"
        )
    random.Random(seed).shuffle(unique)
    n = len(unique)
    n_test = max(1, round(n * test_fraction))
    n_validation = max(1, round(n * validation_fraction)) if validation_fraction > 0 else 0
    if n_test + n_validation >= n:
        raise ForetuneError(
            f"{n} products are too few for test_fraction={test_fraction} and validation_fraction={validation_fraction}: "
            "nothing is left to train on; use more data or smaller fractions"
        )
    return Splits(
        train=unique[n_test + n_validation :],
        validation=unique[n_test : n_test + n_validation],
        test=unique[:n_test],
    )


def select_attributes(products: Iterable[Product], attributes: Sequence[str]) -> list[Product]:
    """Keep only `attributes` (in that order) on each product; drop products left with none."""
    wanted = list(dict.fromkeys(attributes))
    kept = []
    for product in products:
        chosen = {a: product.attributes[a] for a in wanted if a in product.attributes}
        if chosen:
            alternatives = {a: v for a, v in product.alternatives.items() if a in chosen}
            kept.append(Product(product.text, chosen, product.category, alternatives))
    return kept


def attribute_counts(products: Iterable[Product]) -> Counter[str]:
    """How many products are labelled with each attribute."""
    return Counter(name for product in products for name in product.attributes)


def load_splits(data: DataConfig, *, offline: bool = True) -> Splits:
    """Load `data.source`, split it, keep `data.attributes`, and cut training to `data.train_size`."""
    products = load_products(data, offline=offline)
    splits = make_splits(
        products, test_fraction=data.test_fraction, validation_fraction=data.validation_fraction, seed=data.seed
    )
    if data.attributes:
        counts = attribute_counts(products)
        unknown = [a for a in data.attributes if a not in counts]
        if unknown:
            common = ", ".join(name for name, _ in counts.most_common(12))
            raise ForetuneError(
                f"data.attributes names {', '.join(map(repr, unknown))}, not found in {data.source} "
                f"(most common attributes there: {common}); names are case-sensitive"
            )
        # Filter after splitting, so a product's split does not depend on the attribute choice.
        splits = Splits(
            train=select_attributes(splits.train, data.attributes),
            validation=select_attributes(splits.validation, data.attributes),
            test=select_attributes(splits.test, data.attributes),
        )
        if not splits.train or not splits.test:
            raise ForetuneError(
                f"no products with {', '.join(data.attributes)} left in the "
                f"{'training' if not splits.train else 'test'} split of {data.source}; choose more common attributes"
            )
    if data.train_size is not None:
        splits = Splits(splits.train_subset(data.train_size), splits.validation, splits.test)
    return splits
