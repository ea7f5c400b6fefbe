"""The four task suites, declared as data (see envs.spec.TaskSpec)."""

from __future__ import annotations

from envs.spec import TaskSpec
from envs.suites import goal, long, object, spatial

#: control-step episode limits used by LIBERO evaluations (OpenVLA/openpi convention)
EPISODE_LIMITS: dict[str, int] = {"spatial": 220, "object": 280, "goal": 300, "long": 520}

SUITES: dict[str, dict[str, TaskSpec]] = {}
for _module in (spatial, object, goal, long):
    _tasks = {t.name: t for t in _module.tasks()}
    for _t in _tasks.values():
        _t.validate()
    SUITES[_module.SUITE] = _tasks
