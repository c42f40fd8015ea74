import subprocess
import sys


def test_predictors_import_without_torch_or_ray():
    # With torch and ray blocked, any import of them (direct or through a dependency) raises.
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "sys.modules['ray'] = None\n"
        "import foretune.predictors as p\n"
        "import foretune.predictors.io, foretune.predictors.evaluation, foretune.predictors.synthetic\n"
        "curves = p.synthetic.make_study(12, seed=0)\n"
        "for name in p.PREDICTORS:\n"
        "    p.get_predictor(name).fit(curves).predict([c.upto(0.2) for c in curves], at=0.2)\n"
        "assert 'optuna' not in sys.modules, 'optuna must be imported lazily'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
