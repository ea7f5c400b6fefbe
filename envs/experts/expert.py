"""The scripted expert: a goal-predicate interpreter over EE-space skills."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from envs.experts.adapters import default_scene_fn, task_goal
from envs.experts.config import ExpertConfig
from envs.experts.control import GRIPPER_OPEN, Context
from envs.experts.planner import run_plan, validate_goal
from envs.experts.primitives import Primitive
from envs.experts.scene import Scene

log = logging.getLogger(__name__)

SceneFn = Callable[[object], Scene]


class ScriptedExpert:
    """Scripted demonstrator that reads PRIVILEGED simulator state.

    It is not a policy a robot could run: at every step it reads exact object
    poses, bounding boxes, fixture sites and articulation positions from the
    simulator (``env.unwrapped.privileged_state()``), never the camera images.
    It interprets the task's goal predicates in order, each as a state machine
    over primitives (move above, descend, close, lift with a lift check and
    regrasp, carry, lower, open, retreat; drawer pull/push; button press),
    driven by a proportional controller in EE space with a held top-down
    orientation. Actions are 7-D in [-1, 1] (OSC_POSE delta + gripper).

    Usage::

        expert = ScriptedExpert(ExpertConfig(noise_std=0.1, noise_seed=0))
        obs, _ = env.reset(seed=0, options={"init_state": 3})
        expert.reset(env)
        label = expert.act(obs)              # clean action (store this)
        obs, *_ = env.step(expert.perturb(label))  # executed with noise
    """

    privileged = True

    def __init__(self, config: ExpertConfig | None = None, scene_fn: SceneFn | None = None) -> None:
        self.config = config or ExpertConfig()
        self._user_scene_fn = scene_fn
        self._scene_fn: SceneFn | None = None
        self._rng = np.random.default_rng(self.config.noise_seed)
        self._env: object | None = None
        self._plan: Primitive | None = None
        self._ctx = Context(cfg=self.config)
        self._started = False
        self.finished = False
        self.plan_succeeded: bool | None = None
        self.steps = 0

    # ------------------------------------------------------------------ API
    def reset(self, env: object, goal: Sequence[Sequence[str]] | None = None) -> None:
        """Bind to ``env`` (after ``env.reset``) and plan for ``goal`` (default: the env's task goal)."""
        if self._scene_fn is None or self._env is not env:
            self._scene_fn = self._user_scene_fn or default_scene_fn(env)
        self._env = env
        goal = tuple(tuple(p) for p in (goal if goal is not None else task_goal(env)))
        validate_goal(goal)
        self.goal = goal
        self._ctx = Context(cfg=self.config, base_rot=_base_rot(env))
        self._plan = run_plan(self._ctx, goal)
        self._started = False
        self.finished = False
        self.plan_succeeded = None
        self.steps = 0

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Clean 7-D action label for observation ``obs`` (float64, in [-1, 1])."""
        if self._plan is None or self._env is None:
            raise RuntimeError("ScriptedExpert.act called before reset(env)")
        ctx = self._ctx
        ctx.observe(obs, self._scene_fn(self._env))
        if not self._started:
            ctx.yaw = ctx.current_yaw()
            self._started = True
        self.steps += 1
        if not self.finished:
            try:
                return np.clip(next(self._plan), -1.0, 1.0)
            except StopIteration as stop:
                self.finished = True
                self.plan_succeeded = bool(stop.value)
                log.debug("plan finished after %d steps: %s", self.steps, stop.value)
        return ctx.action(np.zeros(3), GRIPPER_OPEN, self.config.slow_speed)

    def perturb(self, action: np.ndarray) -> np.ndarray:
        """Executed action: ``action`` plus N(0, noise_std) on the arm dims, clipped to [-1, 1]."""
        action = np.asarray(action, dtype=np.float64)
        if self.config.noise_std <= 0:
            return action.copy()
        noisy = action.copy()
        noisy[:6] += self._rng.normal(0.0, self.config.noise_std, size=6)
        return np.clip(noisy, -1.0, 1.0)

    @property
    def phase(self) -> str:
        """Name of the primitive running now (``done`` / ``failed:*`` at the end)."""
        return self._ctx.phase


def _base_rot(env: object) -> np.ndarray:
    """(3, 3) orientation of the robot base (the OSC delta frame); identity if unknown."""
    inner = getattr(env, "unwrapped", env)
    for candidate in (inner, getattr(inner, "sim", None), getattr(inner, "env", None)):
        robots = getattr(candidate, "robots", None)
        if robots:
            try:
                sim = candidate.sim
                body = robots[0].robot_model.root_body
                return np.array(sim.data.body_xmat[sim.model.body_name2id(body)]).reshape(3, 3)
            except (AttributeError, KeyError, ValueError):
                break
    return np.eye(3)
