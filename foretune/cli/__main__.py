"""`python -m foretune.cli`."""

from foretune.cli.app import main

main()
