"""Data saturation: fit score against training-set size and say how much data is enough.

Curve families and their fit (ensemble, bootstrap), LCDB calibration, the LCDB-learned correction
of the minimum sufficient n and the direct estimate from the nearest LCDB design curves it is blended
with (`direct`, with its shipped table `direct_table.csv.gz`), the answer shown as the size most
likely within x1.5 of the truth (`decision`: the window mode of the predictive distribution, with
`decision_errors.csv.gz`), reading sizes off a curve (bands,
estimates), the regime of a curve ("still rising", "bent", "flat", "ill-behaved: not monotone"), the
result object, the model (an answer from three sizes up; `answer`: the LCDB-learned steps from the
answer read off its fit to the one shown) and a CSV reader.
Imports numpy / scipy (pandas only in `points`); never torch, ray or other foretune packages
except `foretune.keys` and `foretune.errors`.
"""

from foretune.predictors.saturation.bands import first_crossing
from foretune.predictors.saturation.calibration import calibrated_band
from foretune.predictors.saturation.families import (
    DEFAULT_EXPONENT_PRIOR,
    DEFAULT_FAMILIES,
    DEFAULT_TAIL_WEIGHT,
    SATURATION_FAMILIES,
    Family,
    FamilyFit,
    fit_family,
)
from foretune.predictors.saturation.model import SaturationModel
from foretune.predictors.saturation.points import read_points
from foretune.predictors.saturation.result import SaturationResult

__all__ = [
    "DEFAULT_EXPONENT_PRIOR",
    "DEFAULT_FAMILIES",
    "DEFAULT_TAIL_WEIGHT",
    "SATURATION_FAMILIES",
    "Family",
    "FamilyFit",
    "SaturationModel",
    "SaturationResult",
    "calibrated_band",
    "first_crossing",
    "fit_family",
    "read_points",
]
