"""Edge side of a split VLA: runs edge segments locally and cloud segments on a ``StageServer``.

Timing of one action generation (all ms): ``edge_ms`` (local compute), ``cloud_ms`` (what the server
reports), ``network_ms`` (round trips minus server compute: serialisation, link delay and transfer),
plus bytes each way and the number of round trips. If the server cannot be reached (timeout, refused,
killed mid-episode) and the edge holds the weights, the remaining stages run locally (``fallback``) and
the cloud is retried only after ``reconnect_interval_s``; without weights ``CloudUnavailable`` is raised
so the caller can hold the robot still. A generation run with ``deadline_ms`` (``ecc.fallback``) stops
waiting for the cloud once its remote part has taken that long and finishes on the edge (``aborted``);
the cloud is tried again at the next generation.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.staged import StagedModel, run_all_stages
from core.errors import VeccError
from ecc.emulated.split_plan import Segment, placement_for_cut, plan_segments
from ecc.wire import Message
from ecc.wire import errors as wire_errors
from ecc.wire.transport import Client

log = logging.getLogger(__name__)


class CloudUnavailable(VeccError, RuntimeError):
    """The cloud could not be reached and the edge cannot run the cloud's stages itself."""


@dataclass
class SplitTiming:
    total_ms: float = 0.0
    edge_ms: float = 0.0
    cloud_ms: float = 0.0
    network_ms: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    round_trips: int = 0
    fallback: bool = False
    aborted: bool = False  # the deadline expired (the cloud was slow, not gone)
    notes: list[str] = field(default_factory=list)

    def breakdown_ms(self) -> dict[str, float]:
        return {"edge_ms": self.edge_ms, "cloud_ms": self.cloud_ms, "network_ms": self.network_ms}


class _Recorder(dict):
    """A dict that remembers which keys were read (finds the keys ``outputs`` needs)."""

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.read: list[str] = []

    def __getitem__(self, k: str) -> Any:
        self.read.append(k)
        return super().__getitem__(k)

    def get(self, k: str, default: Any = None) -> Any:
        self.read.append(k)
        return super().get(k, default)


def probe_output_keys(model: StagedModel, inputs: dict[str, Any]) -> tuple[str, ...]:
    """The boundary-state keys ``model.outputs`` reads, found by one local run."""
    state = model.init_state(inputs)
    with torch.no_grad():
        for spec in model.stages():
            state.update(model.run_stage(spec, state))
        rec = _Recorder(state)
        model.outputs(rec)
    return tuple(dict.fromkeys(rec.read))


