"""Benchmarks: scripts that measure and write figures to bench/results/, never tests."""
