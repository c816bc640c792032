"""Shared code of the tests, benchmarks and tools: the project's servers as real processes,
page objects for the browser tests, the fault rig and the soak. Never deployed; nothing here
is a test, and nothing here imports `tests`.
"""
