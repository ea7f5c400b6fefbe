"""The server's byte budgets: per connection and in all (request bodies plus queued replies),
and each connection's send-queue limit.

A body is reserved here before its buffer is allocated; a connection whose next body does not
fit waits, unread, until bytes are released (TCP then pushes back on its sender).
"""

from __future__ import annotations

import threading

from ecc.wire import errors as E


class ByteBudget:
    """Bytes held across connections, bounded by ``max_total_bytes`` (thread-safe).

    Args:
        max_total_bytes: most bytes held by all connections together (bytes).
        max_conn_bytes: most request-body bytes one connection may hold (bytes).
        max_send_queue_bytes: most reply bytes queued on one connection (bytes).
    """

    def __init__(
        self, max_total_bytes: int, max_conn_bytes: int, max_send_queue_bytes: int
    ) -> None:
        self.max_total_bytes = max_total_bytes
        self.max_conn_bytes = max_conn_bytes
        self.max_send_queue_bytes = max_send_queue_bytes
        self._lock = threading.Lock()
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes held now (bytes)."""
        with self._lock:
            return self._used

    def check_body(self, need: int) -> None:
        """Refuse a body that could never fit, however much is released (``need`` in bytes)."""
        if need > self.max_conn_bytes or need > self.max_total_bytes:
            raise E.FrameTooLarge(
                f"body_len={need} bytes exceeds the per-connection budget "
                f"max_conn_bytes={self.max_conn_bytes} or max_total_bytes"
            )

    def try_reserve(self, need: int, held: int) -> bool:
        """Reserve ``need`` bytes for a connection already holding ``held``; False: wait."""
        with self._lock:
            fits = held + need <= self.max_conn_bytes and self._used + need <= (
                self.max_total_bytes
            )
            if fits:
                self._used += need
        return fits

    def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more as held (queued replies: never refused, bounded per queue)."""
        with self._lock:
            self._used += nbytes

    def release(self, nbytes: int) -> None:
        """Count ``nbytes`` as no longer held."""
        with self._lock:
            self._used -= nbytes
