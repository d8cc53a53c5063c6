"""platformctl: a faithful local copy of a streaming data platform on Kubernetes, in one command."""

__version__ = "0.1.0"
