"""The lenient parser of a model's answer: the first JSON object in free text, as far as it got.

Small models wrap the object in prose or code fences, use Python literals or single quotes, forget
commas, and get cut off by the token cap; `json_repair` reads all of these. What is ours is the
answer's shape: flat ``{attribute: value or None}`` with the spellings of "absent" as None.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import json_repair

from foretune.trainers.data import NULL_STRINGS

__all__ = ["clean_answer_value", "parse_answer"]

# A null cut off by the token cap ('"Color": nu') would be repaired into the string "nu".
_CUT_NULL = re.compile(r"(:\s*)(?:n|nu|nul)\s*$")


def clean_answer_value(value: Any) -> str | None:
    """A predicted value as a string, or None for every spelling of "absent" (a list keeps its first value)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        value = int(value) if value.is_integer() else value
    if isinstance(value, (list, tuple)):
        return next((c for c in map(clean_answer_value, value) if c is not None), None)
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = " ".join(str(value).split())
    return None if text.casefold() in NULL_STRINGS else text


def _as_answer(obj: Mapping[Any, Any]) -> dict[str, str | None]:
    answer = {
        " ".join(str(k).split()): clean_answer_value(v)
        for k, v in obj.items()
        if str(k).strip() and not isinstance(v, Mapping)
    }
    # Small models like to wrap the answer ({"product": {"Brand": ...}}): nested objects are
    # flattened into it, after the top-level keys.
    for value in obj.values():
        if isinstance(value, Mapping):
            for key, nested in _as_answer(value).items():
                answer.setdefault(key, nested)
    return answer


def parse_answer(text: str) -> dict[str, str | None]:
    """The first JSON object in `text` as ``{attribute: value or None}``; never raises.

    Tolerates junk before and after the object, single quotes and Python literals, trailing or
    missing commas, and output cut off mid-object (the complete pairs are kept, a cut value as far
    as it got). "null", "None", "n/a" and "" mean None; numbers become strings; a list keeps its
    first value. Text with no object gives ``{}``.
    """
    try:
        if not isinstance(text, str):
            return {}
        start = text.find("{")
        if start < 0:
            return {}
        repaired = json_repair.loads(_CUT_NULL.sub(r"\1null", text[start:]))
        if isinstance(repaired, list):  # several objects (an answer, then a made-up example): the first counts
            repaired = next((item for item in repaired if isinstance(item, dict)), {})
        return _as_answer(repaired) if isinstance(repaired, dict) else {}
    except Exception:  # a parser must never take a trial down
        return {}
