"""Benchmarks: each script measures platformctl against a baseline side by side; `bench/run` runs them all."""
