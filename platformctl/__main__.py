"""`python -m platformctl` runs the CLI exactly as the console script does."""

from platformctl.cli import main

main()
