"""Tests of the adapters (platformctl/adapters/), against the real systems where they run."""
