"""RAPID measurements: trigger calibration, redundancy, Table III, noise study, failure-score calibration.

Entry points only (Hydra app options: conf/{table,study,tool,bench}/rapid_*.yaml). Table III and the
noise study are main-job runs (``experiments.rapid.study`` -> ``experiments.run.evaluate``); the
paper logic is in ``ecc.schedulers`` (SAFE fit, trigger replay, threshold bisection). Every command
differs from the paper's setting in stated ways (scripted expert or a tiny acting policy instead of
OpenVLA-7B acting; OpenVLA-7B latency is modeled, not measured); each output file carries that note
(``experiments.rapid.reporting.SETTING_NOTES``).
"""
