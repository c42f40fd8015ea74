"""The `search:` and `early_stage:` sections: the space, objectives, and the early-stage rule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from foretune.config.costs import Objective
from foretune.config.sections import (
    DataConfig,
    ModelConfig,
    TrainConfig,
    _Section,
    check_field_path,
    space_key_path,
)
from foretune.keys import Mode, PredictorName


class ParamSpec(_Section):
    type: Literal["float", "log_float", "int", "log_int", "categorical"] = Field(
        ..., description="Distribution: float, log_float, int, log_int or categorical."
    )
    low: float | None = Field(None, description="Lower bound (numeric types).")
    high: float | None = Field(None, description="Upper bound (numeric types).")
    step: float | None = Field(None, description="Grid step (float/int; not with log).")
    choices: list[Any] | None = Field(None, description="Values of a categorical parameter.")

    @model_validator(mode="after")
    def _well_formed(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty `choices` list")
            if self.step is not None:
                raise ValueError("a categorical parameter takes no `step` (list every value in `choices`)")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs `low` and `high`")
        if not self.low < self.high:
            raise ValueError(f"empty range: low={self.low:g} must be below high={self.high:g}")
        if self.type.startswith("log") and self.low <= 0:
            raise ValueError(f"a {self.type} parameter needs low > 0, got {self.low:g}")
        # Optuna refuses a step with log or <= 0 when the first trial is asked for, after the study was created.
        if self.step is not None and self.type.startswith("log"):
            raise ValueError(f"a {self.type} parameter takes no `step` (Optuna samples it on a log scale)")
        if self.step is not None and not (self.step > 0 and (self.type == "float" or self.step == int(self.step))):
            raise ValueError(f"step={self.step:g}: give a positive {'number' if self.type == 'float' else 'integer'}")
        return self


def _default_space() -> dict[str, ParamSpec]:
    return {
        "learning_rate": ParamSpec(type="log_float", low=1e-4, high=3e-3),
        "lora.r": ParamSpec(type="categorical", choices=[4, 8, 16]),
        "lora.alpha": ParamSpec(type="categorical", choices=[8, 16, 32]),
        "warmup_ratio": ParamSpec(type="float", low=0.0, high=0.2),
    }


class SearchConfig(_Section):
    space: dict[str, ParamSpec] = Field(
        default_factory=_default_space,
        description="Search space; keys are `train` fields as dotted paths (learning_rate, lora.r, ...), "
        "or `model.*` (model.name: a categorical of models) and `data.train_size`.",
    )
    trials: int = Field(10, ge=1, description="Number of trials (resumed studies count finished ones).")
    max_concurrent_trials: int = Field(
        2,
        ge=1,
        description="Trials running at once. At 1 a search repeats trial for trial with the same seed (the sampler "
        "and each verdict see every earlier trial's end); side by side, which trial reports first can change what "
        "they see, and so the trials that follow.",
    )
    reuse_workers: bool | None = Field(
        None,
        description="Run a new trial in a finished trial's Ray worker process (Tune's reuse_actors): it skips the "
        "process start and imports (~10 s a trial on a CPU). Default: on for the built-in trainer, off for your own "
        "`trainable` (a function that keeps state in module globals would see the last trial's).",
    )
    time_budget_s: float | None = Field(None, gt=0, description="Stop starting trials after this long.")
    metric: str = Field(
        "accuracy",
        description="Metric the search optimizes (reported by the trainer). attribute_extraction's `accuracy` averages "
        "over attributes: with many attributes of few labels each among the validation products, `accuracy_micro` or "
        "`f1` rank runs far less noisily (real products: benchmarks/results/verdict.md, round 15).",
    )
    mode: Mode = Field("max", description="Maximize or minimize `metric`.")
    metric_range: tuple[float | None, float | None] | Literal["auto", "none"] = Field(
        "auto",
        description="The range of `metric`, e.g. [0, 1] or [0, 100] (null for an open side): predicted finals and "
        "their intervals are clipped into it (a sweep's asymptote too). 'auto': read from the values seen: the "
        "built-in task's range of the metric's name while every value fits it (its shares 0 to 1, its losses 0 and "
        "up), else as `foretune rank` reads it: [0, 1] for a score to maximize with every value in [0, 1], [0, 100] "
        "for one named as a share (val_acc, f1, bleu) with every value in [0, 100], 0 and up for a loss or an "
        "error rate named so (val_loss, val_mse, val_error), [0, 1] for one to minimize named neither with every "
        "value in [0, 1] (read as an error rate). 'none': never clipped. A metric to minimize named neither a loss "
        "nor an error rate, given an upper end ([0, 100]), is read as an error rate while its values stay within it.",
    )
    seed: int = Field(0, ge=0, lt=2**31, description="Seed of the TPE sampler.")
    n_startup_trials: int = Field(4, ge=0, description="Random trials before TPE takes over.")
    trainable: str | None = Field(
        None,
        description="Your own training function as 'package.module:function', called as fn(params, reporter) "
        "in each trial; the space keys are then its parameter names, given to it as they are.",
    )
    objectives: list[Objective] | None = Field(
        None,
        description="Several objectives, e.g. [{metric: accuracy, mode: max}, {metric: cost.device_hours, mode: min}]: "
        "a multi-objective study with a Pareto front; the first one sets `metric` and `mode`.",
    )

    @property
    def given_range(self) -> tuple[float | None, float | None] | None:
        """`metric_range` where it was given by hand (LOW, HIGH); None for "auto" and "none"."""
        return self.metric_range if isinstance(self.metric_range, tuple) else None

    @property
    def reuses_workers(self) -> bool:
        """`reuse_workers`, or its default: only the built-in trainer, whose state lives in the trial's own objects."""
        return self.reuse_workers if self.reuse_workers is not None else self.trainable is None

    @model_validator(mode="before")
    @classmethod
    def _first_objective_is_the_metric(cls, data: Any) -> Any:
        objectives = data.get("objectives") if isinstance(data, dict) else None
        if objectives and isinstance(objectives, list):
            first = objectives[0]
            first = first if isinstance(first, dict) else getattr(first, "model_dump", lambda: {})()
            data = {**data, "metric": first.get("metric", data.get("metric")), "mode": first.get("mode", "max")}
        return data

    @model_validator(mode="after")
    def _space_keys_are_train_fields(self) -> SearchConfig:
        for key, spec in self.space.items() if self.trainable is None else ():  # a function takes any names
            path = space_key_path(key).split(".")
            if path[0] == "data" and path[1:] != ["train_size"]:
                raise ValueError(f"search.space.{key}: of the data section only data.train_size can be searched")
            if path == ["model", "name"] and spec.type != "categorical":
                raise ValueError(f"search.space.{key}: give the models as a categorical, e.g. choices: [a, b]")
            sections = {"train": TrainConfig, "model": ModelConfig, "data": DataConfig}
            check_field_path(sections[path[0]], path[1:], f"search.space.{key}")
        low, high = self.given_range or (None, None)
        if low is not None and high is not None and not low < high:
            raise ValueError(f"search.metric_range: low={low:g} must be below high={high:g}, e.g. [0, 100]")
        if self.objectives is not None:
            metrics = [o.metric for o in self.objectives]
            if not metrics or len(set(metrics)) < len(metrics):
                raise ValueError(f"search.objectives: give distinct metrics, got {metrics}")
        return self


