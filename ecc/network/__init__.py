"""Network model: analytic link, bandwidth traces, bandwidth estimation and prediction."""
