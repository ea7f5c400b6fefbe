"""Neurosurgeon (ASPLOS'17): per-layer-type latency regression, single cut.

Neurosurgeon never runs the target model's roofline: it fits, per layer type, a linear
regression of stage latency on the layer's configuration (FLOPs, weight elements,
activation elements) from profiled samples, predicts every stage of the target with it,
and picks the single cut of least predicted latency. Profiles come from measurements
(``samples``, e.g. written by ``ecc.calibrate``) or, by default, from the device's
roofline on a set of profiling architectures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecc.cost import stage_times_ms
from ecc.cuts import cut_costs
from ecc.hardware import HardwareProfile
from ecc.network.link import LinkState
from ecc.planners.base import Plan, PlanContext, Planner, best_cut
from ecc.trace import ExecutionTrace, build_trace


def _features(trace: ExecutionTrace) -> np.ndarray:
    a = trace.arrays
    return np.stack(
        [a["flops"], a["weight_elems"], a["act_elems"], np.ones(len(a["flops"]))], axis=1
    )


def _kind(kind: str) -> str:
    return kind


class LatencyRegression:
    """Per-kind least-squares model: latency_ms ~ features @ coef (clipped at 0)."""

    def __init__(self) -> None:
        self.coef: dict[str, np.ndarray] = {}
        self.fallback: np.ndarray | None = None

    def fit(
        self, traces: Sequence[ExecutionTrace], times_ms: Sequence[np.ndarray]
    ) -> LatencyRegression:
        X = np.concatenate([_features(t) for t in traces])
        y = np.concatenate(list(times_ms))
        kinds = np.array([_kind(s.kind) for t in traces for s in t.stages])
        scale = np.maximum(np.abs(X).max(axis=0), 1e-30)
        for k in np.unique(kinds):
            m = kinds == k
            self.coef[k] = np.linalg.lstsq(X[m] / scale, y[m], rcond=None)[0] / scale
        self.fallback = np.linalg.lstsq(X / scale, y, rcond=None)[0] / scale
        return self

    def predict(self, trace: ExecutionTrace) -> np.ndarray:
        X = _features(trace)
        out = np.empty(len(X))
        for i, s in enumerate(trace.stages):
            out[i] = X[i] @ self.coef.get(_kind(s.kind), self.fallback)
        return np.maximum(out, 0.0)


class NeurosurgeonPlanner(Planner):
    """Single cut chosen with regression-predicted stage latencies."""

    name = "neurosurgeon"

    def __init__(self, profile_archs: Sequence[str] = ("openvla-7b", "cogact", "pi0"),
                 granularity: str = "block") -> None:  # fmt: skip
        self.profile_archs, self.granularity = tuple(profile_archs), granularity
        self._models: dict[str, LatencyRegression] = {}

    def fit_measured(self, device_name: str, measurements: Sequence) -> LatencyRegression:
        """Fit ``device_name``'s regression on measured stages (``ecc.calibrate.measure_model``
        results: objects with ``.trace`` and ``.measured_ms``), as Neurosurgeon profiles a device."""
        model = LatencyRegression().fit(
            [m.trace for m in measurements], [m.measured_ms for m in measurements]
        )
        self._models[device_name] = model
        return model

    def regression(self, hw: HardwareProfile, precision="bf16") -> LatencyRegression:
        """Fit (once per device) on the profiling architectures' stages."""
        if hw.name not in self._models:
            traces = [build_trace(a, granularity=self.granularity) for a in self.profile_archs]
            self._models[hw.name] = LatencyRegression().fit(
                traces, [stage_times_ms(t, hw, precision) for t in traces]
            )
        return self._models[hw.name]

    def plan(self, ctx: PlanContext, link: LinkState) -> Plan:
        pe = self.regression(ctx.edge).predict(ctx.trace)
        pc = self.regression(ctx.cloud).predict(ctx.trace)
        cc = cut_costs(ctx.trace, ctx.edge, ctx.cloud, ctx.precision, ctx.direction, ctx.charge_io,
                       edge_times_ms=pe, cloud_times_ms=pc)  # fmt: skip
        lat = cc.latency_ms(link)
        k = best_cut(lat, ctx.feasible(), ctx.costs.cloud_flops_frac)
        return Plan(ctx.partition(k), float(lat[k]), self.name, {"regression_ms": float(lat[k])})
