"""Act through any openpi-protocol policy server (``policy=openpi_remote``): the cloud is remote.

The actor sends each observation the server asks for (its metadata's ``obs_keys``; all arrays when
it names none) plus ``prompt`` over openpi's websocket protocol and replays the returned chunk.
``last_latency_ms["infer_ms"]`` is the round trip (wall ms) of the steps that asked the server.

openpi's protocol is unauthenticated: point it at a trusted server (loopback by default).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from websockets.sync.client import ClientConnection, connect

from agents.errors import AgentsError
from agents.openpi_protocol import OpenpiProtocolError, pack, unpack
from core.errors import not_allowed

RESET_KEY = (
    "vecc/reset"  # our server restarts its per-episode noise counter on it; others ignore it
)


class OpenpiRemoteActor:
    """Chunk replay with the chunks inferred by an openpi-protocol server at ``host:port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        n_action_steps: int | None = None,
        open_timeout_s: float = 10.0,
        max_frame_bytes: int = 8 << 20,
    ) -> None:
        if not (0 < int(port) < 65536):
            raise AgentsError(not_allowed("policy.port", port, "1..65535"))
        self.uri = f"ws://{host}:{int(port)}"
        self.n_action_steps = n_action_steps
        self.max_frame_bytes = int(max_frame_bytes)
        try:
            self._ws: ClientConnection = connect(
                self.uri,
                compression=None,
                max_size=self.max_frame_bytes,
                open_timeout=open_timeout_s,
            )
        except (OSError, TimeoutError) as e:
            raise AgentsError(f"policy.host/port: no openpi server at {self.uri}: {e}") from e
        self.metadata = unpack(self._ws.recv(), self.max_frame_bytes)
        if not isinstance(self.metadata, dict):
            raise OpenpiProtocolError("server metadata is not a map")
        self._queue: list[np.ndarray] = []
        self._language: str | None = None
        self._reset_pending = True
        self.last_latency_ms: dict[str, float] = {}

    def describe(self) -> str:
        """One line for run reports: where the chunks come from, e.g.
        ``openpi server ws://127.0.0.1:8000 (pi0-tiny, unauthenticated)``."""
        facts = [str(self.metadata["shape"])] if self.metadata.get("shape") else []
        if self.metadata.get("authenticated") is False:
            facts.append("unauthenticated")
        return f"openpi server {self.uri}" + (f" ({', '.join(facts)})" if facts else "")

    def reset(self, env: Any) -> None:
        self._language = getattr(getattr(env, "unwrapped", env), "language", None)
        self._queue.clear()
        self._reset_pending = True

    def _request(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        keys = self.metadata.get("obs_keys")
        frame: dict[str, Any] = {
            k: np.asarray(v)
            for k, v in obs.items()
            if (keys is None or k in keys) and isinstance(v, np.ndarray | np.generic)
        }
        frame["prompt"] = str(obs.get("language", info.get("language", self._language)) or "")
        if self._reset_pending:
            frame[RESET_KEY] = True
            self._reset_pending = False
        self._ws.send(pack(frame))
        reply = self._ws.recv()
        if isinstance(reply, str):
            raise AgentsError(f"openpi server {self.uri}: {reply}")
        out = unpack(reply, self.max_frame_bytes)
        if not isinstance(out, dict) or "actions" not in out:
            raise OpenpiProtocolError("reply has no 'actions'; allowed: a map with 'actions'")
        return out

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        self.last_latency_ms = {}
        if not self._queue:
            t0 = time.perf_counter()
            out = self._request(obs, info)
            rtt_ms = (time.perf_counter() - t0) * 1e3
            chunk = np.asarray(out["actions"], dtype=np.float64)
            if chunk.ndim == 1:
                chunk = chunk[None]
            if chunk.ndim != 2 or len(chunk) == 0:
                raise OpenpiProtocolError(
                    not_allowed("actions shape", list(chunk.shape), "[chunk, action_dim]")
                )
            n = self.n_action_steps or len(chunk)
            self._queue.extend(chunk[:n])
            self.last_latency_ms = {"infer_ms": rtt_ms}
        return self._queue.pop(0)

    def episode_stats(self) -> dict[str, Any]:
        return {"actor": "openpi_remote", "server": self.uri, "shape": self.metadata.get("shape")}

    def close(self) -> None:
        self._ws.close()
