"""A metric of your own for `task.metric_fn: configs.examples.my_metrics:first_word` (see README, "Your metric")."""


def first_word(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Share of answers whose first word is the reference's first word (casefolded)."""

    def head(text: str) -> str:
        return (text.split() or [""])[0].casefold()

    right = sum(head(p) == head(r) for p, r in zip(predictions, references, strict=True))
    return {"first_word": right / len(references)}
