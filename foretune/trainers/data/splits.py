"""Seeded train / validation / test splits by product text, and the nested training subsets.

Splits are made BY PRODUCT TEXT: identical texts are merged into one product first, so a text can
never sit in both training and test (AE-110K's own split was per triple and leaks 1,927 titles).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from foretune.errors import ForetuneError
from foretune.trainers.data.readers import load_products
from foretune.trainers.data.records import Product, dedupe_products
from foretune.trainers.data.text_records import resolve_source

if TYPE_CHECKING:
    from foretune.config import DataConfig

R = TypeVar("R")


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


def split_counts(n: int, test_fraction: float, validation_fraction: float, *, items: str, fix: str) -> tuple[int, int]:
    """(test, validation) shares of `n` shuffled items: a fraction above 0 takes at least one item, a fraction of 0
    none (a fixed file replaces that split); refuses a split that leaves nothing to train on (`fix` says what to do)."""
    n_test, n_validation = (max(1, round(n * f)) if f > 0 else 0 for f in (test_fraction, validation_fraction))
    if n_test + n_validation >= n:
        raise ForetuneError(
            f"{n} {items} are too few for test_fraction={test_fraction:g} and "
            f"validation_fraction={validation_fraction:g}: nothing is left to train on; {fix}"
        )
    return n_test, n_validation


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
        raise ForetuneError(f"need at least 3 distinct products to split into train/validation/test, got {len(unique)}")
    random.Random(seed).shuffle(unique)
    n_test, n_validation = split_counts(
        len(unique), test_fraction, validation_fraction, items="products", fix="use more data or smaller fractions"
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


def split_by_key(
    records: Sequence[R],
    key: Callable[[R], Hashable],
    *,
    test_fraction: float,
    validation_fraction: float,
    seed: int = 0,
) -> Splits:
    """Seeded split of any records by `key`: records sharing a key (a prompt) land in one split.

    Keys are sorted, then shuffled with `seed`; test takes the first share of them, validation the
    next, training the rest (in that shuffled order, so its prefixes are the nested subsets). A
    fraction of 0 makes that split empty (a fixed test or validation file replaces it).
    """
    groups: dict[Any, list[R]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    keys = sorted(groups, key=str)
    random.Random(seed).shuffle(keys)
    n_test, n_validation = split_counts(
        len(keys),
        test_fraction,
        validation_fraction,
        items="distinct prompts",
        fix="use more data, smaller fractions, or data.test_source / data.validation_source",
    )

    def flat(chosen: Sequence[Any]) -> list[R]:
        return [record for k in chosen for record in groups[k]]

    return Splits(
        train=flat(keys[n_test + n_validation :]),
        validation=flat(keys[n_test : n_test + n_validation]),
        test=flat(keys[:n_test]),
    )


def assemble_splits(data: DataConfig, read: Callable[[str], list[R]], key: Callable[[R], Hashable]) -> Splits:
    """Splits of `data.source`, with `data.test_source` / `data.validation_source` used as given when set.

    Without them the source is split at random (`split_by_key`). A fixed file replaces that split, and
    training then drops any record whose key (prompt) is also in a fixed file, so nothing leaks.
    """
    test = read(data.test_source) if data.test_source else None
    validation = read(data.validation_source) if data.validation_source else None
    drawn = split_by_key(
        read(data.source),
        key,
        test_fraction=0.0 if test is not None else data.test_fraction,
        validation_fraction=0.0 if validation is not None else data.validation_fraction,
        seed=data.seed,
    )
    held_out = {key(r) for r in [*(test or []), *(validation or [])]}
    train = [r for r in drawn.train if key(r) not in held_out]
    if not train:
        raise ForetuneError(
            f"no training rows left in {data.source}: every prompt of its training share is also in "
            "data.test_source / data.validation_source; give a source with other rows"
        )
    return Splits(
        train=train,
        validation=drawn.validation if validation is None else validation,
        test=drawn.test if test is None else test,
    )


def load_splits(data: DataConfig, *, offline: bool = True) -> Splits:
    """Load `data.source`, split it, keep `data.attributes`, and cut training to `data.train_size`.

    `data.test_source` / `data.validation_source`, when set, are read the same way and used as given.
    """

    def read(source: str) -> list[Product]:
        return load_products(data.model_copy(update={"source": resolve_source(source)}), offline=offline)

    if data.test_source or data.validation_source:
        splits = assemble_splits(data, read, key=lambda p: " ".join(p.text.split()))
        products = [*splits.train, *splits.validation, *splits.test]
    else:
        products = read(data.source)
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
