"""Network model: analytic link, delivery schedules (Mahimahi-exact), bandwidth estimation and prediction.

``delivery_time_s(schedule, nbytes, send_s)`` is the one function that says how long bytes take
over a traced link direction (``ecc.network.schedule``).
"""

from ecc.network.schedule import (
    MAX_PERIOD_MS,
    FluidSchedule,
    MahimahiSchedule,
    Schedule,
    as_schedule,
    delivery_time_s,
    load_mahimahi_schedule,
)

__all__ = [
    "MAX_PERIOD_MS",
    "FluidSchedule",
    "MahimahiSchedule",
    "Schedule",
    "as_schedule",
    "delivery_time_s",
    "load_mahimahi_schedule",
]
