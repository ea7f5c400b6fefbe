"""Regenerate the fixed initial states of every task (envs/init_states/<suite>/<task>.npz).

python experiments/make_init_states.py                 # all suites
python experiments/make_init_states.py --suite object  # one suite
"""

from __future__ import annotations

import argparse
import os
import time

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


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--suite", choices=envs.list_suites(), action="append")
    ap.add_argument("--task", action="append", help="only these task names")
    args = ap.parse_args()
    for suite in args.suite or envs.list_suites():
        for task in envs.list_tasks(suite):
            if args.task and task not in args.task:
                continue
            t0 = time.time()
            states, sig = make_states(suite, task)
            spec = envs.get_task(suite, task)
            digest = save_init_states(init_state_path(spec), states, sig)
            print(f"{spec.gym_id:70s} {states.shape} sha256={digest[:12]} {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
