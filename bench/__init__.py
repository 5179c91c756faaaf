"""Benchmarks (``make bench``): results printed and written to ``bench/results.json``."""
