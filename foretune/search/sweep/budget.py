"""Each sweep run's step budget, growing with n: a fixed budget would flatten the curve by itself.

With `train.max_steps: 20` and batch 4 every run sees at most 80 examples, so no size past 80 can
show a gain and the sweep would report a plateau that is only the step budget. So a run at size n
trains `sweep.epochs` passes over its n examples; with `sweep.epochs: null` every run keeps the
`train:` budget, which must then cover the largest size at least once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from foretune.errors import ForetuneError


def run_steps(config, n: int) -> int:
    """Optimizer steps of the sweep's run at size n > 0 (the trainer's epochs-to-steps rule)."""
    epochs = config.sweep.epochs if config.sweep.epochs is not None else config.train.epochs
    if epochs is None:
        return int(config.train.max_steps)
    return max(1, math.ceil(epochs * math.ceil(max(n, 1) / config.train.batch_size)))


def check_budget(config, sizes: Sequence[int]) -> None:
    """ForetuneError when a fixed step budget cannot show the largest size every example once."""
    largest = max(sizes, default=0)
    steps, batch = run_steps(config, largest), config.train.batch_size
    if largest and steps * batch < largest:
        raise ForetuneError(
            f"sweep: train.max_steps={steps} x train.batch_size={batch} = {steps * batch} examples per run cannot "
            f"cover n = {largest} (every size past {steps * batch} would look saturated by the budget alone); "
            f"set sweep.epochs (e.g. --set sweep.epochs=2, steps grow with n) or train.max_steps >= "
            f"{math.ceil(largest / batch)}"
        )


def describe_budget(config, sizes: Sequence[int]) -> str:
    """One line: the budget rule and the planned steps at each size n > 0."""
    planned = ", ".join(f"n={n}: {run_steps(config, n)}" for n in sizes if n > 0)
    if config.sweep.epochs is not None:
        rule = f"sweep.epochs={config.sweep.epochs:g}"
    elif config.train.epochs is not None:
        rule = f"train.epochs={config.train.epochs:g}"
    else:
        rule = f"train.max_steps={config.train.max_steps} at every size"
    return f"budget per run ({rule}, batch {config.train.batch_size}): optimizer steps {planned}"
