"""Tests of the platform on Kubernetes (platformctl/platform/): render, up, down, status, doctor."""
