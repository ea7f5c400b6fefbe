"""Bottom layer shared by every package: the error root, provenance, small helpers.

``core`` imports nothing from the project; envs < agents < {quantization, ecc} < experiments
all may import it (tests/test_layers.py checks the order).
"""
