"""Fuzzing: hypothesis suite (default run) and an optional atheris harness."""
