"""The sizes a sweep may run: a doubling grid, or a list the user gives."""

from __future__ import annotations

from collections.abc import Iterable

from foretune.errors import ForetuneError


def geometric_sizes(available: int, *, start: int = 50, factor: float = 2.0) -> list[int]:
    """0, start, start*factor, ... up to (and always including) `available`."""
    if available < 1:
        raise ForetuneError(f"no training data to sweep over (available = {available})")
    sizes = [0]
    n = float(min(start, available))
    while n < available:
        sizes.append(int(round(n)))
        n *= factor
    sizes.append(int(available))
    return sorted(set(sizes))


def parse_sizes(text: str, *, available: int) -> list[int]:
    """'0,50,100' -> [0, 50, 100]; each a non-negative integer no larger than `available`."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ForetuneError(
                f"--sizes: '{part}' is not a number; give integers, e.g. --sizes 0,50,100,200"
            ) from None
        if value < 0 or value != int(value):
            raise ForetuneError(f"--sizes: {part} is not a non-negative integer sample count")
        sizes += check_sizes([int(value)], available=available, what="--sizes")
    if not sizes:
        raise ForetuneError("--sizes: no sizes given; e.g. --sizes 0,50,100,200,400")
    return sorted(set(sizes))


def check_sizes(sizes: Iterable[int], *, available: int, what: str = "sweep.sizes") -> list[int]:
    """`sizes` sorted and without repeats; an error naming `what` when one exceeds the data available."""
    sizes = sorted(set(int(n) for n in sizes))
    for n in sizes:
        if n > available:
            raise ForetuneError(
                f"{what}: {n} is larger than the {available} training products available; "
                f"use sizes up to {available} or more data"
            )
    return sizes
