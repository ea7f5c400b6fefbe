"""Two real processes: `python -m ecc.serve` killed with SIGKILL mid-episode, then restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from agents.zoo import build_model
from ecc.emulated import SplitExecutor
from ecc.emulated.client import reference_outputs
from ecc.wire import Codec
from ecc.wire.transport import Client, TransportConfig, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-shared-secret-for-the-process-test"


def _start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "VECC_WIRE_SECRET": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecc.serve",
            "--shape",
            "oft-tiny",
            "--seed",
            "0",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # "serving <fingerprint> ... on host:port" once listening
    assert "serving" in line, line
    return proc


def test_kill_restart_falls_back_then_reconnects():
    torch.manual_seed(0)
    model = build_model("oft-tiny").eval()  # same seed as the server: same weights
    g = torch.Generator().manual_seed(3)
    s = model.shape
    inputs = {
        "images": torch.rand(
            1, s.cameras, 3, s.vision[0].image_size, s.vision[0].image_size, generator=g
        ),
        "tokens": torch.randint(0, 100, (1, s.prompt_tokens), generator=g),
        "proprio": torch.randn(1, s.proprio_dim, generator=g),
    }
    ref = reference_outputs(model, inputs)
    port = free_port()
    server = _start_server(port)
    client = Client(
        ("127.0.0.1", port),
        Codec(SECRET),
        TransportConfig(connect_timeout_s=0.5, read_timeout_s=2.0, retries=0),
    )
    ex = SplitExecutor(model, client, reconnect_interval_s=0.0)
    ex.set_cut(3)
    try:
        assert ex.health()["stages"] == len(model.stages())
        out, timing = ex.run(inputs)
        assert not timing.fallback
        torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)

        server.send_signal(signal.SIGKILL)  # crash, no goodbye
        server.wait(timeout=10)
        t0 = time.perf_counter()
        out, timing = ex.run(inputs)
        assert timing.fallback  # noticed, and the edge ran the cloud's stages itself
        # liveness, not speed: bounded by the 0.5 s connect timeout, not the old 300 s
        assert (time.perf_counter() - t0) < 10.0
        torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)

        server = _start_server(port)
        out, timing = ex.run(inputs)
        assert not timing.fallback
        assert timing.round_trips >= 1
        torch.testing.assert_close(out["actions"], ref["actions"], rtol=0, atol=1e-6)
    finally:
        client.close()
        server.kill()
        server.wait(timeout=10)
