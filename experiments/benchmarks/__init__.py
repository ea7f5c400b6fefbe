"""Benchmarks (vecc-bench bench=<option>; conf/bench/)."""
