"""pytest plugins: shared fakes and fixtures, registered in tests/conftest.py."""
