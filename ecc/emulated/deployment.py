"""Emulated deployment: the acting policy's forward really crosses a shaped link to a cloud server process.

``EmulatedDeployment.start()``:
1. builds the best available shaped link (netem > kernel TBF + user-space delay > user-space only) with the
   rates, delay, jitter and loss of the ``network`` config, replaying its bandwidth trace live;
2. starts ``python -m ecc.serve`` with the same checkpoint as a separate process (inside the cloud
   network namespace when the link has one), or connects to a remote server (``start_local: false``);
3. checks the server's model fingerprint against the local model, then routes the policy's forward
   through a ``SplitExecutor`` (``VLAPolicy.forward_fn``).
It is also the runtime's ``LatencySource``: an inference costs its measured wall time.

World time vs wall time: the link is real, so its bandwidth trace plays in wall-clock seconds, while the
simulated world advances 1 / control_hz per step. Results record both.
"""

from __future__ import annotations

import bisect
import functools
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ecc.emulated.client import SplitExecutor
from ecc.emulated.server import model_fingerprint
from ecc.emulated.split_plan import module_order
from ecc.errors import InvalidValueError
from ecc.links import LinkConfig, best_available, trace_schedule
from ecc.network.predictors import effective_bandwidth_mbps
from ecc.runtime.latency import InferenceTiming
from ecc.wire.transport import Client, free_port

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


