"""The typer app: registers every command and turns a `ForetuneError` into one red line and exit code 2."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from foretune.cli.estimate import estimate_cmd
from foretune.cli.options import err_console
from foretune.cli.rank import rank_cmd, rank_eval_cmd
from foretune.cli.search import dashboard_cmd, report_cmd, search_cmd
from foretune.cli.sweep import saturation_cmd, sweep_cmd
from foretune.cli.train import config_cmd, train_cmd
from foretune.errors import ForetuneError

app = typer.Typer(
    name="foretune",
    help="Hyperparameter search for LoRA fine-tuning that predicts, at 20% of a run, how it will end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("config")(config_cmd)
app.command("train")(train_cmd)
app.command("rank")(rank_cmd)
app.command("rank-eval")(rank_eval_cmd)
app.command("search")(search_cmd)
app.command("report")(report_cmd)
app.command("dashboard")(dashboard_cmd)
app.command("sweep")(sweep_cmd)
app.command("saturation")(saturation_cmd)
app.command("estimate")(estimate_cmd)


def main() -> None:
    try:
        app()
    except ForetuneError as error:
        # escaped: a message may hold brackets ("[smollm2-135m, /models/small]") that rich would read as markup
        err_console.print(f"[bold red]{error.label}:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
