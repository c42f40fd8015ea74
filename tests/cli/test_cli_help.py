"""Every command's --help reads as paragraphs at any terminal width."""

import typer.main
from typer.testing import CliRunner

from foretune.cli.app import app


def test_every_command_help_is_one_line_per_paragraph():
    """typer's rich help keeps a docstring's line breaks: a paragraph wrapped in the source came out ragged on a
    terminal narrower than it ("... taken for an" / "accuracy: ...")."""
    group = typer.main.get_command(app)
    for name in group.commands:
        paragraphs = group.commands[name].help.split("\n\n")
        assert all(paragraph and "\n" not in paragraph for paragraph in paragraphs), name


def test_rank_help_at_80_columns_rewraps_its_paragraph():
    result = CliRunner().invoke(app, ["rank", "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if "--mode max" in line)
    assert "--mode max and every" in line  # rewrapped by rich, not broken where the docstring's line ended
