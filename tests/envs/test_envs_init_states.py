"""Stored init states: checksums, layout signatures and deterministic regeneration."""

import hashlib

import numpy as np

import envs
from envs.init_states import N_INIT_STATES, InitStateSampler, init_state_path, model_signature
from envs.scene import SceneQuery
from envs.sim_env import TaskSimEnv


def test_every_task_has_50_checksummed_states():
    for suite in envs.list_suites():
        for task in envs.list_tasks(suite):
            spec = envs.get_task(suite, task)
            with np.load(init_state_path(spec), allow_pickle=False) as z:
                states = z["states"]
                assert states.shape[0] == N_INIT_STATES
                assert hashlib.sha256(states.tobytes()).hexdigest() == str(z["sha256"])


def test_regeneration_is_bit_identical_to_stored():
    spec = envs.get_task("goal", "put_the_red_cube_in_the_drawer")
    sim = TaskSimEnv(spec)
    try:
        q = SceneQuery(sim.sim.model._model, sim.sim.data._data, spec, sim.object_body_ids)
        sampler = InitStateSampler(sim, q)
        with np.load(init_state_path(spec), allow_pickle=False) as z:
            stored = z["states"]
            assert str(z["signature"]) == model_signature(sim)
        for i in (0, 31):
            np.testing.assert_array_equal(sampler.sample(i), stored[i])
        # drawer starts open in this task
        assert sim.sim.data._data.qpos[sim.sim.model._model.joint("drawer_slide").qposadr[0]] > 0.1
    finally:
        sim.close()
