"""Helpers shared by the test suite and the benchmarks: real processes on loopback."""
