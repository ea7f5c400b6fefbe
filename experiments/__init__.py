"""Hydra entry points, paper-table scripts and benchmarks (run from the repository root)."""
