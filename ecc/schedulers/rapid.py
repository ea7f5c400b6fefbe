"""RAPID's kinematics-triggered inference (reconstructed; the paper does not publish its equations).

Two proprioceptive signals per control step, computed from the 500 Hz history of the last step:
- joint acceleration magnitude (finite difference of joint velocity), and
- joint torque change magnitude (finite difference of applied torque).
Each becomes an anomaly score against a sliding window of past steps: |x - mean| / (std + eps).
A fusion weight set by joint speed blends them (fast free-space motion -> acceleration; slow contact ->
torque): w = sigmoid((|qdot| - speed_ref) / speed_scale), importance I = w * z_acc + (1 - w) * z_torque.

Dual threshold with hysteresis: I > ``high`` enters the critical phase (the cached chunk is preempted and a
replan requested at once), I < ``low`` leaves it. While critical, the robot replans every step; otherwise
it plays the cached chunk (a redundant step) and replans only when the chunk is used up. ``cooldown``
steps must pass between two preemptions so bursts of contact do not flood the cloud.
All constants are config fields; defaults come from ``experiments.rapid.calibrate_rapid`` on demonstrations.
Every step costs O(window) numpy work on 25x7 arrays on the edge.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ecc.errors import InvalidValueError, check_positive
from ecc.schedulers.base import PLAY, Decision, SchedulerBase, StepContext


class KinematicSignals:
    """Acceleration and torque-change magnitudes (one scalar each per control step)."""

    def __init__(self, physics_dt_s: float = 0.002) -> None:
        self.physics_dt_s = float(check_positive("scheduler.physics_dt_s", physics_dt_s))

    def __call__(self, info: dict) -> tuple[float, float, float]:
        """(acc rad/s^2, torque change N·m per substep, joint speed rad/s) of the last control step."""
        try:
            vel = np.asarray(info["joint_vel_history"], dtype=np.float64)
            tau = np.asarray(info["joint_torque_history"], dtype=np.float64)
        except KeyError as e:
            raise InvalidValueError(
                "env info",
                sorted(info),
                "info with joint_vel_history and joint_torque_history (500 Hz)",
            ) from e
        acc = (
            np.linalg.norm(np.diff(vel, axis=0), axis=1).mean() / self.physics_dt_s
            if len(vel) > 1
            else 0.0
        )
        dtau = np.linalg.norm(np.diff(tau, axis=0), axis=1).mean() if len(tau) > 1 else 0.0
        speed = float(np.linalg.norm(vel[-1])) if len(vel) else 0.0
        return float(acc), float(dtau), speed


class _Window:
    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def score(self, x: float, eps: float) -> float:
        if len(self.values) < 2:
            return 0.0
        arr = np.fromiter(self.values, dtype=np.float64)
        return abs(x - arr.mean()) / (arr.std() + eps)


class RapidTrigger(SchedulerBase):
    name = "rapid"

    def __init__(
        self,
        window: int = 20,
        high: float = 4.0,
        low: float = 2.0,
        cooldown: int = 5,
        speed_ref: float = 0.3,
        speed_scale: float = 0.1,
        physics_dt_s: float = 0.002,
        eps: float = 1e-6,
        warmup: int = 5,
        target: str = "default",
    ) -> None:
        super().__init__()
        self.window = int(check_positive("scheduler.window", window))
        if low > high:
            raise InvalidValueError("scheduler.low", low, f"<= scheduler.high ({high})")
        self.high, self.low = float(high), float(low)
        self.cooldown = int(check_positive("scheduler.cooldown", cooldown, allow_zero=True))
        self.speed_ref = float(speed_ref)
        self.speed_scale = float(check_positive("scheduler.speed_scale", speed_scale))
        self.eps = float(eps)
        self.warmup = int(warmup)
        self.target = target
        self.signals = KinematicSignals(physics_dt_s)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._acc = _Window(self.window)
        self._torque = _Window(self.window)
        self._critical = False
        self._since_preempt = 10**9

    def importance(self, info: dict) -> tuple[float, float, float, float]:
        """(I, z_acc, z_torque, w) for this step; updates the sliding windows."""
        acc, dtau, speed = self.signals(info)
        z_a = self._acc.score(acc, self.eps)
        z_t = self._torque.score(dtau, self.eps)
        self._acc.values.append(acc)
        self._torque.values.append(dtau)
        w = 1.0 / (1.0 + np.exp(-(speed - self.speed_ref) / self.speed_scale))
        return float(w * z_a + (1 - w) * z_t), z_a, z_t, float(w)

    def decide(self, ctx: StepContext) -> Decision:
        if "joint_vel_history" in ctx.info:
            importance, z_a, z_t, w = self.importance(ctx.info)
        else:  # the reset step has no physics history yet
            importance, z_a, z_t, w = 0.0, 0.0, 0.0, 0.0
        self._since_preempt += 1
        signals = {"importance": importance, "z_acc": z_a, "z_torque": z_t, "w_acc": w}
        warm = ctx.step >= self.warmup
        if (
            not self._critical
            and warm
            and importance > self.high
            and self._since_preempt > self.cooldown
        ):
            self._critical = True
            self._since_preempt = 0
            return self.record(
                ctx.step,
                Decision(infer=True, preempt=True, target=self.target, reason="critical"),
                **signals,
            )
        if self._critical and importance < self.low:
            self._critical = False
        if ctx.pending:
            return self.record(ctx.step, PLAY, **signals)
        if self._critical:
            return self.record(
                ctx.step,
                Decision(infer=True, target=self.target, reason="critical_hold"),
                **signals,
            )
        if ctx.queue_len == 0:
            return self.record(ctx.step, Decision(infer=True, reason="chunk_empty"), **signals)
        return self.record(ctx.step, PLAY, **signals)
