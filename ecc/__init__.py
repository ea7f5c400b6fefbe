"""Edge-cloud computing: execution traces, cost models, hardware, network, planners, runtimes."""
