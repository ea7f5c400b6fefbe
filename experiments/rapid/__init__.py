"""RAPID measurements: trigger calibration, redundancy, Table III, noise study, failure-score calibration.

Every command here differs from the paper's setting in stated ways (scripted expert or a tiny/untrained
acting policy instead of OpenVLA-7B acting; OpenVLA-7B latency is modeled, not measured); each output
file carries that note (``experiments.rapid.reporting.SETTING_NOTES``).
"""
