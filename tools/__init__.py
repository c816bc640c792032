"""Command-line tools of the project (dependency audit, fuzzers, infra dump). Never deployed."""
