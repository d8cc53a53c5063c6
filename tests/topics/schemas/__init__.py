"""Tests of schemas as code (platformctl/topics/schemas/), against a real Schema Registry."""
