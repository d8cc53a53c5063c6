"""Tests of the CLI (platformctl/commands/): options, output, completion, bad input."""
