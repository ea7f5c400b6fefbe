"""Hydra configs of VLA-ECC Lab (a package so that ``pkg://conf`` resolves in a checkout and in a wheel)."""
