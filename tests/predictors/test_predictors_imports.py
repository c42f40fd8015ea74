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
