"""Keep third-party start-up chatter out of the main job's first lines.

robosuite logs through its own ``robosuite_logs`` logger with its own console handler, and that
logger also propagates to the root handler Hydra installs, so each of its import-time warnings
(no private macro file, no robosuite_models, no mink IK for GR1: none concern a Panda on OSC_POSE)
prints twice, once more per spawned worker. robosuite sets the logger's level itself when it is
imported, so a level set beforehand would be overwritten; a filter on the logger survives that.
PyOpenGL logs an INFO line about its optional accelerate module through the root handler.
"""

from __future__ import annotations

import logging
import os

ROBOSUITE_LOGGER = "robosuite_logs"
# Set VECC_THIRD_PARTY_LOGS=1 to see every robosuite and PyOpenGL line again (debugging the sim).
ENV_FLAG = "VECC_THIRD_PARTY_LOGS"


class _AtLeast(logging.Filter):
    """Passes records at or above ``level`` (a logger filter: it runs before any handler)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


def quiet_third_party_logs() -> None:
    """robosuite: errors only, printed once (its own handler); PyOpenGL: warnings and above.

    Idempotent; call before robosuite is first imported so its import-time warnings are covered.
    """
    if os.environ.get(ENV_FLAG) == "1":
        return
    robosuite = logging.getLogger(ROBOSUITE_LOGGER)
    if not any(isinstance(f, _AtLeast) for f in robosuite.filters):
        robosuite.addFilter(_AtLeast(logging.ERROR))
    robosuite.propagate = False  # its own console handler prints it; the root one would repeat it
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
