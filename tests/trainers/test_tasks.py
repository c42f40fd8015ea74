"""Prompts, targets, answer parsing and scoring of `AttributeExtractionTask`, by hand-made examples."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from foretune.config import ExperimentConfig
from foretune.trainers.data import Product, generate_products
from foretune.trainers.tasks import AttributeExtractionTask, grade, parse_answer, score_frame

SHOE = Product(
    "Trevlo Men's Running Shoes Navy Blue Size 10",
    {"Brand": "Trevlo", "Color": "Navy Blue", "Size": "10", "Material": None},
)
MUG = Product('Plain "Diner" Mug 350ml', {"Brand": None, "Capacity": "350ml"})


# -- prompts and targets --------------------------------------------------------------------------


def test_prompt_and_answer() -> None:
    task = AttributeExtractionTask()
    prompt = task.prompt(SHOE)
    assert SHOE.text in prompt and "Attributes: Brand, Color, Size, Material" in prompt
    assert prompt.endswith("\n")
    answer = task.answer(SHOE)
    assert answer == '{"Brand": "Trevlo", "Color": "Navy Blue", "Size": "10", "Material": null}'
    assert json.loads(answer) == SHOE.attributes and answer == json.dumps(SHOE.attributes)
    assert task.parse_answer(answer) == SHOE.attributes


def test_answer_spans_cover_each_value_token() -> None:
    task = AttributeExtractionTask()
    unicode = Product("Ünïcode Ärmel", {"Größe": "Ärmel", "Farbe": None})
    for product in [SHOE, MUG, unicode, *generate_products(30, seed=2)]:
        answer = task.answer(product)
        spans = task.answer_spans(product)
        assert [name for name, _, _ in spans] == task.attributes_for(product)
        for name, start, end in spans:
            assert json.loads(answer[start:end]) == product.attributes[name]
        assert all(a[2] <= b[1] for a, b in itertools.pairwise(spans))
    spans = dict((n, (s, e)) for n, s, e in task.answer_spans(SHOE))
    answer = task.answer(SHOE)
    assert answer[slice(*spans["Color"])] == '"Navy Blue"' and answer[slice(*spans["Material"])] == "null"


def test_attributes_filter_and_order() -> None:
    task = AttributeExtractionTask(["Size", "Brand", "Weight"])
    assert task.attributes_for(SHOE) == ["Size", "Brand"]  # only what the record labels, in the task's order
    assert task.answer(SHOE) == '{"Size": "10", "Brand": "Trevlo"}'
    assert AttributeExtractionTask().attributes_for(MUG) == ["Brand", "Capacity"]


def test_chat_messages() -> None:
    task = AttributeExtractionTask(prompt_style="chat")
    messages = task.chat_messages(SHOE)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert SHOE.text in messages[1]["content"]
    assert '{"Brand": ?, "Color": ?, "Size": ?, "Material": ?}' in messages[1]["content"]


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="prompt_style must be one of .* got 'fancy'"):
        AttributeExtractionTask(prompt_style="fancy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one attribute"):
        AttributeExtractionTask([])
    with pytest.raises(ValueError, match="list of non-empty names, got 'Brand'"):
        AttributeExtractionTask("Brand")
    config = ExperimentConfig.model_validate({"data": {"attributes": ["Brand"]}, "task": {"prompt_style": "chat"}})
    task = AttributeExtractionTask.from_config(config)
    assert task.attributes == ["Brand"] and task.prompt_style == "chat"


# -- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Sure! {"Brand": "Nike", "Color": null} hope it helps {"x": 1}', {"Brand": "Nike", "Color": None}),
        ('```json\n{"Brand":"Nike"}\n```<|im_end|>', {"Brand": "Nike"}),
        ("{'Brand': 'Nike', 'Color': None}", {"Brand": "Nike", "Color": None}),
        ("{'Gender': 'Men's', 'Color': null}", {"Gender": "Men's", "Color": None}),
        ('{"Brand": "Nike", "Color": "Red",}', {"Brand": "Nike", "Color": "Red"}),
        ('{"Brand": "Nike"\n"Color": "Red"}', {"Brand": "Nike", "Color": "Red"}),  # missing comma
        ('{"Brand": "Nike", "Color": "Bl', {"Brand": "Nike", "Color": "Bl"}),  # cut off mid-value
        ('{"Brand": "Nike", "Col', {"Brand": "Nike"}),  # cut off mid-key
        ('{"Brand": "Nike", "Color": nu', {"Brand": "Nike", "Color": None}),
        ('{"A": "null", "B": "None", "C": "n/a", "D": "", "E": "  N/A "}', dict.fromkeys("ABCDE")),
        ('{"Size": 42, "Weight": 1.5, "Tags": ["x", "y"]}', {"Size": "42", "Weight": "1.5", "Tags": "x"}),
        ('{"Brand": "  Acme   Co "}', {"Brand": "Acme Co"}),
        ('{"Brand": "Brace } inside"}', {"Brand": "Brace } inside"}),
        ('{"product": {"Brand": "Nike", "Color": "Red"}, "Color": null}', {"Color": None, "Brand": "Nike"}),
        ('{\n  "product": {\n    "Brand": "Nike",\n    "Size": "4', {"Brand": "Nike", "Size": "4"}),
        ("no JSON at all", {}),
        ("", {}),
        ("{", {}),
        ("}{", {}),
    ],
)
def test_parse_answer_tolerates_junk(text: str, expected: dict[str, str | None]) -> None:
    assert parse_answer(text) == expected


def test_parse_answer_never_raises_on_odd_input() -> None:
    for odd in [None, 42, b"{}", "{" * 5000, '{"a": "' + "\\" * 101, "{'a': " * 300]:
        assert isinstance(parse_answer(odd), dict)  # type: ignore[arg-type]


# -- scoring --------------------------------------------------------------------------------------


def test_score_by_hand() -> None:
    task = AttributeExtractionTask()
    products = [
        Product("p1", {"Brand": "Nike", "Color": "Red", "Size": None}),
        Product("p2", {"Brand": "Acme", "Color": None, "Size": "XL"}),
        Product("p3", {"Brand": "Zed", "Color": "Navy  Blue"}),
    ]
    predictions = [
        {"brand": "NIKE", "COLOR": "Red", "size_": None},  # all right (key and value case ignored)
        {"Brand": "Acme", "Color": "Blue", "Size": "L"},  # value on a null label, wrong size
        parse_answer('Answer: {"Brand": "Zedd", "Color": "navy blue "} junk'),  # wrong brand, right colour
    ]
    metrics = task.score(products, predictions)
    # per attribute: Brand 2/3, Color 2/2, Size 0/1 -> macro (2/3 + 1 + 0) / 3; micro 4/6
    assert metrics["acc/Brand"] == pytest.approx(2 / 3)
    assert metrics["acc/Color"] == 1.0 and metrics["acc/Size"] == 0.0
    assert (metrics["labels/Brand"], metrics["labels/Color"], metrics["labels/Size"]) == (3, 2, 1)
    assert metrics["accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert metrics["accuracy_micro"] == pytest.approx(4 / 6)
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert metrics["null_fp_rate"] == pytest.approx(1 / 2)  # p2 Color got a value; p1 Size right
    # TP 4; FP: Color on null, wrong Size, wrong Brand = 3; FN 0
    assert metrics["precision"] == pytest.approx(4 / 7) and metrics["recall"] == 1.0
    assert metrics["f1"] == pytest.approx(2 * (4 / 7) / (4 / 7 + 1))
    assert metrics["n_products"] == 3 and metrics["n_values"] == 6


def test_missing_predictions_and_alternatives() -> None:
    task = AttributeExtractionTask()
    products = [
        Product("cap", {"Style": "Snapback", "Color": None}, alternatives={"Style": ("Snap Back", None)}),
        Product("bag", {"Brand": "Zed"}),
    ]
    metrics = task.score(products, [{"Style": "snap back"}, {}])
    assert metrics["acc/Style"] == 1.0 and metrics["acc/Brand"] == 0.0
    assert metrics["null_fp_rate"] == 0.0 and metrics["exact_match"] == 0.5
    assert metrics["recall"] == pytest.approx(1 / 2)  # the missing brand is a false negative
    assert task.score(products, [{}, {"Brand": "Zed"}])["acc/Style"] == 1.0  # "absent" accepted for this label


def test_score_edge_cases() -> None:
    task = AttributeExtractionTask()
    only_nulls = [Product("x", {"Brand": None})]
    metrics = task.score(only_nulls, [{"Brand": None}])
    assert math.isnan(metrics["accuracy"]) and metrics["exact_match"] == 1.0 and metrics["null_fp_rate"] == 0.0
    with pytest.raises(ValueError, match="got 1 predictions for 2 products"):
        task.score([SHOE, MUG], [{}])
    many = [Product(f"p{i}", {f"A{j}": "v" for j in range(30)}) for i in range(2)]
    assert sum(k.startswith("acc/") for k in task.score(many, [{}, {}])) == 20
    assert sum(k.startswith("acc/") for k in task.score(many, [{}, {}], per_attribute_limit=None)) == 30


def test_perfect_and_empty_predictions_on_synthetic() -> None:
    task = AttributeExtractionTask()
    products = generate_products(60, seed=1)
    perfect = [task.parse_answer(task.answer(p)) for p in products]
    metrics = task.score(products, perfect)
    assert metrics["accuracy"] == metrics["exact_match"] == metrics["f1"] == 1.0 and metrics["null_fp_rate"] == 0.0
    nothing = task.score(products, [{} for _ in products])
    assert nothing["accuracy"] == 0.0 and nothing["null_fp_rate"] == 0.0 and nothing["exact_match"] < 0.05


def test_score_frame() -> None:
    task = AttributeExtractionTask()
    products = [Product("p1", {"Brand": "Nike", "Size": None}), Product("p2", {"Brand": "Acme", "Size": "XL"})]
    frame = task.score_frame(products, [{"Brand": "nike", "Size": "M"}, {"Brand": "Zed", "Size": "xl"}])
    assert list(frame["attribute"]) == ["Brand", "Size"]
    brand, size = frame.to_dict(orient="records")
    assert (brand["values"], brand["correct_values"], brand["accuracy"]) == (2, 1, 0.5)
    assert (size["nulls"], size["null_false_positives"], size["null_fp_rate"], size["accuracy"]) == (1, 1, 1.0, 1.0)
    assert score_frame(grade(task, [], [])).empty


def test_data_task_and_replay_modules_import_neither_torch_nor_ray(run_without) -> None:
    """Data, tasks and replay stay light: predictors and the search import them without torch; no trainer imports
    Ray or Optuna."""
    code = (
        "import foretune.trainers.data, foretune.trainers.tasks, foretune.trainers.replay\n"
        "from foretune.trainers.tasks import AttributeExtractionTask\n"
        "from foretune.trainers.data import generate_products\n"
        "p = generate_products(5)\n"
        "t = AttributeExtractionTask()\n"
        "print(t.score(p, [t.parse_answer(t.answer(x)) for x in p])['accuracy'])\n"
    )
    result = run_without(code, blocked=("torch", "transformers", "peft", "ray", "optuna"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.0"
