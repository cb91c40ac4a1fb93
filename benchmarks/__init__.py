"""Benchmarks: scripts that measure; run each with `python benchmarks/NAME.py`."""
