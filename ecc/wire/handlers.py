"""Calling a request handler, and the built-in ``health`` reply of a ``FrameServer``.

A handler maps a request ``Message`` to its reply. A failing or unknown handler becomes an
``error`` reply naming the cause, never a dropped connection or a dead server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ecc.wire.codec import Message
from ecc.wire.server_config import ServerConfig, ServerStats

log = logging.getLogger("ecc.wire.server")  # one log channel for the whole server

Handler = Callable[[Message], Message]
HEALTH = "health"
ERROR = "error"


def call_handler(handlers: Mapping[str, Handler], msg: Message, stats: ServerStats) -> Message:
    """The reply of ``msg``'s handler, or an ``error`` reply; counts requests and errors."""
    handler = handlers.get(msg.type)
    if handler is None:
        return Message(
            ERROR,
            meta={"error": f"unknown message type {msg.type!r}; allowed: {sorted(handlers)}"},
        )
    try:
        reply = handler(msg)
        if not isinstance(reply, Message):
            raise TypeError(f"handler returned {type(reply).__name__}; expected Message")
        stats.requests += 1
        return reply
    except Exception as e:  # a failing handler must not take the server down
        stats.errors += 1
        log.exception("handler %r failed", msg.type)
        return Message(ERROR, meta={"error": f"{type(e).__name__}: {e}"})


def health_report(
    now: float,
    started: float,
    running: list[tuple[float, str]],
    bytes_held: int,
    connections: int,
    handlers: Mapping[str, Handler],
    config: ServerConfig,
    stats: ServerStats,
    extra: Mapping[str, object],
) -> dict[str, object]:
    """The ``health`` reply's metadata.

    ``now`` and ``started`` are ``time.monotonic()`` readings (s); ``running`` holds each busy
    worker's (start, message type); ``bytes_held`` is the budget in use (bytes). ``status`` is
    ``stalled`` when a request has run longer than ``config.stall_after_s``.
    """
    oldest = max((now - t for t, _ in running), default=0.0)
    stalled = sum(1 for t, _ in running if now - t > config.stall_after_s)
    return {
        "status": "stalled" if stalled else "ok",
        "uptime_s": now - started,
        "handlers": sorted(handlers),
        "requests": stats.requests,
        "workers": config.workers,
        "busy_workers": len(running),
        "stalled_workers": stalled,
        "oldest_request_s": oldest,
        "connections": connections,
        "bytes_held": bytes_held,
        **extra,
    }
