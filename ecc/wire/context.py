"""What the parts of a ``FrameServer`` share: its limits, its counters and its callbacks."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from ecc.wire.codec import Message
from ecc.wire.connection import Conn
from ecc.wire.server_config import ServerConfig, ServerStats


@dataclass(frozen=True)
class ServerContext:
    """One per server, handed to its reader, workers and acceptor; sizes in bytes.

    Attributes:
        config: the server's resource limits.
        stats: the server's counters (each part counts its own events).
        deliver: takes (connection, decoded request, body bytes it holds in the budget).
        send: seals and queues a reply on a connection (any thread, never blocks).
        release: gives bytes back to the budget and wakes the network thread.
        mark_dirty: tells the network thread that a connection changed (any thread).
        admit: takes one newly accepted socket.
        evict_one: closes one unauthenticated connection; False if there is none.
        open_count: the number of open connections.
        stopped: whether the server is closing.
    """

    config: ServerConfig
    stats: ServerStats
    deliver: Callable[[Conn, Message, int], None]
    send: Callable[[Conn, Message], None]
    release: Callable[[int], None]
    mark_dirty: Callable[[Conn], None]
    admit: Callable[[socket.socket], None]
    evict_one: Callable[[], bool]
    open_count: Callable[[], int]
    stopped: Callable[[], bool]
