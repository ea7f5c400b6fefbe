"""openpi-protocol front end for the cloud-only cut: the whole policy runs here.

    python -m ecc.openpi_server --checkpoint checkpoints/object/pi0_tiny --port 8000

Speaks openpi's websocket policy protocol (``openpi_client.WebsocketClientPolicy`` connects
unchanged): on connect the server sends its metadata map, then each binary frame is one
observation (msgpack-numpy) answered by ``{"actions": float32 [chunk, action_dim],
"server_timing": {"infer_ms": ...}}``. A bad frame is answered with a text frame naming the
problem (openpi's client raises it as ``RuntimeError``); a frame that cannot be decoded also closes
the connection (1008).

UNAUTHENTICATED: unlike wire v2 (``ecc.serve``: key exchange + AES-GCM, the default), anyone who
reaches the port can run inferences and read actions. It binds 127.0.0.1 by default; expose it only
on a trusted network or behind an authenticating proxy. Peers are treated as untrusted: frames are
bounded (``max_frame_bytes``), decoding allows only ndarray/scalar hooks with numeric dtypes and
checks declared sizes before any array is made (``agents.openpi_protocol``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from agents.openpi_protocol import OpenpiProtocolError, pack, unpack
from agents.policy import VLAPolicy, load_policy
from core.errors import VeccError

log = logging.getLogger("ecc.openpi_server")

#: observation key that resets the per-connection noise counter (our client sends it per episode).
RESET_KEY = "vecc/reset"


@dataclass
class OpenpiServerConfig:
    """Limits of the openpi front end."""

    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port
    max_frame_bytes: int = 8 << 20  # bytes of one incoming frame (websockets max_size)
    max_connections: int = 16


class OpenpiPolicyServer:
    """Serve a ``VLAPolicy`` (cloud-only cut) over openpi's websocket protocol, one thread each peer."""

    def __init__(self, policy: VLAPolicy, config: OpenpiServerConfig | None = None) -> None:
        self.policy = policy
        self.config = config or OpenpiServerConfig()
        self._lock = threading.Lock()  # one forward at a time: the policy holds per-call state
        self._open = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def metadata(self) -> dict[str, Any]:
        """What a client learns on connect (names, sizes; no weights)."""
        s = self.policy.shape
        c = self.policy.config
        return {
            "server": "vla-ecc-lab",
            "protocol": "openpi-websocket-msgpack-numpy",
            "authenticated": False,
            "shape": s.name,
            "action_dim": int(s.head.action_dim),
            "chunk": int(s.head.chunk),
            "image_size": int(s.vision[0].image_size),
            "camera_keys": list(c.camera_keys),
            "proprio_keys": list(c.proprio_keys),
            "obs_keys": [*c.camera_keys, *c.proprio_keys, "prompt"],
            "max_frame_bytes": self.config.max_frame_bytes,
        }

    def infer(self, obs: dict[str, Any], calls: int) -> dict[str, Any]:
        """Actions for one decoded observation; ``calls`` = earlier inferences of this episode."""
        if not isinstance(obs, dict):
            raise OpenpiProtocolError(f"observation is a {type(obs).__name__}; allowed: a map")
        obs = {str(k): v for k, v in obs.items()}
        if "language" not in obs and "prompt" in obs:
            obs["language"] = obs["prompt"]  # openpi's name for the instruction
        with self._lock:
            # The flow/diffusion noise seed is noise_seed + calls of the episode, as in-process.
            self.policy.reset(language=None)
            self.policy._calls = calls
            chunk, info = self.policy.predict_action_chunk(obs)
        return {
            "actions": np.asarray(chunk, dtype=np.float32),
            "server_timing": {"infer_ms": float(info["infer_ms"])},
        }

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            full = self._open >= self.config.max_connections
            if not full:
                self._open += 1
        if full:
            ws.close(1013, f"max_connections={self.config.max_connections} reached")
            return
        calls = 0
        try:
            ws.send(pack(self.metadata()))
            for frame in ws:
                if isinstance(frame, str):
                    ws.send("text frames are not allowed; allowed: binary msgpack frames")
                    ws.close(1003, "binary frames only")
                    return
                try:
                    obs = unpack(frame, self.config.max_frame_bytes)
                except OpenpiProtocolError as e:
                    ws.send(f"bad frame: {e}")
                    ws.close(1008, "bad frame")
                    return
                if isinstance(obs, dict) and obs.pop(RESET_KEY, False):
                    calls = 0
                try:
                    reply = self.infer(obs, calls)
                except VeccError as e:  # bad observation: say what, keep the connection
                    ws.send(f"bad observation: {e}")
                    continue
                calls += 1
                ws.send(pack(reply))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._open -= 1

    def start(self) -> tuple[str, int]:
        """Listen and serve in a background thread; returns the bound (host, port)."""
        self._server = serve(
            self._handle,
            self.config.host,
            self.config.port,
            max_size=self.config.max_frame_bytes,
            compression=None,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.socket.getsockname()[:2]
        return host, port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = OpenpiServerConfig()
    p = argparse.ArgumentParser(
        prog="python -m ecc.openpi_server", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (experiments.train)")
    p.add_argument(
        "--host", default=d.host, help=f"listen address (default {d.host}; unauthenticated)"
    )
    p.add_argument(
        "--port", type=int, default=d.port, help=f"listen port (default {d.port}; 0 = any)"
    )
    p.add_argument("--max-frame-mib", type=float, default=d.max_frame_bytes / (1 << 20))
    p.add_argument("--max-connections", type=int, default=d.max_connections)
    p.add_argument("--noise-seed", type=int, default=0, help="flow/diffusion noise seed")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    torch.set_num_threads(args.threads)
    policy = load_policy(args.checkpoint)
    policy.config.noise_seed = args.noise_seed
    config = OpenpiServerConfig(
        host=args.host,
        port=args.port,
        max_frame_bytes=int(args.max_frame_mib * (1 << 20)),
        max_connections=args.max_connections,
    )
    server = OpenpiPolicyServer(policy, config)
    host, port = server.start()
    if host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("openpi protocol is unauthenticated and %s:%d is not loopback", host, port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"openpi server ({policy.shape.name}, unauthenticated) on {host}:{port}", flush=True)
    while not stop.wait(0.5):
        time.sleep(0)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
