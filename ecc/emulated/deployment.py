"""Emulated deployment: the acting policy's forward really crosses a shaped link to a cloud server process.

``EmulatedDeployment.start()``:
1. builds the best available shaped link (netem > kernel TBF + user-space delay > user-space only) with the
   rates, delay, jitter and loss of the ``network`` config, replaying its bandwidth trace live;
2. starts ``python -m ecc.serve`` with the same checkpoint as a separate process (inside the cloud
   network namespace when the link has one), or connects to a remote server (``start_local: false``);
3. checks the server's model fingerprint against the local model, then routes the policy's forward
   through a ``SplitExecutor`` (``VLAPolicy.forward_fn``).
It is also the runtime's ``LatencySource``: an inference costs its measured wall time.

Where the split is: a fixed cut (``runtime.cut``: a module count, or the stage / module name the edge
runs up to, e.g. ``projector``), or the partition planner per generation. ``link_description`` (the
results.json ``deployment.link`` block) carries ``split`` (the cut, who chose it and why) and
``traffic`` (inferences, round trips, bytes each way, cuts used), updated in place every generation;
a run that sent nothing over the link says so in a WARNING when it closes.

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
from ecc.emulated.split_plan import module_order, placement_for_cut
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
        cut: fixed cut: the number of modules on the edge (module order), or the name of the stage
            or module the edge runs up to (``projector``: the vision encoder and projector on the
            edge, the rest on the cloud); None: ``planner`` decides per generation.
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
        cut: int | str | None = None,
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
        self._module_cut_now = 0  # modules before the cut in force (fixed or the planner's last)
        self._t0 = time.monotonic()
        self.label = "emulated"
        self._closed = False

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
            try:
                self._module_cut_now = self._resolve_fixed_cut(self.fixed_cut)
                self.executor.set_cut(self._module_cut_now, self.direction)
            except BaseException:
                self.close()
                raise
        else:
            cut = self.planner.reset(self.ctx, self.network.link_at(0.0))
            self._module_cut_now = self._module_cut(cut)
            self.executor.set_cut(self._module_cut_now, self.ctx.direction)
        # Filled in place from here on: compose_actor holds this very dict as results.json's
        # deployment.link, so what the run did over the link reaches results.json.
        self.link_description["split"] = self._split_description()
        self.link_description["traffic"] = {
            "inferences": 0, "over_link": 0, "round_trips": 0, "bytes_up": 0, "bytes_down": 0,
            "fallbacks": 0, "cuts": {},
        }  # fmt: skip
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
            log.info("emulated link: %s (%s)", kind, self.link.fallback_reason or "first choice")
            pair = getattr(self.link, "pair", None)
            if pair is not None:  # the server process lives in the cloud namespace
                cmd_prefix = ["ip", "netns", "exec", pair.cloud_ns]
                host = pair.cloud_ip
            if self.network.trace is not None:
                # Delivery schedules per direction: the user-space shaper (userspace,
                # tbf_userspace) replays them opportunity by opportunity; netem falls back to
                # binned rates. ``trace_replay`` in the description says which happened.
                tr = self.network.trace
                self.link.apply_trace(trace_schedule(tr.up, tr.down))
            self.link_description = self.link.describe()  # after the trace: records its replay
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
        if not self._closed and self.executor is not None:
            self._warn_if_nothing_crossed()
        self._closed = True
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
                self._module_cut_now = self._module_cut(cut)
                self.executor.set_cut(self._module_cut_now, self.ctx.direction)
            self.cuts.append(cut)
            if self.edge_has_weights:
                deadline_ms = self.planner.deadline_ms(self.ctx, cut)
        out, timing = self.executor.run(inputs, deadline_ms)
        self.last = timing
        self._count(timing)
        if self.fixed_cut is None:
            self.planner.observe(self._bandwidth_sample(timing))
        return out

    def _count(self, timing: Any) -> None:
        """Add one generation to ``link_description["traffic"]`` (counts and bytes)."""
        tr = self.link_description.get("traffic")
        if tr is None:
            return
        tr["inferences"] += 1
        tr["over_link"] += int(timing.round_trips > 0)
        tr["round_trips"] += int(timing.round_trips)
        tr["bytes_up"] += int(timing.bytes_up)
        tr["bytes_down"] += int(timing.bytes_down)
        tr["fallbacks"] += int(bool(timing.fallback))
        label = self.cut_label()
        tr["cuts"][label] = tr["cuts"].get(label, 0) + 1

    # ---------------------------------------------------------------- cuts
    def _resolve_fixed_cut(self, cut: int | str) -> int:
        """Modules before a fixed ``runtime.cut`` (module order): an integer, or a stage / module name."""
        assert self.executor is not None
        modules = module_order(self.executor.specs)
        if isinstance(cut, bool):
            raise InvalidValueError("runtime.cut", cut, "an integer or a stage / module name")
        if isinstance(cut, str) and cut.strip().lstrip("-").isdigit():
            cut = int(cut)
        if isinstance(cut, int):
            if not 0 <= cut <= len(modules):
                raise InvalidValueError("runtime.cut", cut, f"an integer in [0, {len(modules)}]")
            return cut
        if cut in modules:
            return modules.index(cut) + 1
        for spec in self.executor.specs:
            if spec.name == cut:
                return modules.index(spec.module) + 1
        names = list(dict.fromkeys(s.name for s in self.executor.specs))
        raise InvalidValueError(
            "runtime.cut", cut,
            f"an integer in [0, {len(modules)}], a stage name ({', '.join(names[:10])}, ...) "
            f"or a module name ({', '.join(modules)})",
        )  # fmt: skip

    def cut_label(self) -> str:
        """The cut in force, as results name cuts: ``start`` or ``after:<unit or module>``.

        A planner's cut is named by its trace unit (as the simulated runtime names it); a fixed
        cut by the last module before it.
        """
        if self.fixed_cut is None and self.cuts:
            return self.ctx.trace.cut_name(self.cuts[-1])
        assert self.executor is not None
        if self._module_cut_now == 0:
            return "start"
        return f"after:{module_order(self.executor.specs)[self._module_cut_now - 1]}"

    def _sides(self) -> dict[str, list[str]]:
        """Modules on the edge and on the cloud under the cut in force (module order)."""
        assert self.executor is not None
        modules = module_order(self.executor.specs)
        first, second = modules[: self._module_cut_now], modules[self._module_cut_now :]
        direction = self.direction if self.fixed_cut is not None else self.ctx.direction
        edge, cloud = (first, second) if direction == "edge_prefix" else (second, first)
        return {"edge": edge, "cloud": cloud}

    def _split_description(self) -> dict[str, Any]:
        """Where the stages run and who decided it (results.json ``deployment.link.split``)."""
        sides = self._sides()
        if self.fixed_cut is not None:
            out: dict[str, Any] = {
                "chosen_by": f"runtime.cut={self.fixed_cut}",
                "direction": self.direction,
                "cut": self.cut_label(),
            }
        else:
            out = {
                "chosen_by": (f"partition planner {getattr(self.planner, 'name', '?')} per "
                              f"generation, pricing the edge as {self.ctx.edge.name} and the "
                              f"cloud as {self.ctx.cloud.name}"),
                "direction": self.ctx.direction,
                "first_cut": self.cut_label(),
            }  # fmt: skip
        out.update(edge_modules=sides["edge"], cloud_modules=sides["cloud"])
        # Both processes share one machine here: the cloud stages are not faster, and latency
        # is this CPU's compute plus the real shaped link; a remote server is what it is.
        out["cloud_compute"] = (
            "a `python -m ecc.serve` process on this machine (same CPU as the edge, not faster)"
            if self.start_local
            else f"the server at {self.host}:{self.port}"
        )
        return out

    def _warn_if_nothing_crossed(self) -> None:
        """A WARNING when the run's generations sent nothing over the link, saying why."""
        tr = self.link_description.get("traffic") or {}
        n = tr.get("inferences", 0)
        if n == 0 or tr.get("round_trips", 0) > 0:
            return
        if self.fixed_cut is not None and not self._sides()["cloud"]:
            why = f"runtime.cut={self.fixed_cut} places every stage on the edge"
        elif self.fixed_cut is None and all(
            "cloud"
            not in placement_for_cut(self.executor.specs, self._module_cut(c), self.ctx.direction)
            for c in set(self.cuts)
        ):
            same = self.ctx.edge.name == self.ctx.cloud.name
            why = (
                f"the partition planner {getattr(self.planner, 'name', '?')} kept every stage on "
                f"the edge in all {n} generations (it prices the edge as {self.ctx.edge.name} and "
                f"the cloud as {self.ctx.cloud.name}"
                + (": a cloud no faster than the edge, so the link only adds time" if same else "")
                + "); runtime.cut=projector splits after the vision encoder"
            )
        else:
            why = (
                f"every cloud request failed or was abandoned ({tr.get('fallbacks', 0)} fallbacks)"
            )
        tr["nothing_crossed"] = why
        log.warning(
            "emulated run: nothing crossed the link (0 round trips in %d inferences): %s",
            n,
            why,
        )

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
            cut=self.cut_label() if self.executor is not None else None,
            source=self.label,
        )
