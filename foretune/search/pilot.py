"""The pilot of `foretune estimate`: a few optimizer steps and one evaluation of each model, timed.

A pilot run is a real LoRA fine-tune of the config (same data, batch, sequence length, device and
torch threads as one trial) cut to `steps` optimizer steps and one validation evaluation. It times
what a trial spends its time on; `foretune.search.estimate` turns the timings into the cost of a
search and of a sweep. The first step is timed apart from the others: it carries warm-up
(allocations, on a GPU kernel compilation) that later steps do not pay. Nothing is written to disk
except the model cache (`ensure_model` converts a model once, as a search would).

Each model's pilot runs in a fresh process started the way Ray starts a trial's: its own imports
(timed), OMP_NUM_THREADS set to the trial's CPUs, and Ray's worker niceness, so that on a machine
shared with other work the pilot gets the share of the CPUs a trial will get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError

PILOT_STEPS = 5  # the first is warm-up; the other four give the per-step time
# Ray's raylet starts worker processes (each trial) this much nicer than itself (its `worker_niceness`).
RAY_WORKER_NICENESS = 15
_EVENT = "@@pilot "  # marks the child's progress lines on its stderr (libraries write there too)
EventSink = Callable[[str], None]


@dataclass(frozen=True)
class PilotTiming:
    """What the pilot measured for one model (seconds)."""

    model: str
    device: str  # "cpu" or "cuda"
    threads: int  # torch CPU threads, as a trial gets them
    import_seconds: float  # a fresh process: start and import the trainer (torch, transformers, peft)
    prepare_seconds: float  # converting / caching the model (`ensure_model`): once per model
    start_seconds: float  # run start to end of its first step, less one step: data, model load, LoRA, warm-up
    first_step_seconds: float  # the first optimizer step (warm-up included; not used for the per-step time)
    step_seconds: float  # mean of the later steps
    steps_timed: int  # how many steps `step_seconds` averages
    cpu_share: float  # CPU time / (wall time x threads) over those steps: about 1 unless the machine is busy
    eval_products: int
    eval_seconds: float  # one validation evaluation after the pilot's steps: answers as long as an untrained model's
    answer_tokens: int  # longest reference answer (tokens, with its end) of the evaluated products
    trained_eval_seconds: float  # the same evaluation with answers capped at `answer_tokens`, as a trained model's
    final_eval_products: int  # validation products scored at the last step (data.max_final_eval_samples)
    final_eval_seconds: float  # that final evaluation of a trained model: `trained_eval_seconds` scaled per product
    # (only its generation where its eval loss stays on the earlier products)
    final_loss_products: int  # products of the final's eval loss: the earlier evaluations' where the trainer keeps it
    loss_eval_seconds: float  # the eval loss's teacher-forced pass alone on `eval_products` (0: not timed, not needed)
    test_products: int
    test_eval_seconds: float  # one test evaluation of a trained model (generated answers); 0 when runs skip it
    zero_shot_seconds: float  # one test evaluation of the untuned model (the search's baseline, the sweep's n = 0)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunShape:
    """What one run does: optimizer steps; validation evaluations up to the early fraction (a barely trained
    model: long answers) and after it; whether it ends with a test evaluation; n = 0 of a sweep: only a
    zero-shot test evaluation; `final`: whether its last evaluation is the one at the budget's last step, on
    `data.max_final_eval_samples` products (counted there, not among the early and late ones)."""

    steps: int
    early_evaluations: int
    late_evaluations: int
    test: bool
    zero_shot: bool = False
    final: bool = False


@dataclass(frozen=True)
class Plan:
    """The runs a search and a sweep of the config would make (from the trainer's own budget rules)."""

    full: RunShape  # a trial that runs its whole budget
    pruned: RunShape  # a trial stopped at the early fraction
    sweep: dict[int, RunShape]  # sweep size n -> its run
    available: int  # training products a sweep can use
    rungs: tuple[RunShape, ...] = ()  # a trial stopped at each of early_stage.rungs (the later rungs)


def searched_models(config: ExperimentConfig) -> list[str]:
    """The distinct models a search of `config` trains: `model.name`'s choices when it is searched."""
    spec = config.search.space.get("model.name")
    if spec is None:
        return [config.model.name]
    if spec.type != "categorical" or not spec.choices:
        raise ForetuneError("search.space.model.name: give the models as {type: categorical, choices: [...]}")
    return list(dict.fromkeys(str(choice) for choice in spec.choices))


def swept_models(config: ExperimentConfig) -> list[str]:
    """The models a sweep of `config` trains (a `sweep.models` list where the config has one)."""
    models = getattr(config.sweep, "models", None)
    return list(dict.fromkeys(str(m) for m in models)) if models else [config.model.name]


def trial_threads(config: ExperimentConfig) -> int:
    """The torch threads a trial gets: Ray sets OMP_NUM_THREADS to the trial's CPUs."""
    return config.train.num_threads or max(1, int(config.resources.cpus_per_trial))


def pilot_in_trial_process(config: ExperimentConfig, model: str, *, steps: int, on_event: EventSink) -> PilotTiming:
    """`pilot_model` in a fresh process started as Ray starts a trial's (threads, niceness); its events relayed."""
    payload = json.dumps({"config": config.model_dump(mode="json"), "model": model, "steps": steps})
    env = {**os.environ, "OMP_NUM_THREADS": str(trial_threads(config))}
    started = time.time()
    child = subprocess.Popen(
        [sys.executable, "-m", "foretune.search.pilot"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: os.nice(RAY_WORKER_NICENESS),
    )
    tail: deque[str] = deque(maxlen=20)
    try:
        child.stdin.write(payload)
        child.stdin.close()
        for line in child.stderr:
            if line.startswith(_EVENT):
                on_event(line.removeprefix(_EVENT).rstrip())
            else:
                tail.append(line.rstrip())
        printed = child.stdout.read()
    except BaseException:  # Ctrl-C or SIGTERM to this process alone: the pilot ends with it
        child.kill()
        child.wait()
        raise
    if child.wait() != 0:
        answer = json.loads(printed) if printed.strip().startswith("{") else {}
        if "error" in answer:
            raise ForetuneError(answer["error"])
        raise RuntimeError(f"the pilot of {model} failed:\n" + "\n".join(tail))
    measured = json.loads(printed)
    measured["import_seconds"] = measured.pop("imported_at") - started
    return PilotTiming(**measured)


def _child() -> None:
    """`python -m foretune.search.pilot`: the config, model and steps as JSON on stdin; the timing on stdout."""
    import foretune.trainers.lora  # noqa: F401  (what a trial's process imports first; timed)

    imported_at = time.time()
    request = json.loads(sys.stdin.read())

    def event(message: str) -> None:
        print(_EVENT + message, file=sys.stderr, flush=True)

    try:
        config = ExperimentConfig.model_validate(request["config"])
        timing = pilot_model(config, request["model"], steps=request["steps"], on_event=event)
    except ForetuneError as error:
        print(json.dumps({"error": str(error)}))
        sys.exit(2)
    print(json.dumps({**timing.to_dict(), "imported_at": imported_at, "import_seconds": 0.0}))


class _Clock:
    """Timestamps of each optimizer step and each evaluation report of one pilot run (a Reporter)."""

    def __init__(self, model: str, on_event: EventSink) -> None:
        self.model, self.on_event = model, on_event
        self.started = time.perf_counter()
        self.steps: list[float] = []  # end of step i + 1
        self.cpu: list[float] = []  # this process's CPU time at the end of step i + 1
        self.reports: dict[int, float] = {}  # step -> end of its evaluation

    def on_step(self, step: int, total: int, loss: float) -> None:
        now = time.perf_counter()
        took = now - self.since(step)
        self.steps.append(now)
        self.cpu.append(time.process_time())
        self.on_event(f"{self.model}: step {step}/{total} took {took:.1f} s (loss {loss:.3f})")

    def since(self, step: int) -> float:
        """When `step` began: the end of the step before it, or of that step's evaluation."""
        if step == 1:
            return self.started
        return self.reports.get(step - 1, self.steps[step - 2])

    def report(self, fraction: float, step: int, metrics) -> None:
        self.reports[step] = time.perf_counter()


def pilot_model(config: ExperimentConfig, model: str, *, steps: int, on_event: EventSink) -> PilotTiming:
    """Run the pilot of one model: `steps` optimizer steps, then one validation evaluation."""
    from foretune.trainers.lora import LoraTrainer
    from foretune.trainers.models import ensure_model

    threads = trial_threads(config)
    run = config.with_overrides(
        {
            "model.name": model,
            "train.max_steps": steps,
            "train.epochs": None,
            "train.eval_fractions": [1.0],
            "early_stage.fraction": 0.99,  # evaluated at the last step with 1.0: one evaluation in all
            "train.num_threads": threads,
            # Its one evaluation stands for those up to the early fraction: on max_eval_samples products, not
            # the longer final one the trainer would score at a last step (timed apart, below).
            "data.max_final_eval_samples": config.data.max_eval_samples,
            # Ray hides GPUs from a trial that asks for none: it trains on the CPU.
            **({"train.device": "cpu"} if config.resources.gpus_per_trial == 0 else {}),
        },
        where="the pilot",
    )
    on_event(f"{model}: preparing the model (converted and cached once)")
    started = time.perf_counter()
    ensure_model(run.model)
    prepare = time.perf_counter() - started
    clock = _Clock(model, on_event)
    trainer = LoraTrainer(run, on_step=clock.on_step)
    trainer.fit(clock, evaluate_test=False)
    ended = time.perf_counter()
    if len(clock.steps) != steps or steps not in clock.reports:
        raise RuntimeError(f"the pilot ran {len(clock.steps)} of {steps} steps and {len(clock.reports)} evaluations")
    later = [clock.steps[i] - clock.since(i + 1) for i in range(1, steps)]
    step = sum(later) / len(later)
    # Steps 2.. back to back (no evaluation in between): CPU time over wall time x threads, ~1 on an idle machine.
    cpu_share = (clock.cpu[-1] - clock.cpu[0]) / max((clock.steps[-1] - clock.steps[0]) * threads, 1e-9)
    first = clock.steps[0] - clock.started
    products = trainer.validation_products()  # what the trial scores before its last step
    eval_seconds = ended - clock.steps[-1]
    on_event(f"{model}: {step:.2f} s per step, {eval_seconds:.1f} s per evaluation of {len(products)} products")
    evals = _trained_evaluations(
        run, trainer, products, eval_seconds, on_event, final_cap=config.data.max_final_eval_samples
    )
    return PilotTiming(
        model=model,
        device=trainer.device,
        threads=threads,
        import_seconds=0.0,  # set by the parent process, which saw this one start
        prepare_seconds=prepare,
        start_seconds=max(0.0, first - step),
        first_step_seconds=first,
        step_seconds=step,
        steps_timed=len(later),
        cpu_share=cpu_share,
        eval_products=len(products),
        eval_seconds=eval_seconds,
        **evals,
    )


def _answer_tokens(trainer, products) -> int:
    """Tokens of the longest reference answer among `products`, plus one for the end a model emits."""
    tokenizer = trainer.encoder.tokenizer
    lengths = [len(tokenizer(trainer.task.answer(p), add_special_tokens=False).input_ids) for p in products]
    return max(lengths, default=0) + 1


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _trained_evaluations(
    run: ExperimentConfig, trainer, products, eval_seconds: float, on_event, *, final_cap: int | None
) -> dict:
    """Evaluation times of a trained model, which stops once its answer is complete, while the pilot's barely
    trained model writes up to task.max_new_tokens: the validation evaluation again with generation capped at
    the reference answers' length; the final evaluation (`final_cap`: the trial's data.max_final_eval_samples)
    and test evaluations scaled per product (measured where nothing generated yet). Where the trainer keeps the
    final's eval loss on the earlier evaluations' products, that pass is timed alone and not scaled."""
    answer_tokens = min(_answer_tokens(trainer, products), run.task.max_new_tokens)
    test = trainer.splits.test[: run.data.max_test_samples] if run.data.max_test_samples else trainer.splits.test
    as_configured = trainer.config  # evaluate() reads task.max_new_tokens from it at each call
    trainer.config = as_configured.with_overrides(
        {"task.max_new_tokens": answer_tokens, "data.max_final_eval_samples": final_cap}, where="the pilot"
    )
    generates = run.task.eval_method == "generate"
    try:
        final = trainer.validation_products(final=True)  # what a trial scores at its last step
        # The trainer's own rule (generated answers only), asked with the trial's final cap set above.
        loss_apart = trainer.final_loss_on_early_products()
        loss = 0.0
        if generates:
            on_event(f"{run.model.name}: the evaluation again, answers capped at {answer_tokens} tokens")
            trained = _timed(lambda: trainer.evaluate(products, method="generate"))
            trained_test = trained * len(test) / max(len(products), 1)
            if loss_apart:
                on_event(f"{run.model.name}: the eval loss's pass alone ({len(products)} products)")
                loss = _timed(lambda: trainer.evaluate(products, method="teacher_forced"))
        else:
            trained = eval_seconds
            on_event(f"{run.model.name}: one test evaluation ({len(test)} products, answers capped)")
            trained_test = _timed(trainer.evaluate_test)
    finally:
        trainer.config = as_configured
    per_product = eval_seconds / max(len(products), 1) if generates else trained_test / max(len(test), 1)
    scale = len(final) / max(len(products), 1)
    # Generating scales with the final's products; a loss kept on the earlier products costs what it cost here.
    final_seconds = loss + max(trained - loss, 0.0) * scale if loss_apart else trained * scale
    return {
        "answer_tokens": answer_tokens,
        "trained_eval_seconds": trained,
        "final_eval_products": len(final),
        "final_eval_seconds": final_seconds,
        "final_loss_products": len(products) if loss_apart else len(final),
        "loss_eval_seconds": loss,
        "test_products": len(test),
        "test_eval_seconds": trained_test if run.task.test_on_completion else 0.0,
        "zero_shot_seconds": per_product * len(test),
    }


def plan_runs(config: ExperimentConfig, sizes: Sequence[int] | None = None) -> Plan:
    """The shapes of a search's full and pruned trials and of each sweep run, from the trainer's budget rules."""
    from foretune.search.sweep.budget import run_steps
    from foretune.search.sweep.sizes import check_sizes, geometric_sizes
    from foretune.trainers.lora import LoraTrainer, eval_steps_of

    trainer = LoraTrainer(config)  # the task reads the data (its size bounds the sweep's)
    splits = trainer.splits
    test = config.task.test_on_completion
    early = config.early_stage.fraction
    steps, total = trainer.eval_steps(), trainer.total_steps
    full = _shape(steps, total, early, test=test, total=total)
    early_step = min(s for s, f in steps.items() if f >= early - 1e-9)
    pruned = _shape(steps, early_step, early, test=False, total=total)
    rungs = tuple(_stopped_at(steps, rung.fraction, early, total=total) for rung in config.early_stage.rungs)
    available = len(splits.train)
    if sizes is None:
        sizes = check_sizes(config.sweep.sizes, available=available) if config.sweep.sizes else None
        sizes = sizes or geometric_sizes(available)
    sweep = {0: RunShape(0, 0, 0, test=False, zero_shot=True)}
    for n in (n for n in sizes if n > 0):  # a sweep run's budget is a step count (`run_steps`): no trainer to build
        budget = run_steps(config, n)
        sweep[n] = _shape(eval_steps_of(config.train.eval_fractions, budget), budget, early, test=True, total=budget)
    return Plan(full=full, pruned=pruned, sweep=dict(sorted(sweep.items())), available=available, rungs=rungs)


def _stopped_at(eval_steps: dict[int, float], fraction: float, early: float, *, total: int) -> RunShape:
    """A trial stopped at its first evaluation at or past `fraction` (where a rung judges it)."""
    step = min(s for s, f in eval_steps.items() if f >= fraction - 1e-9)
    return _shape(eval_steps, step, early, test=False, total=total)


def _shape(eval_steps: dict[int, float], upto: int, early: float, *, test: bool, total: int) -> RunShape:
    """A run that stops after step `upto` of `total`; an evaluation at the last step is its final (the trainer
    scores it on data.max_final_eval_samples products), the others count as early or late."""
    final = upto == total and total in eval_steps
    done = [f for s, f in eval_steps.items() if s <= upto and not (final and s == total)]
    first = sum(1 for f in done if f <= early + 1e-9)
    return RunShape(steps=upto, early_evaluations=first, late_evaluations=len(done) - first, test=test, final=final)


def local_devices(config: ExperimentConfig) -> tuple[int, int]:
    """(CPUs, GPUs) of this machine as a local Ray would count them."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpus = torch.cuda.device_count() if config.resources.gpus_per_trial > 0 else 0
    return cpus, gpus


if __name__ == "__main__":
    _child()
