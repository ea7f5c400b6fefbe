"""Register every task as ``LiberoLike/{suite}-{task}-v0`` with gymnasium."""

from __future__ import annotations

import gymnasium as gym

from envs.make import make_env
from envs.suites import SUITES


def _entry(suite: str, task: str, **kw) -> gym.Env:
    return make_env(suite, task, **kw)


def register_all() -> list[str]:
    ids = []
    for suite, tasks in SUITES.items():
        for name, spec in tasks.items():
            if spec.gym_id not in gym.registry:
                # episode limits are enforced inside the env (truncated=True), not by TimeLimit
                gym.register(
                    id=spec.gym_id, entry_point=_entry, kwargs={"suite": suite, "task": name}
                )
            ids.append(spec.gym_id)
    # LIBERO's own tasks rebuilt from their BDDL files: LIBERO/<suite>-<task>-v0 (not in ids)
    from envs.libero.make import register_libero

    register_libero()
    return ids
