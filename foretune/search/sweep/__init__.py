"""The data-saturation sweep: `sizes` (the grid), `adaptive` (which size next), `loop` (`SaturationSweep`),
`early_cut` (stop runs the early-stage predictor already knows; `late_gain`, the sweep's own predictor),
`results` (a run's point, the sweep's result), `study` (each run recorded in the journal study as it ends, read back
on a resume), `lora` (the real trainer), `outputs` (frames, files).
`runs` (one run as a job; the in-process runner), `ray_runs` (the runs as Ray tasks: the only module here
that imports Ray, inside its functions). May import foretune.predictors, foretune.trainers (torch only inside
`lora_train_and_score`), numpy, pandas.
"""

from foretune.search.sweep.early_cut import EarlyCut, EarlyCutReporter
from foretune.search.sweep.loop import SaturationSweep, TrainAndScore
from foretune.search.sweep.lora import lora_train_and_score
from foretune.search.sweep.outputs import write_outputs
from foretune.search.sweep.results import SweepPoint, SweepResult
from foretune.search.sweep.sizes import check_sizes, geometric_sizes, parse_sizes

__all__ = [
    "EarlyCut",
    "EarlyCutReporter",
    "SaturationSweep",
    "SweepPoint",
    "SweepResult",
    "TrainAndScore",
    "check_sizes",
    "geometric_sizes",
    "lora_train_and_score",
    "parse_sizes",
    "write_outputs",
]
