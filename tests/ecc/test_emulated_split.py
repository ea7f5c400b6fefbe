"""Split execution across a real stage server (loopback TCP, authenticated frames) equals one-process runs."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import torch

from agents.zoo import TINY_SHAPES, random_inputs, random_model
from ecc.emulated import SplitExecutor, StageServer, module_order, placement_for_cut, plan_segments
from ecc.emulated.client import reference_outputs
from ecc.wire import Codec, Message
from ecc.wire.errors import RemoteError
from ecc.wire.transport import Client, TransportConfig

SECRET = b"test-secret-of-32-bytes-at-least!!"


def _model(name: str) -> torch.nn.Module:
    return random_model(name)


def _inputs(model, seed: int = 1) -> dict:
    return random_inputs(model.shape, seed=seed)


def _client(server: StageServer, timeout_s: float = 5.0) -> Client:
    cfg = TransportConfig(connect_timeout_s=1.0, read_timeout_s=timeout_s, retries=0)
    return Client(server.address, Codec(SECRET), cfg)


@pytest.mark.parametrize("name", TINY_SHAPES)
def test_split_run_equals_local_run_at_every_kind_of_cut(name):
    model = _model(name)
    inputs = _inputs(model)
    ref = reference_outputs(model, inputs)
    n_modules = len(module_order(model.stages()))
    with StageServer(model, Codec(SECRET)) as server:
        ex = SplitExecutor(model, _client(server))
        for cut, direction in [
            (0, "edge_prefix"),
            (n_modules // 2, "edge_prefix"),
            (3, "cloud_prefix"),
        ]:
            ex.set_cut(cut, direction)
            out, timing = ex.run(inputs)
            for k in ref:
                torch.testing.assert_close(
                    out[k], ref[k], rtol=0, atol=1e-6, msg=f"{name} cut={cut} {k}"
                )
            assert timing.round_trips >= 1
            assert timing.bytes_up > 0
            assert timing.bytes_down > 0
            assert not timing.fallback
            assert timing.cloud_ms > 0


def test_cut_inside_the_decoder_pays_a_round_trip_per_action_token():
    model = _model("openvla-tiny")
    specs = model.stages()
    modules = module_order(specs)
    cut = modules.index("llm.layers.1")  # first decoder layer on the edge, the rest in the cloud
    segs = plan_segments(
        specs, placement_for_cut(specs, cut), ["images", "tokens", "proprio", "noise"], []
    )
    cloud = [s for s in segs if s.device == "cloud"]
    assert len(cloud) == model.shape.head.action_dim  # prefill + 6 more decoded tokens
    # KV caches stay where their layer lives: never sent.
    assert not any(k.startswith("kv.") for s in segs for k in s.send_keys + s.return_keys)


def test_server_killed_mid_episode_falls_back_to_the_edge_and_recovers():
    model = _model("oft-tiny")
    inputs = _inputs(model)
    ref = reference_outputs(model, inputs)
    server = StageServer(model, Codec(SECRET))
    port = server.start()[1]
    ex = SplitExecutor(model, _client(server, timeout_s=2.0), reconnect_interval_s=0.0)
    ex.set_cut(2)
    ex.run(inputs)
    server.stop()
    out, timing = ex.run(inputs)
    assert timing.fallback
    assert timing.round_trips == 0
    torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)
    assert ex.failures == 1
    # the server returns on the same port: the client reconnects by itself
    revived = StageServer(model, Codec(SECRET), port=port)
    revived.start()
    try:
        out, timing = ex.run(inputs)
        assert not timing.fallback
        assert timing.round_trips >= 1
    finally:
        revived.stop()


def test_an_expired_deadline_finishes_on_the_edge_and_the_next_generation_uses_the_cloud():
    model = _model("pi0-tiny")
    inputs = _inputs(model)
    ref = reference_outputs(model, inputs)
    with StageServer(model, Codec(SECRET)) as server:
        ex = SplitExecutor(model, _client(server), reconnect_interval_s=60.0)
        ex.set_cut(2)
        # 0.01 ms: no real round trip over TCP can make it
        out, timing = ex.run(inputs, deadline_ms=0.01)
        assert timing.aborted
        assert timing.fallback
        assert timing.round_trips == 0
        assert timing.bytes_up > 0  # the offered bytes make the planner's sample show the drop
        assert timing.network_ms > 0
        torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)
        assert ex.failures == 0  # slow, not gone: no reconnect back-off
        out, timing = ex.run(inputs, deadline_ms=60_000.0)
        assert not timing.aborted
        assert timing.round_trips >= 1
        torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="edge_has_weights"):
        SplitExecutor(model, None, edge_has_weights=False).run(inputs, deadline_ms=1.0)


def test_bad_frames_are_rejected_and_other_clients_keep_being_served():
    model = _model("oft-tiny")
    with StageServer(model, Codec(SECRET)) as server:
        good = _client(server)
        assert good.request(Message("health")).meta["stages"] == len(model.stages())
        bad_frames = [
            b"GARBAGE" * 10,  # bad magic
            Codec(b"another-secret-of-32-bytes-at-least").encode(Message("health")),  # wrong key
            Codec(SECRET).encode(Message("health"))[:-7],  # truncated (peer then closes)
        ]
        for frame in bad_frames:
            # The server may drop us before we finish: reset / not-connected are both fine.
            with (
                socket.create_connection(server.address, timeout=2) as s,
                contextlib.suppress(OSError),
            ):
                s.sendall(frame)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(2)
                assert s.recv(1) == b""  # never a reply to a bad frame
        deadline = time.monotonic() + 5
        while server.stats.rejected < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        # bad magic, and two data frames sent without the handshake (wire v2): all rejected at
        # the prefix, before any header or body byte is read
        assert server.stats.rejected == 3
        with pytest.raises(RemoteError, match="outside"):
            good.request(Message("run", meta={"session": 1, "start": 0, "end": 10**6}))
        health = good.request(Message("health"))
        assert health.meta["fingerprint"] == server.service.fingerprint
        good.close()


def test_planner_cuts_count_trace_units_and_map_onto_the_models_modules():
    """pi0's trace has an ``llm.norm`` unit its forward never runs: unit and module counts differ."""
    from ecc.emulated.deployment import EmulatedDeployment
    from ecc.planners import RoboECCPlanner, make_context

    model = _model("pi0-tiny")
    ctx = make_context("pi0-tiny", "local_cpu", "local_cpu", precision="fp32", granularity="block")
    dep = EmulatedDeployment(model, checkpoint=None, network=None, wire=None, start_local=False,
                             planner=RoboECCPlanner(), ctx=ctx)  # fmt: skip
    dep.executor = SplitExecutor(model, None)
    names = [u.name for u in ctx.trace.units]
    n_modules = len(module_order(model.stages()))
    norm = names.index("llm.norm")
    assert ctx.trace.n_units == n_modules + 1
    assert dep._module_cut(0) == 0
    assert dep._module_cut(norm) == norm  # every unit before the norm is a module
    assert dep._module_cut(norm + 1) == norm  # the norm adds no module
    assert dep._module_cut(ctx.trace.n_units) == n_modules  # edge-only
