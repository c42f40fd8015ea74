"""Readers for each data source, and the dispatch from `data.source` / `data.format` to them.

Every source becomes a list of `Product`s, deduplicated by text:

- ``synthetic``        the built-in generator (`synthetic.py`), no files needed
- records              ``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet`` tables (`records.read_records`)
- ``ae110k``           AE-110K OpenTag triples ``title \\x01 attribute \\x01 value`` (``NULL`` = absent),
                       one file or a folder of them; triples are grouped by title into products
- ``extractgpt``       Brinkmann et al.'s JSONL: ``{"input", "category", "target_scores"}``
- ``hf:NAME``          a Hugging Face `datasets` dataset (hub id or a folder saved with `save_to_disk`)
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from foretune.errors import ForetuneError
from foretune.trainers.data.records import (
    Product,
    clean_label_value,
    dedupe_products,
    iter_json_rows,
    other_task_hint,
    parse_attribute_map,
    read_records,
    require_file,
    require_some,
)

if TYPE_CHECKING:
    from foretune.config import DataConfig

_AE110K_SEP = "\x01"


def _ae110k_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        require_file(item, "AE-110K data")
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
                products.append(Product(text=title, attributes={attribute: clean_label_value(value)}))
    where = ", ".join(map(str, files))
    return require_some(dedupe_products(products), where, "the files hold no triples")


def read_extractgpt(path: str | Path) -> list[Product]:
    """Products from Brinkmann et al.'s ExtractGPT JSONL.

    Record: ``{"input": title, "category": ..., "target_scores": {attribute: {value: 1, ...}}}``;
    the value ``n/a`` means absent. The first listed value is the label, further ones are
    alternatives that also count as right. HTML entities are decoded.
    """
    path = Path(path)
    require_file(path, "ExtractGPT file")
    products = []
    for location, row in iter_json_rows(path):
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
            cleaned = [clean_label_value(html.unescape(str(v))) for v in values]
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
    return require_some(dedupe_products(p for p in products if p.text), path, "the file has no records")


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

    flags = [
        (datasets.config, "HF_HUB_OFFLINE"),
        (datasets.config, "HF_DATASETS_OFFLINE"),
        (huggingface_hub.constants, "HF_HUB_OFFLINE"),
    ]
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
    products: list[Product] = []
    for part in load_hf_parts(name, offline=offline):
        missing = [c for c in (text_column, attributes_column) if c not in part.column_names]
        if missing:
            raise ForetuneError(
                f"dataset 'hf:{name}' has no column {' or '.join(repr(c) for c in missing)} "
                f"(columns: {', '.join(part.column_names)}); set data.text_column / data.attributes_column"
                + other_task_hint(part.column_names)
            )
        for i, row in enumerate(part):
            text = row[text_column]
            if text is None or not str(text).strip():
                continue
            attributes = parse_attribute_map(row[attributes_column], f"hf:{name} row {i}", attributes_column)
            products.append(Product(text=" ".join(str(text).split()), attributes=attributes))
    return require_some(dedupe_products(products), f"hf:{name}", "the dataset has no rows with text")


def load_hf_parts(name: str, *, offline: bool = True) -> list:
    """Every split of a `datasets` dataset (a `save_to_disk` folder or a hub id ``user/name[:config]``)."""
    try:
        import datasets
    except ImportError:
        raise ForetuneError("reading 'hf:' data needs the `datasets` package: pip install datasets") from None

    local = Path(name)
    saved = ("dataset_dict.json", "dataset_info.json", "state.json")  # what save_to_disk writes
    try:
        if local.is_dir() and any((local / f).exists() for f in saved):
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
    return list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]


def _looks_like_ae110k(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
    return _AE110K_SEP in head


def _looks_like_extractgpt(path: Path) -> bool:
    for _, row in iter_json_rows(path):
        return isinstance(row, dict) and "target_scores" in row
    return False


def detect_format(source: str) -> str:
    """The format 'auto' resolves to for `source`: synthetic, hf, ae110k, extractgpt or records."""
    if source == "synthetic":
        return "synthetic"
    if source.startswith("hf:"):
        return "hf"
    path = Path(source)
    require_file(path, "data source")
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
        from foretune.trainers.data.synthetic import generate_products

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
