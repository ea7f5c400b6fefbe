"""Edge-cloud computing: execution traces, cost models, hardware, network, planners, runtimes.

Module map (see docs/ecc.md):
    trace        analytic execution trace of one action generation (zoo stage names)
    hardware     hardware profiles (conf/hardware) and the per-stage roofline
    cost         reference latency breakdown of a partition (what runtimes are checked against)
    cuts         every single cut priced at once with prefix sums
    network/     link model, bandwidth traces, bandwidth estimation and predictors
    planners/    edge_only, cloud_only, fixed, neurosurgeon, mincut, roboecc, oracle
    adaptive     action-by-action simulation of a planner on a bandwidth trace
    calibrate    measure stage latencies here and fit a profile
    wire, links, emulated, serve: the emulated runtime (bytes over real sockets)
"""