class EmulatedDeployment:
    """Owns the link, the server process and the client of one emulated run (a context manager).

    Args:
        policy: the acting ``VLAPolicy`` (its ``model`` runs the edge part; the server loads ``checkpoint``).
        checkpoint: checkpoint directory the local server process loads (start_local only).
        network: ``ecc.network.config.Network`` giving rates (Mbit/s), delay/jitter (ms), loss and trace.
        link_kind: ``auto`` | ``netem`` | ``tbf_userspace`` | ``userspace`` | ``none`` (no shaping).
        host, port: remote server address when ``start_local`` is false.
        cut: fixed cut (modules on the edge, in module order); None: ``planner`` decides per generation.
        planner, ctx: partition planner and its context over the acting model's block-level trace.
        wire: ``ecc.wire.config.WireConfig`` (secret from its environment variable).
    """

    def __init__(
        self,
        policy: Any,
        *,
        checkpoint: str | None,
        network: Any,
        wire: Any,
        link_kind: str = "auto",
        start_local: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 120.0,
        cut: int | None = None,
        direction: str = "edge_prefix",
        planner: Any = None,
        ctx: Any = None,
        edge_has_weights: bool = True,
        reconnect_interval_s: float = 2.0,
    ) -> None:
        if start_local and not checkpoint:
            raise InvalidValueError(
                "policy.checkpoint",
                checkpoint,
                "a checkpoint directory (the local server loads it)",
            )
        if cut is None and planner is None:
            raise InvalidValueError("runtime.cut", cut, "an integer cut, or a partition planner")
        self.policy = policy
        self.checkpoint = checkpoint
        self.network = network
        self.wire = wire
        self.link_kind = link_kind
        self.start_local = start_local
        self.host, self.port = host, port
        self.startup_timeout_s = startup_timeout_s
        self.fixed_cut, self.direction = cut, direction
        self.planner, self.ctx = planner, ctx
        self.edge_has_weights = edge_has_weights
        self.reconnect_interval_s = reconnect_interval_s
        self.link: Any = None
        self.link_description: dict[str, Any] = {"kind": "none"}
        self.server: subprocess.Popen | None = None
        self.client: Any = None
        self.executor: SplitExecutor | None = None
        self.last: Any = None
        self.cuts: list[int] = []
        self._t0 = time.monotonic()
        self.label = "emulated"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> EmulatedDeployment:
        codec = self.wire.codec()
        factory = None
        try:
            if self.start_local:
                addr = self._start_local_server()
                if self.link is not None:
                    addr = self.link.expose(addr)
                    factory = self.link.edge_socket
            else:
                addr = (self.host, self.port)
            self.client = Client(addr, codec, self.wire.transport(), socket_factory=factory)
            self.executor = SplitExecutor(
                self.policy.model, self.client, self.edge_has_weights, self.reconnect_interval_s
            )
            remote = self.executor.health()
            local = model_fingerprint(self.policy.model)
            if remote.get("fingerprint") != local:
                raise InvalidValueError(
                    "cloud model fingerprint",
                    remote.get("fingerprint"),
                    f"{local} (the edge's weights)",
                )
        except BaseException:
            self.close()
            raise
        if self.fixed_cut is not None:
            self.executor.set_cut(self.fixed_cut, self.direction)
        else:
            cut = self.planner.reset(self.ctx, self.network.link_at(0.0))
            self.executor.set_cut(self._module_cut(cut), self.ctx.direction)
        self.policy.forward_fn = self._forward
        self.label = f"emulated:{self.link_description.get('kind', 'none')}"
        self._t0 = time.monotonic()
        return self

    def _start_local_server(self) -> tuple[str, int]:
        cmd_prefix: list[str] = []
        host = "127.0.0.1"
        if self.link_kind != "none":
            ls = self.network.link
            cfg = LinkConfig(kind=self.link_kind, up_mbps=ls.up_mbps, down_mbps=ls.down_mbps,
                             delay_ms=ls.delay_ms, jitter_ms=ls.jitter_ms, loss=ls.loss)  # fmt: skip
            self.link, kind = best_available(cfg)
            self.link_description = self.link.describe()
            log.info(
                "emulated link: %s (%s)",
                kind,
                self.link_description.get("fallback_reason") or "first choice",
            )
            pair = getattr(self.link, "pair", None)
            if pair is not None:  # the server process lives in the cloud namespace
                cmd_prefix = ["ip", "netns", "exec", pair.cloud_ns]
                host = pair.cloud_ip
            if self.network.trace is not None:
                # each direction's binned capacity (the shaper replays rates, not opportunities)
                tr = self.network.trace
                self.link.apply_trace(trace_schedule(tr.up, tr.down))
        port = self.port or free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        cmd = [*cmd_prefix, sys.executable, "-m", "ecc.serve", "--checkpoint", str(self.checkpoint),
               "--host", host, "--port", str(port), "--compression", self.wire.compression,
               "--log-level", "WARNING"]  # fmt: skip
        self.server = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + self.startup_timeout_s
        line = ""
        while time.monotonic() < deadline and self.server.poll() is None:
            line = self.server.stdout.readline()
            if "serving" in line:
                return host, port
        raise InvalidValueError(
            "cloud server start", line.strip() or "no output", "a `serving ...` line in time"
        )

    def close(self) -> None:
        if self.policy is not None:
            self.policy.forward_fn = None
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
            self.server = None
        if self.link is not None:
            self.link.close()
            self.link = None

    def __enter__(self) -> EmulatedDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- forward
    def _forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        assert self.executor is not None
        deadline_ms = None
        if self.fixed_cut is None:
            cut = self.planner.decide(self.ctx, time.monotonic() - self._t0, None)
            if not self.cuts or cut != self.cuts[-1]:
                self.executor.set_cut(self._module_cut(cut), self.ctx.direction)
            self.cuts.append(cut)
            if self.edge_has_weights:
                deadline_ms = self.planner.deadline_ms(self.ctx, cut)
        out, timing = self.executor.run(inputs, deadline_ms)
        self.last = timing
        if self.fixed_cut is None:
            self.planner.observe(self._bandwidth_sample(timing))
        return out

    def _module_cut(self, trace_cut: int) -> int:
        """Modules before the planner's cut (which counts trace units, in module order)."""
        return self._module_cuts[trace_cut]

    @functools.cached_property
    def _module_cuts(self) -> list[int]:
        """Module cut of every trace cut 0..n_units, computed once per run.

        A trace unit need not be a module the forward runs (pi0's prefix never applies the final
        LLM norm), so the two counts differ past such a unit.
        """
        assert self.executor is not None
        unit_of = {st.module: st.unit for st in self.ctx.trace.stages}
        modules = module_order(self.executor.specs)
        missing = [m for m in modules if m not in unit_of]
        if missing:
            raise InvalidValueError(
                "runtime.architecture", self.ctx.trace.shape_name,
                f"the acting model's trace (modules {missing} are not in it)",
            )  # fmt: skip
        units = sorted(unit_of[m] for m in modules)
        return [bisect.bisect_left(units, cut) for cut in range(self.ctx.trace.n_units + 1)]

    @staticmethod
    def _bandwidth_sample(timing: Any) -> float | None:
        """RoboECC's estimate bytes / (RTT - remote compute) over this generation (Mbit/s)."""
        nbytes = timing.bytes_up + timing.bytes_down
        if nbytes <= 0 or timing.network_ms <= 0:
            return None
        # network_ms is already the round trips minus the server's compute
        return effective_bandwidth_mbps(nbytes, rtt_ms=timing.network_ms, remote_ms=0.0)

    # ------------------------------------------------------ LatencySource
    def reset(self) -> None:
        pass

    def charge(
        self, world_time_s: float, measured_ms: float, target: str = "default"
    ) -> InferenceTiming:
        t = self.last
        if t is None:
            return InferenceTiming(total_ms=measured_ms, source=self.label)
        return InferenceTiming(
            total_ms=t.total_ms,
            edge_ms=t.edge_ms,
            cloud_ms=t.cloud_ms,
            network_ms=t.network_ms,
            round_trips=int(t.round_trips),
            fallback=bool(t.fallback),
            aborted=bool(t.aborted),
            bytes_up=t.bytes_up,
            bytes_down=t.bytes_down,
            cut=str(self.cuts[-1] if self.cuts else self.fixed_cut),
            source=self.label,
        )
