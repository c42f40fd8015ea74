"""The fine-tuning data: `Product` records, one reader per source, seeded splits, the synthetic generator.

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
from foretune.trainers.data.splits import Splits, attribute_counts, load_splits, make_splits, select_attributes
from foretune.trainers.data.synthetic import CATEGORY_ATTRIBUTES, generate_products

__all__ = [
    "CATEGORY_ATTRIBUTES",
    "NULL_STRINGS",
    "Product",
    "Splits",
    "attribute_counts",
    "dedupe_products",
    "detect_format",
    "generate_products",
    "load_products",
    "load_splits",
    "make_splits",
    "read_ae110k",
    "read_extractgpt",
    "read_hf",
    "read_records",
    "select_attributes",
]