class SplitExecutor:
    """Executes a staged model under a placement, talking to the cloud through ``client``.

    Args:
        model: the staged VLA (weights must equal the server's).
        client: request/reply client to the stage server; None runs everything locally.
        edge_has_weights: the edge can run cloud stages itself when the cloud is gone.
        reconnect_interval_s: after a failure, run locally this long before trying the cloud again (s).
    """

    def __init__(
        self,
        model: StagedModel,
        client: Client | None,
        edge_has_weights: bool = True,
        reconnect_interval_s: float = 2.0,
        output_keys: Sequence[str] | None = None,
    ) -> None:
        self.model = model
        self.client = client
        self.specs = model.stages()
        self.edge_has_weights = edge_has_weights
        self.reconnect_interval_s = reconnect_interval_s
        self.output_keys = tuple(output_keys) if output_keys is not None else None
        self.placement = ["edge"] * len(self.specs)
        self._plans: dict[tuple[str, ...], list[Segment]] = {}
        self._session = 0
        self._client_id = int.from_bytes(os.urandom(6), "little")  # names this edge's sessions
        self._down_until = 0.0
        self.failures = 0

    def set_cut(self, cut: int, direction: str = "edge_prefix") -> None:
        """Place the first ``cut`` modules on one side (see ``placement_for_cut``); no weights move."""
        self.set_placement(placement_for_cut(self.specs, cut, direction))

    def set_placement(self, placement: Sequence[str]) -> None:
        if len(placement) != len(self.specs):
            raise ValueError(
                f"placement has {len(placement)} entries; the model has {len(self.specs)} stages"
            )
        self.placement = list(placement)
        self._plans.clear()

    def health(self) -> dict[str, Any]:
        if self.client is None:
            raise CloudUnavailable("no cloud client configured")
        reply = self.client.request(Message("health"), idempotent=True)
        return dict(reply.meta)

    def _plan(self, state_keys: Sequence[str]) -> list[Segment]:
        key = tuple(state_keys)
        if key not in self._plans:
            self._plans[key] = plan_segments(
                self.specs, self.placement, key, self.output_keys or ()
            )
        return self._plans[key]

    def run(
        self, inputs: dict[str, Any], deadline_ms: float | None = None
    ) -> tuple[dict[str, torch.Tensor], SplitTiming]:
        """One action generation under the current placement.

        ``deadline_ms``: the most the remote segments may take together (ms) before the edge
        abandons them and runs the rest itself (needs ``edge_has_weights``); None: wait.
        """
        if deadline_ms is not None and not self.edge_has_weights:
            raise ValueError("deadline_ms needs edge_has_weights (the edge finishes aborted runs)")
        if self.output_keys is None:
            self.output_keys = probe_output_keys(self.model, inputs)
        timing = SplitTiming()
        t_start = time.perf_counter()
        state = self.model.init_state(inputs)
        segments = self._plan(list(state))
        use_cloud = self.client is not None and time.monotonic() >= self._down_until
        self._session += 1
        last_cloud = max((i for i, s in enumerate(segments) if s.device == "cloud"), default=-1)
        with torch.no_grad():
            for i, seg in enumerate(segments):
                if seg.device == "cloud" and use_cloud:
                    left_s = None
                    if deadline_ms is not None:
                        left_s = (deadline_ms - timing.cloud_ms - timing.network_ms) / 1e3
                    t_req = time.perf_counter()
                    try:
                        self._run_remote(
                            seg, state, timing, close=i == last_cloud, timeout_s=left_s
                        )
                        continue
                    except wire_errors.TransportTimeout as e:
                        use_cloud = False
                        if left_s is None:
                            self._cloud_failed(e, timing)
                        else:
                            self._deadline_expired(seg, state, timing, t_req)
                    except (wire_errors.WireError, CloudUnavailable) as e:
                        # Any server-side failure (transport, a bad or error reply, a remote
                        # handler error) is a fallback, never an exception out of run().
                        use_cloud = False
                        self._cloud_failed(e, timing)
                if seg.device == "cloud" and not (use_cloud or self.edge_has_weights):
                    raise CloudUnavailable(
                        "cloud unreachable and the edge does not hold the cloud's weights"
                    )
                t0 = time.perf_counter()
                for spec in self.specs[seg.start : seg.end]:
                    state.update(self.model.run_stage(spec, state))
                timing.edge_ms += (time.perf_counter() - t0) * 1e3
            out = self.model.outputs(state)
        timing.total_ms = (time.perf_counter() - t_start) * 1e3
        return out, timing

    def _run_remote(
        self,
        seg: Segment,
        state: dict[str, torch.Tensor],
        timing: SplitTiming,
        close: bool,
        timeout_s: float | None = None,
    ) -> None:
        assert self.client is not None
        msg = Message(
            "run",
            tensors={k: state[k].contiguous() for k in seg.send_keys},
            meta={
                "client": self._client_id,
                "session": self._session,
                "start": seg.start,
                "end": seg.end,
                "return_keys": list(seg.return_keys),
                "close": close,
            },
        )
        t0 = time.perf_counter()
        reply = self.client.request(msg, timeout_s=timeout_s)
        rtt_ms = (time.perf_counter() - t0) * 1e3
        if reply.type != "result":
            raise CloudUnavailable(f"cloud replied {reply.type}: {reply.meta.get('error', '')}")
        missing = [k for k in seg.return_keys if k not in reply.tensors]
        if missing:
            raise CloudUnavailable(f"cloud reply lacks return keys {missing}")
        try:
            cloud_ms = float(reply.meta.get("server_compute_ms", 0.0))
            state.update(reply.torch_tensors())
        except (TypeError, ValueError) as e:
            raise CloudUnavailable(f"cloud reply unusable: {e}") from e
        timing.cloud_ms += cloud_ms
        timing.network_ms += max(rtt_ms - cloud_ms, 0.0)
        timing.round_trips += 1
        timing.bytes_up += sum(state[k].numel() * state[k].element_size() for k in seg.send_keys)
        timing.bytes_down += sum(v.nbytes for v in reply.tensors.values())

    def _deadline_expired(
        self, seg: Segment, state: dict[str, torch.Tensor], timing: SplitTiming, t_req: float
    ) -> None:
        # The wait and the bytes offered count as network time and uplink bytes, so the bandwidth
        # sample of this generation (bytes / time) is an upper bound that still shows the drop.
        timing.network_ms += (time.perf_counter() - t_req) * 1e3
        timing.bytes_up += sum(state[k].numel() * state[k].element_size() for k in seg.send_keys)
        timing.fallback = timing.aborted = True
        timing.notes.append("deadline expired: remote part abandoned, finished on the edge")
        # The reply may still arrive on this connection: drop it so the next request starts clean.
        if self.client is not None:
            self.client.close()

    def _cloud_failed(self, err: Exception, timing: SplitTiming) -> None:
        self.failures += 1
        self._down_until = time.monotonic() + self.reconnect_interval_s
        timing.fallback = True
        timing.notes.append(f"cloud failed: {type(err).__name__}: {err}")
        log.warning(
            "cloud unavailable (%s: %s); running %s for %.1f s",
            type(err).__name__,
            err,
            "the cloud stages on the edge" if self.edge_has_weights else "nothing (robot holds)",
            self.reconnect_interval_s,
        )
        if self.client is not None:
            self.client.close()


def reference_outputs(model: StagedModel, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """All stages in one process (what a split run must reproduce)."""
    with torch.no_grad():
        return run_all_stages(model, inputs)
