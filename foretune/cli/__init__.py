"""The `foretune` command line (typer): one module per command group, and all printing and plotting of commands.

May import every foretune package, but torch, ray and transformers only inside a command (`--help` stays fast).
"""

from foretune.cli.app import app, main

__all__ = ["app", "main"]
