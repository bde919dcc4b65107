"""Integration tests of canary.sandbox."""
