"""Benchmarks (`python -m bench`): numbers to compare between changes, not tests."""
