"""The built-in synthetic product generator: deterministic, realistic, learnable but not trivial."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from foretune.errors import ForetuneError
from foretune.trainers.data.synthetic import BRANDS, CATEGORY_ATTRIBUTES, COLOR_LINES, COLORS, generate_products
from foretune.trainers.tasks import AttributeExtractionTask

N = 1500


@pytest.fixture(scope="module")
def products():
    return generate_products(N, seed=0)


def test_deterministic_nested_and_seeded(products) -> None:
    assert generate_products(N, seed=0) == products
    assert generate_products(100, seed=0) == products[:100]  # a prefix: more data only adds products
    other = generate_products(100, seed=1)
    assert len({p.text for p in other} & {p.text for p in products[:100]}) < 5


def test_distinct_texts_and_title_length(products) -> None:
    assert len({p.text for p in products}) == N
    words = [len(p.text.split()) for p in products]
    assert min(words) >= 8 and max(words) <= 30 and 11 <= sum(words) / N <= 18


def test_fixed_attribute_set_per_category(products) -> None:
    counts = Counter(p.category for p in products)
    assert set(counts) == set(CATEGORY_ATTRIBUTES) and min(counts.values()) > N / len(counts) / 2
    for product in products:
        assert tuple(product.attributes) == CATEGORY_ATTRIBUTES[product.category]
        assert 4 <= len(product.attributes) <= 5


def test_values_are_substrings_and_null_rate(products) -> None:
    labels = [(p, name, v) for p in products for name, v in p.attributes.items()]
    assert all(v in p.text for p, _, v in labels if v is not None)
    null_rate = sum(v is None for _, _, v in labels) / len(labels)
    assert 0.12 < null_rate < 0.3
    for name in ("Brand", "Color", "Material"):  # every attribute is sometimes absent, mostly present
        values = [v for _, n, v in labels if n == name]
        assert 0.05 < sum(v is None for v in values) / len(values) < 0.4, name


def test_distractors_are_present(products) -> None:
    # a colour word in a product-line name while the colour itself is absent
    color_words = {w for c in COLORS for w in re.split(r"[ /]", c)}
    tricky = [p for p in products if p.attributes.get("Color") is None and any(line in p.text for line in COLOR_LINES)]
    assert len(tricky) > 20 and all(any(w in p.text.split() for w in color_words) for p in tricky)
    assert sum("inch Laptop" in p.text or "inch Notebook" in p.text for p in products) > 50
    brand_last = [p for p in products if " by " in p.text and p.attributes["Brand"]]
    assert sum(p.text.endswith(p.attributes["Brand"]) for p in brand_last) > 20
    assert sum(p.attributes["Brand"] is not None and p.attributes["Brand"].isupper() for p in products) > 50
    shirts_without_size = [p for p in products if p.category == "shirts" and p.attributes["Size"] is None]
    assert any("S-XXL" in p.text or "S to XL" in p.text for p in shirts_without_size)


def test_not_trivial_for_a_simple_rule(products) -> None:
    """A keyword baseline (known brand / colour lists, first match) must leave room to learn."""
    task = AttributeExtractionTask()
    brands = sorted(BRANDS, key=len, reverse=True)
    colors = sorted(COLORS, key=len, reverse=True)

    def rule(text: str, names: list[str]) -> dict[str, str | None]:
        answer: dict[str, str | None] = dict.fromkeys(names)
        answer["Brand"] = next((b for b in brands if b.casefold() in text.casefold()), None)
        if "Color" in names:
            answer["Color"] = next((c for c in colors if c in text), None)
        return answer

    predictions = [rule(p.text, task.attributes_for(p)) for p in products]
    metrics = task.score(products, predictions)
    assert metrics["acc/Brand"] > 0.95  # the labels are consistent: the brand is always recoverable
    color = task.score_frame(products, predictions).set_index("attribute").loc["Color"]
    assert color["accuracy"] < 0.97 and color["null_fp_rate"] > 0.05  # colour words in line names mislead it
    assert metrics["exact_match"] < 0.2


def test_bad_n() -> None:
    with pytest.raises(ForetuneError, match="at least 1 product, got n=0"):
        generate_products(0)
