"""Regenerate the fixed initial states of every task (envs/init_states/<suite>/<task>.npz).

    vecc-tool tool=make_init_states                    # all suites
    vecc-tool tool=make_init_states suites=[object]    # one suite

Fields: conf/tool/make_init_states.yaml (--suite a --suite b -> suites=[a,b], --task x -> tasks=[x]).
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

import envs
from envs.init_states import (
    N_INIT_STATES,
    InitStateSampler,
    init_state_path,
    model_signature,
    save_init_states,
)
from envs.scene import SceneQuery
from envs.sim_env import TaskSimEnv


def make_states(suite: str, task: str, n: int = N_INIT_STATES) -> tuple[np.ndarray, str]:
    """Sample ``n`` states of one task; returns (states [n, nq+nv], model signature)."""
    spec = envs.get_task(suite, task)
    sim = TaskSimEnv(spec)
    query = SceneQuery(sim.sim.model._model, sim.sim.data._data, spec, sim.object_body_ids)
    sampler = InitStateSampler(sim, query)
    states = np.stack([sampler.sample(i) for i in range(n)])
    sig = model_signature(sim)
    sim.close()
    return states, sig


def run(cfg: Any) -> None:
    """The tool app's entry (conf/tool/make_init_states.yaml): regenerate and print each digest."""
    suites = list(cfg.suites or envs.list_suites())
    bad = [s for s in suites if s not in envs.list_suites()]
    if bad:
        raise ValueError(f"suites={bad} is not allowed; allowed: {', '.join(envs.list_suites())}")
    only = set(cfg.tasks or ())
    for suite in suites:
        for task in envs.list_tasks(suite):
            if only and task not in only:
                continue
            t0 = time.time()
            states, sig = make_states(suite, task)
            spec = envs.get_task(suite, task)
            digest = save_init_states(init_state_path(spec), states, sig)
            print(f"{spec.gym_id:70s} {states.shape} sha256={digest[:12]} {time.time() - t0:.1f}s")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "make_init_states")
