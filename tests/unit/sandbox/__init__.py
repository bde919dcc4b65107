"""Tests of canary.sandbox."""
