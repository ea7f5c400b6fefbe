"""The data types of an analytic execution trace: units, stage invocations and the trace.

A *unit* is one position of the static layer chain (``llm.layer5.attn``); repeated
invocations (decode tokens, denoising steps) map to the same unit, share its weights and
are placed together. A single cut ``c`` in ``0..n_units`` puts units ``< c`` on one side.
Builders (``ecc.trace``) fill them; planners and cost models (``ecc.cost``, ``ecc.cuts``) read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ecc.errors import UnknownNameError


@dataclass(frozen=True)
class Unit:
    """One cut-able position of the static layer chain; its weights live on one device."""

    name: str
    kind: str
    params: int  # parameters resident for this unit (count)
    kv_elems: int = 0  # KV-cache elements it keeps at the end of a generation (count)


@dataclass(frozen=True)
class TraceStage:
    """One stage invocation.

    FLOPs are split into matmul FLOPs (what ``torch.utils.flop_counter`` counts) and the
    element-wise rest (norms, activations, softmax, residual adds). ``weight_elems`` is
    the number of weights this invocation reads from memory (an embedding lookup reads
    only the rows it uses). ``writes`` pairs each written tensor with its size on the wire
    in bytes.
    """

    name: str
    kind: str
    module: str
    unit: int
    matmul_flops: float
    other_flops: float
    weight_elems: int
    act_read_elems: int
    act_write_elems: int
    kernels: int
    reads: tuple[str, ...]
    writes: tuple[tuple[str, int], ...]
    step: int | None = None
    layer: int | None = None

    @property
    def flops(self) -> float:
        """Total FLOPs of this invocation."""
        return self.matmul_flops + self.other_flops


@dataclass
class ExecutionTrace:
    """The unrolled stage list plus the unit chain and the tensors entering / leaving it.

    ``inputs`` maps source tensors (they start on the edge) to their size in bytes;
    ``free_inputs`` are generated locally on either side (seeded noise) and never sent.
    ``outputs`` are the tensors the robot needs back on the edge (the actions).
    """

    shape_name: str
    granularity: str
    units: list[Unit]
    stages: list[TraceStage]
    inputs: dict[str, int]
    free_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    act_bytes: float
    meta: dict = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_cuts(self) -> int:
        """Cut candidates: before unit 0 .. after the last unit."""
        return len(self.units) + 1

    def cut_index(self, stage_or_unit: str) -> int:
        """Cut right after the unit called (or used by the stage called) ``stage_or_unit``."""
        for i, u in enumerate(self.units):
            if u.name == stage_or_unit:
                return i + 1
        for s in self.stages:
            if s.name == stage_or_unit:
                return s.unit + 1
        raise UnknownNameError("cut", stage_or_unit, [u.name for u in self.units[:8]] + ["..."])

    def cut_name(self, cut: int) -> str:
        """Human-readable name of cut ``cut`` (``after:<unit>`` or ``start``)."""
        return "start" if cut == 0 else f"after:{self.units[cut - 1].name}"

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """Per-stage numpy columns (unit, flops, weights, activations, kernels)."""
        st = self.stages
        return {
            "unit": np.array([s.unit for s in st], dtype=np.int64),
            "matmul_flops": np.array([s.matmul_flops for s in st], dtype=np.float64),
            "flops": np.array([s.flops for s in st], dtype=np.float64),
            "weight_elems": np.array([s.weight_elems for s in st], dtype=np.float64),
            "act_elems": np.array(
                [s.act_read_elems + s.act_write_elems for s in st], dtype=np.float64
            ),
            "kernels": np.array([s.kernels for s in st], dtype=np.float64),
            "unit_params": np.array([u.params for u in self.units], dtype=np.float64),
            "unit_kv_elems": np.array([u.kv_elems for u in self.units], dtype=np.float64),
        }

    def total_flops(self) -> float:
        """FLOPs of one action generation."""
        return float(self.arrays["flops"].sum())

    def total_params(self) -> int:
        """Parameters of the model (each unit once)."""
        return int(sum(u.params for u in self.units))
