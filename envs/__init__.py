"""LIBERO-like MuJoCo task suites as gymnasium environments."""
