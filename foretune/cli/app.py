"""The typer app: registers every command and turns a `ForetuneError` into one red line and exit code 2."""

from __future__ import annotations

import inspect
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

COMMANDS = {
    "config": config_cmd,
    "train": train_cmd,
    "rank": rank_cmd,
    "rank-eval": rank_eval_cmd,
    "search": search_cmd,
    "report": report_cmd,
    "dashboard": dashboard_cmd,
    "sweep": sweep_cmd,
    "saturation": saturation_cmd,
    "estimate": estimate_cmd,
}


def one_line_paragraphs(doc: str | None) -> str | None:
    """A docstring with each paragraph on one line: typer's rich help keeps a docstring's line breaks, so on a
    terminal narrower than the source a paragraph came out ragged; rich rewraps a one-line paragraph itself."""
    if doc is None:
        return None
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in inspect.cleandoc(doc).split("\n\n"))


for name, command in COMMANDS.items():
    app.command(name, help=one_line_paragraphs(command.__doc__))(command)


def main() -> None:
    try:
        app()
    except ForetuneError as error:
        # escaped: a message may hold brackets ("[smollm2-135m, /models/small]") that rich would read as markup
        err_console.print(f"[bold red]{error.label}:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
