"""Fake plugins used by the plugin contract tests (tests/integration/test_plugins.py)."""
