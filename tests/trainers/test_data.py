"""Readers, dispatch and splits (`foretune.trainers.data`), on small files and the real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from foretune.config import DataConfig
from foretune.errors import ForetuneError
from foretune.trainers.data import (
    Product,
    Splits,
    dedupe_products,
    detect_format,
    load_products,
    load_splits,
    make_splits,
    read_ae110k,
    read_extractgpt,
    read_hf,
    read_records,
)
from foretune.trainers.data.splits import split_by_key, split_counts

SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "product-attributes"
AE110K = SHARED / "ae110k-opentag"
EXTRACTGPT = SHARED / "extractgpt"
needs_ae110k = pytest.mark.skipif(not (AE110K / "opentags.dev").is_file(), reason="no ../shared AE-110K data")
needs_extractgpt = pytest.mark.skipif(
    not (EXTRACTGPT / "ae-110k.test.jsonl").is_file(), reason="no ../shared ExtractGPT data"
)

ROWS = [
    {"text": "Acme Red Running Shoes Size 9", "attributes": {"Brand": "Acme", "Color": "Red", "Size": "9"}},
    {"text": "Plain White Mug", "attributes": {"Brand": None, "Color": "White"}},
    {"text": "Zed Leather Wallet", "attributes": {"Brand": "Zed", "Color": "n/a", "Material": "Leather"}},
]


def _products(n: int) -> list[Product]:
    return [Product(f"product number {i}", {"Brand": f"B{i % 7}", "Color": None if i % 3 else "Red"}) for i in range(n)]


# -- records ----------------------------------------------------------------------------------------


def test_read_records_jsonl_csv_parquet_agree(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    csv_path = tmp_path / "p.csv"
    pd.DataFrame({"text": [r["text"] for r in ROWS], "attributes": [json.dumps(r["attributes"]) for r in ROWS]}).to_csv(
        csv_path, index=False
    )
    parquet = tmp_path / "p.parquet"
    texts, attributes = [r["text"] for r in ROWS], [json.dumps(r["attributes"]) for r in ROWS]
    pd.DataFrame({"text": texts, "attributes": attributes}).to_parquet(parquet)
    expected = [
        Product("Acme Red Running Shoes Size 9", {"Brand": "Acme", "Color": "Red", "Size": "9"}),
        Product("Plain White Mug", {"Brand": None, "Color": "White"}),
        Product("Zed Leather Wallet", {"Brand": "Zed", "Color": None, "Material": "Leather"}),  # "n/a" = absent
    ]
    for path in (jsonl, csv_path, parquet):
        assert read_records(path) == expected, path


def test_read_records_custom_columns_and_duplicates_merge(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [
        {"title": "Acme  Red Shoes", "labels": {"Brand": "Acme", "Color": None}},
        {"title": "Acme Red Shoes", "labels": {"Color": "Red", "Size": None}},  # same text after spaces
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    products = read_records(path, text_column="title", attributes_column="labels")
    assert products == [Product("Acme Red Shoes", {"Brand": "Acme", "Color": "Red", "Size": None})]


def test_read_records_missing_column_names_columns_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("title,attributes\nAcme shoes,{}\n")
    with pytest.raises(ForetuneError, match=r"no column 'text'.*columns: title, attributes.*data.text_column"):
        read_records(path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_read_records_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    with pytest.raises(ForetuneError, match=r"no products in .*empty.jsonl"):
        read_records(path)


def test_read_records_bad_attribute_cell_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('text,attributes\nAcme shoes,"Brand=Acme"\n')
    with pytest.raises(ForetuneError, match=r"p.csv:2: column 'attributes' must hold a JSON object"):
        read_records(path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "attributes": {}}\n{"text": oops}\n')
    with pytest.raises(ForetuneError, match=r"bad.jsonl:2 is not valid JSON"):
        read_records(bad)


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ForetuneError, match=r"not found: .*nope.jsonl"):
        read_records(tmp_path / "nope.jsonl")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(ForetuneError, match=r"cannot tell the format of .*data.xlsx.*data.format"):
        load_products(DataConfig(source=str(odd)))


# -- dispatch -------------------------------------------------------------------------------------


def test_detect_format(tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(ROWS[0]) + "\n")
    egpt = tmp_path / "e.jsonl"
    egpt.write_text(json.dumps({"input": "Acme Shoes", "target_scores": {"Brand": {"Acme": 1}}}) + "\n")
    triples = tmp_path / "opentags.dev"
    triples.write_text("Acme Red Shoes\x01Brand Name\x01Acme\n")
    assert detect_format("synthetic") == "synthetic"
    assert detect_format("hf:user/set") == "hf"
    assert detect_format(str(records)) == "records"
    assert detect_format(str(egpt)) == "extractgpt"
    assert detect_format(str(triples)) == "ae110k"
    assert detect_format(str(tmp_path / "r.jsonl").replace("r.jsonl", "")) == "ae110k"  # a folder
    assert load_products(DataConfig(source=str(egpt))) == [Product("Acme Shoes", {"Brand": "Acme"})]
    assert load_products(DataConfig(source=str(triples))) == [Product("Acme Red Shoes", {"Brand Name": "Acme"})]


def test_forced_format_overrides_guess(tmp_path: Path) -> None:
    egpt = tmp_path / "e.jsonl"
    egpt.write_text(json.dumps({"input": "Acme Shoes", "target_scores": {"Brand": {"Acme": 1}}}) + "\n")
    with pytest.raises(ForetuneError, match=r"no column 'text' or 'attributes'"):
        load_products(DataConfig(source=str(egpt), format="records"))


def test_synthetic_source_is_the_generator() -> None:
    products = load_products(DataConfig(source="synthetic", synthetic_size=30, seed=4))
    assert len(products) == 30 and products == load_products(DataConfig(synthetic_size=30, seed=4))
    assert products != load_products(DataConfig(synthetic_size=30, seed=5))


def test_read_hf_from_saved_folder_and_offline_error(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict(
        {"text": [r["text"] for r in ROWS], "attributes": [json.dumps(r["attributes"]) for r in ROWS]}
    ).save_to_disk(str(folder))
    assert [p.text for p in read_hf(str(folder))] == [r["text"] for r in ROWS]
    with pytest.raises(ForetuneError, match=r"cannot load dataset 'hf:no-such-user/no-such-set-xyz'"):
        read_hf("no-such-user/no-such-set-xyz")


# -- AE-110K and ExtractGPT ------------------------------------------------------------------------


def test_ae110k_groups_triples_by_title(tmp_path: Path) -> None:
    (tmp_path / "opentags.dev").write_text(
        "Acme Men&#39;s Red Shoes\x01Brand Name\x01Acme\n"
        "Acme Men&#39;s Red Shoes\x01Color\x01NULL\n"
        "Zed Bag\x01Material\x01NULL\n"
    )
    (tmp_path / "opentags.test").write_text(
        "Acme Men's Red Shoes\x01Color\x01Red\n"  # the same title (entity decoded) in the other file
        "Zed Bag\x01Brand Name\x01Zed\n"
    )
    products = read_ae110k(tmp_path)
    assert products == [
        Product("Acme Men's Red Shoes", {"Brand Name": "Acme", "Color": "Red"}),
        Product("Zed Bag", {"Material": None, "Brand Name": "Zed"}),
    ]


def test_ae110k_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "opentags.dev"
    path.write_text("Acme Red Shoes\x01Brand Name\n")
    with pytest.raises(ForetuneError, match=r"opentags.dev:1: expected 'title"):
        read_ae110k(path)


def test_extractgpt_record_and_alternatives(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    record = {
        "input": "Snapback Cap Men&#39;s",
        "category": "Caps",
        "target_scores": {"Style": {"n/a": 1, "Snapback": 1}, "Color": {"n/a": 1}, "Gender": {"Men's": 1}},
    }
    path.write_text(json.dumps(record) + "\n")
    (product,) = read_extractgpt(path)
    assert product.text == "Snapback Cap Men's" and product.category == "Caps"
    assert product.attributes == {"Style": "Snapback", "Color": None, "Gender": "Men's"}
    assert product.accepted("Style") == ("Snapback", None)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(ForetuneError, match=r"needs 'input' and 'target_scores' \(found: text\)"):
        read_extractgpt(bad)


@needs_ae110k
def test_real_ae110k_pooled_and_split_by_title() -> None:
    products = read_ae110k(AE110K)
    texts = [p.text for p in products]
    assert len(texts) == len(set(texts)) and 16_000 < len(products) < 17_000
    labels = [v for p in products for v in p.attributes.values()]
    assert 20_000 < len(labels) < 21_000
    assert 0.15 < sum(v is None for v in labels) / len(labels) < 0.25  # "19% NULL"
    names = {a for p in products for a in p.attributes}
    assert {"Gender", "Brand Name", "Model Number", "Material"} <= names and len(names) > 700
    on_title = sum(v in p.text for p in products for v in p.attributes.values() if v is not None)
    assert on_title / sum(v is not None for v in labels) > 0.999  # exact substrings (up to entity decoding)
    # the raw files share titles between dev and test; after pooling, the split cannot leak them
    dev = {line.split("\x01")[0] for line in (AE110K / "opentags.dev").read_text(encoding="utf-8").splitlines()}
    test = {line.split("\x01")[0] for line in (AE110K / "opentags.test").read_text(encoding="utf-8").splitlines()}
    assert len(dev & test) > 1000
    splits = make_splits(products, test_fraction=0.2, validation_fraction=0.1, seed=0)
    train = {p.text for p in splits.train}
    assert not train & {p.text for p in splits.test} and not train & {p.text for p in splits.validation}
    assert sum(splits.sizes().values()) == len(products)


@needs_extractgpt
def test_real_extractgpt_files() -> None:
    for name, count in [("ae-110k.train.jsonl", 1568), ("ae-110k.test.jsonl", 524), ("oa-mine.train.jsonl", 1452)]:
        if not (EXTRACTGPT / name).is_file():
            continue
        products = load_products(DataConfig(source=str(EXTRACTGPT / name)))  # auto-detected
        assert count - 5 <= len(products) <= count
        assert all(p.attributes for p in products)
        assert all(v in p.text for p in products for v in p.attributes.values() if v is not None)
    oa = read_extractgpt(EXTRACTGPT / "oa-mine.train.jsonl")
    assert {p.category for p in oa} >= {"Coffee", "Vitamin"}


# -- splits ---------------------------------------------------------------------------------------


def test_splits_sizes_determinism_and_input_order() -> None:
    products = _products(100)
    a = make_splits(products, test_fraction=0.2, validation_fraction=0.1, seed=1)
    assert a.sizes() == {"train": 70, "validation": 10, "test": 20}
    assert a == make_splits(list(reversed(products)), test_fraction=0.2, validation_fraction=0.1, seed=1)
    assert a.train != make_splits(products, test_fraction=0.2, validation_fraction=0.1, seed=2).train
    everything = [p.text for p in a.train + a.validation + a.test]
    assert sorted(everything) == sorted(p.text for p in products)


def test_test_split_does_not_depend_on_validation_fraction() -> None:
    products = _products(50)
    a = make_splits(products, test_fraction=0.2, validation_fraction=0.0, seed=3)
    b = make_splits(products, test_fraction=0.2, validation_fraction=0.2, seed=3)
    assert a.test == b.test and a.validation == [] and len(b.validation) == 10


def test_duplicate_texts_cannot_leak() -> None:
    products = _products(40) + [Product("product number 5", {"Size": "L"})]
    splits = make_splits(products, test_fraction=0.25, validation_fraction=0.1, seed=0)
    texts = [p.text for p in splits.train + splits.validation + splits.test]
    assert len(texts) == len(set(texts)) == 40
    merged = next(p for p in splits.train + splits.validation + splits.test if p.text == "product number 5")
    assert merged.attributes == {"Brand": "B5", "Color": None, "Size": "L"}


def test_nested_train_subsets() -> None:
    splits = make_splits(_products(200), test_fraction=0.2, validation_fraction=0.1, seed=0)
    for n in (10, 20, 35, 70):
        small, large = splits.train_subset(n), splits.train_subset(2 * n)
        assert len(small) == n and small == large[:n]
        assert {p.text for p in small} <= {p.text for p in large}
    assert splits.train_subset(0) == []
    with pytest.raises(ForetuneError, match=r"asked for 141 training products but the training split holds 140"):
        splits.train_subset(141)


def test_too_few_products() -> None:
    with pytest.raises(ForetuneError, match=r"at least 3 distinct products"):
        make_splits(_products(2), test_fraction=0.2, validation_fraction=0.1, seed=0)
    with pytest.raises(ForetuneError, match=r"4 products are too few .* use more data or smaller fractions"):
        make_splits(_products(4), test_fraction=0.5, validation_fraction=0.4, seed=0)


def test_split_counts_take_one_per_nonzero_share_and_refuse_no_training() -> None:
    assert split_counts(10, 0.2, 0.1, items="products", fix="-") == (2, 1)
    assert split_counts(10, 0.01, 0.0, items="products", fix="-") == (1, 0)  # a share above 0 takes one item
    assert split_counts(10, 0.0, 0.0, items="prompts", fix="-") == (0, 0)  # a fixed file replaces a 0 share
    with pytest.raises(ForetuneError, match=r"2 distinct prompts are too few for test_fraction=0.5 .*data.test_source"):
        split_by_key(["a", "b", "a"], str, test_fraction=0.5, validation_fraction=0.5)


# -- load_splits ----------------------------------------------------------------------------------


def test_load_splits_train_size_and_attributes(tmp_path: Path) -> None:
    labels = [{"Brand": f"B{i}", **({"Color": "Red"} if i % 2 else {})} for i in range(60)]
    rows = [{"text": f"item {i}", "attributes": attributes} for i, attributes in enumerate(labels)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    full = load_splits(DataConfig(source=str(path), seed=7))
    cut = load_splits(DataConfig(source=str(path), seed=7, train_size=10))
    assert cut.train == full.train[:10] and cut.test == full.test and cut.validation == full.validation
    colors = load_splits(DataConfig(source=str(path), seed=7, attributes=["Color"]))
    assert all(list(p.attributes) == ["Color"] for p in colors.train + colors.test)
    assert [p.text for p in colors.train] == [p.text for p in full.train if "Color" in p.attributes]
    with pytest.raises(ForetuneError, match=r"asked for 500 training products but the training split holds 42"):
        load_splits(DataConfig(source=str(path), train_size=500))
    unknown = r"data.attributes names 'Colour', not found .*most common attributes there: Brand, Color"
    with pytest.raises(ForetuneError, match=unknown):
        load_splits(DataConfig(source=str(path), attributes=["Colour"]))


def test_dedupe_is_idempotent() -> None:
    products = _products(10) + _products(3)
    once = dedupe_products(products)
    assert len(once) == 10 and dedupe_products(once) == once
    assert isinstance(make_splits(once, test_fraction=0.2, validation_fraction=0.1, seed=0), Splits)