class RungSpec(_Section):
    fraction: float = Field(..., gt=0, lt=1, description="Budget fraction of this rung.")
    keep: float = Field(
        ...,
        gt=0,
        description="Which of the trials that reached this rung continue: a share (<= 1), or a whole number > 1 "
        "(the top `keep` by predicted final).",
    )
    use_upper_bound: bool | None = Field(
        None,
        description="Rank by the optimistic end of the 80% interval (true) or the predicted final (false) at this "
        "rung; unset: as `early_stage.use_upper_bound`.",
    )

    @model_validator(mode="after")
    def _share_or_count(self) -> RungSpec:
        if self.keep > 1 and self.keep != int(self.keep):
            raise ValueError(f"keep={self.keep:g}: give a share in (0, 1] or a whole number of trials")
        return self


# Settings only the probability rule reads (`foretune.search.rule.make_rule`); `rank_cut` has its own check.
PROBABILITY_ONLY = ("k", "min_probability", "stop_from", "conformal", "spare_rising", "best_so_far")


class EarlyStageConfig(_Section):
    enabled: bool = Field(True, description="Prune trials at `fraction` of their budget.")
    fraction: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Budget fraction at which a trial is judged (0.1 with keep 0.2: benchmarks/results/search.md).",
    )
    predictor: PredictorName = Field("auto", description="auto, snapshot, curve or learned.")
    rule: Literal["probability", "top_k", "quantile"] = Field(
        "quantile",
        description="probability: at every evaluation from `fraction` on, stop a trial when the calibrated "
        "probability that its final beats the k-th best final so far is below `min_probability`; "
        "top_k / quantile: judge once at `fraction`, keep the top `keep` trials / share by predicted final.",
    )
    k: int = Field(1, ge=1, description="probability rule: compare with the k-th best final so far (1 = the best).")
    min_probability: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="probability rule: stop a trial whose probability is below this (0.2 was chosen on scan-bench's "
        "tuning seeds; see benchmarks/results/search.md for what it costs and loses).",
    )
    stop_from: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="probability rule: judge at every evaluation from this budget fraction on (the early verdict: "
        "early score, predicted final, rank, is still taken at `fraction`).",
    )
    conformal: bool = Field(
        False,
        description="probability rule: with n finished runs no probability goes below 1 / (n + 1) (a new run's "
        "error may lie beyond every error measured so far), so few finished runs stop nothing on a thin guess.",
    )
    spare_rising: bool = Field(
        False,
        description="probability rule: never stop a trial that gained more since its previous evaluation than "
        "the run it must beat gained over the same stretch of budget.",
    )
    best_so_far: bool = Field(
        False,
        description="probability rule: judge a trial on its curve up to its best evaluation so far, so that one "
        "bad evaluation of a noisy metric never stops it.",
    )
    rank_cut: float | None = Field(
        None,
        gt=0,
        le=1,
        description="probability rule: at the early verdict (`fraction`) also keep only this top share of the "
        "trials judged so far by predicted final (one successive-halving rung before the probability takes over).",
    )
    keep: float = Field(
        0.2,
        gt=0,
        description="top_k: how many; quantile: which share of the trials judged so far (ranked by predicted "
        "final) continue; 0.2 = one successive-halving rung with reduction factor 5.",
    )
    rungs: list[RungSpec] = Field(
        default_factory=list,
        description="Rank rules: further successive-halving rungs after the first (`fraction`, `keep`), e.g. "
        "[{fraction: 0.3, keep: 2}]: at each rung's fraction a trial still running continues only if its predicted "
        "final ranks in that rung's share (keep <= 1) or top number (keep > 1) of every trial that reached it "
        "(benchmarks/results/search.md, round 7: top 3 at 30% with stop_repeats spent 26-32% of the compute of no "
        "pruning instead of 42-52%, but kept the best run in 75-100% of searches instead of 85-95%).",
    )
    use_upper_bound: bool = Field(
        False,
        description="Rank a trial by the optimistic end of its interval instead of its predicted final, at every "
        "rung whose own `use_upper_bound` is unset, and at the probability rule's `rank_cut` (keeps more trials: "
        "with rungs [{fraction: 0.3, keep: 3}] and stop_repeats it kept the best run in 95-100% of searches on every "
        "benchmark set, at about the default's compute; benchmarks/results/search.md, rounds 7-8).",
    )
    grace_trials: int = Field(3, ge=0, description="The first trials always run to completion to calibrate.")
    stop_repeats: bool = Field(
        False,
        description="Stop a trial of the same config as a finished trial whose every evaluation so far (at least "
        "two, not all one value; its other metrics too) equals that trial's: a deterministic trainer re-running a "
        "run already run to the end, so its final is known (benchmarks/results/search.md: why it is not the default).",
    )
    audit_every: int = Field(
        0,
        ge=0,
        description="Check the verdict inside the study: one in every `audit_every` verdicts that would stop a "
        "trial is overridden (the first drawn at random, seeded by search.seed) and the trial runs to its end "
        "anyway, a fair sample of what pruning stops; the report says whether their finals fell inside their 80% "
        "intervals and whether pruning would have lost the best. Costs about 1 / audit_every of what pruning "
        "saves; 0 = off, 1 = every trial runs to its end, predicted but never stopped.",
    )
    history: bool = Field(
        True,
        description="Learn also from the finished runs of earlier studies in the same storage that share the "
        "task, model and metric (the report names them); intervals are calibrated on this study's own finished "
        "runs, so before 3 of them finish the earlier runs only rank (no final predicted).",
    )

    @model_validator(mode="after")
    def _keep_fits_the_rule(self) -> EarlyStageConfig:
        # The rule checks this when the search builds it: after the study was created, as a traceback.
        if self.rule == "quantile" and self.keep > 1:
            raise ValueError(
                f"early_stage.keep={self.keep:g}: the quantile rule keeps a share in (0, 1] of the trials judged "
                "(0.2 = the top fifth); for a number of trials set rule: top_k"
            )
        if self.rule == "top_k" and self.keep != int(self.keep):
            raise ValueError(f"early_stage.keep={self.keep:g}: the top_k rule keeps a whole number of trials (>= 1)")
        if self.rank_cut is not None and self.rule != "probability":  # it would be ignored
            raise ValueError(
                f"early_stage.rank_cut is a cut of the probability rule; the {self.rule} rule cuts by "
                f"early_stage.keep ({self.keep:g}): remove rank_cut, or set rule: probability"
            )
        if self.rule != "probability" and (changed := self._probability_settings_changed()):
            # A rank rule would run without them; the user meant the probability rule or set them by mistake.
            settings = ", ".join(f"{name}={str(value).lower()}" for name, value in changed.items())
            raise ValueError(
                f"early_stage.{settings}: {'settings' if len(changed) > 1 else 'a setting'} of the probability rule, "
                f"which the {self.rule} rule ignores (it keeps the top early_stage.keep, {self.keep:g}): remove "
                f"{'them' if len(changed) > 1 else 'it'}, or set rule: probability"
            )
        return self

    def _probability_settings_changed(self) -> dict[str, object]:
        """The probability rule's own settings that differ from their defaults (a full dump, e.g. a best.yaml,
        carries the defaults, so only a value someone chose counts)."""
        fields = type(self).model_fields
        return {name: getattr(self, name) for name in PROBABILITY_ONLY if getattr(self, name) != fields[name].default}

    @model_validator(mode="after")
    def _rungs_follow_the_first(self) -> EarlyStageConfig:
        if not self.rungs:
            return self
        if self.rule == "probability":
            raise ValueError(
                "early_stage.rungs are for the rank rules (quantile, top_k): remove them with rule: probability "
                "(its `rank_cut` is its one rank cut)"
            )
        fractions = [self.fraction] + [r.fraction for r in self.rungs]
        if any(b <= a for a, b in zip(fractions, fractions[1:], strict=False)):
            raise ValueError(
                f"early_stage.rungs: each rung's fraction must lie past the one before (first: early_stage.fraction "
                f"{self.fraction:g}), got {fractions[1:]}; reorder them, or set rungs: [] for one judgement"
            )
        return self
