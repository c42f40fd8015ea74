def test_predictors_import_without_torch_or_ray(run_without):
    code = (
        "import foretune.predictors as p\n"
        "import foretune.predictors.io, foretune.predictors.evaluation, foretune.predictors.synthetic_curves\n"
        "import foretune.predictors.saturation\n"
        "curves = p.synthetic_curves.make_study(12, seed=0)\n"
        "for name in p.PREDICTORS:\n"
        "    p.get_predictor(name).fit(curves).predict([c.upto(0.2) for c in curves], at=0.2)\n"
        "assert 'optuna' not in sys.modules, 'optuna must be imported lazily'\n"
        "print('ok')\n"
    )
    result = run_without(code, blocked=("torch", "ray"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_trials_process_imports_no_scipy_stats(run_without):
    """A Ray trial's process imports the trainable (run_trial or a user's function), the config it is given and
    the LoRA trainer it builds; scipy.stats (the predictors' chain: seconds on a busy 2-core machine) is for the
    driver that judges, and for a completed trial's test intervals only once it has them."""
    code = (
        "import ray.tune, foretune.search.trainable, foretune.search.function_trial, foretune.config\n"
        "import foretune.trainers.lora\n"
        "assert 'scipy.stats' not in sys.modules, 'the trial chain imports scipy.stats'\n"
        "assert 'foretune.predictors._auto' not in sys.modules, 'the trial chain imports the predictors'\n"
        "from foretune.search import EarlyStageRule\n"  # still there for the driver, on first use
        "from foretune.predictors import get_predictor, metrics\n"
        "assert EarlyStageRule.__module__ == 'foretune.search.rule' and callable(get_predictor) and metrics.spearman\n"
        "print('ok')\n"
    )
    result = run_without(code, blocked=())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
