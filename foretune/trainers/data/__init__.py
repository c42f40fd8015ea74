"""The fine-tuning data: `Product` records, one reader per source, seeded splits, the synthetic generator, and
the `TextRecord` rows of the completion / chat / classification task kinds with their strict readers.

Pure Python plus pandas / `datasets` (imported only when a parquet or ``hf:`` source needs them);
no torch, Ray or Optuna, so predictors and the search can import it cheaply.
"""

from foretune.trainers.data.readers import (
    detect_format,
    load_products,
    read_ae110k,
    read_extractgpt,
    read_hf,
)
from foretune.trainers.data.records import NULL_STRINGS, Product, dedupe_products, read_records
from foretune.trainers.data.splits import (
    Splits,
    assemble_splits,
    attribute_counts,
    load_splits,
    make_splits,
    select_attributes,
    split_by_key,
)
from foretune.trainers.data.synthetic import CATEGORY_ATTRIBUTES, generate_products
from foretune.trainers.data.text_records import (
    TextRecord,
    read_chat_records,
    read_classification_records,
    read_completion_records,
    resolve_source,
)

__all__ = [
    "CATEGORY_ATTRIBUTES",
    "NULL_STRINGS",
    "Product",
    "Splits",
    "TextRecord",
    "assemble_splits",
    "attribute_counts",
    "dedupe_products",
    "detect_format",
    "generate_products",
    "load_products",
    "load_splits",
    "make_splits",
    "read_ae110k",
    "read_chat_records",
    "read_classification_records",
    "read_completion_records",
    "read_extractgpt",
    "read_hf",
    "read_records",
    "resolve_source",
    "select_attributes",
    "split_by_key",
]
