"""Accepting peers on the server's listening socket without the loop ever ending on an error.

Out of file descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM), the acceptor frees a reserve descriptor
to shed one queued peer, has one unauthenticated connection evicted, and stops accepting for a
back-off that doubles up to ``accept_backoff_max_s`` (s); one accept resets it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import time

from ecc.wire.context import ServerContext

log = logging.getLogger("ecc.wire.server")  # one log channel for the whole server

FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPTS_PER_EVENT = 64  # most peers accepted per readiness event (the loop serves others too)
LOG_EVERY_S = 5.0  # accept failures are logged at most this often (s)


class Acceptor:
    """Accepts from ``sock`` (registered on ``sel`` as ``"listen"``) and hands peers to the server.

    Args:
        sock: the non-blocking listening socket.
        sel: the network thread's selector.
        ctx: ``config.accept_backoff_s`` / ``accept_backoff_max_s`` (s), ``stats`` (counts
            ``accept_errors``), ``admit``, ``evict_one``, ``open_count`` (for the log) and
            ``stopped`` (errors while closing are not counted).
    """

    def __init__(
        self, sock: socket.socket, sel: selectors.BaseSelector, ctx: ServerContext
    ) -> None:
        self.sock = sock
        self._sel = sel
        self._ctx = ctx
        self._reserve_fd: int | None = _open_reserve_fd()  # freed to shed a peer when out of fds
        self._paused_until = 0.0
        self.accepting = True
        self._backoff = ctx.config.accept_backoff_s
        self._logged = 0.0
        sel.register(sock, selectors.EVENT_READ, "listen")

    def accept_some(self) -> None:
        """Accept the peers waiting now (at most ``ACCEPTS_PER_EVENT``)."""
        now = time.monotonic()
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                raw, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if self._ctx.stopped():
                    return
                self._ctx.stats.accept_errors += 1
                if e.errno in FD_ERRNOS:
                    self._out_of_descriptors(e, now)
                    return
                elif now - self._logged > LOG_EVERY_S:
                    self._logged = now
                    log.warning("accept failed (%s); still serving", e)
                return
            self._backoff = self._ctx.config.accept_backoff_s
            self._ctx.admit(raw)

    def resume_if_due(self, now: float) -> None:
        """Listen again once a back-off has passed (``now``: ``time.monotonic()``, s)."""
        if not self.accepting and now >= self._paused_until:
            self._sel.register(self.sock, selectors.EVENT_READ, "listen")
            self.accepting = True

    def close(self) -> None:
        """Give the reserve descriptor back (the listening socket is the server's)."""
        if self._reserve_fd is not None:
            os.close(self._reserve_fd)
            self._reserve_fd = None

    def _out_of_descriptors(self, err: OSError, now: float) -> None:
        if now - self._logged > LOG_EVERY_S:
            self._logged = now
            log.warning(
                "accept failed: %s (%d open connections); shedding one waiting peer, evicting "
                "one unauthenticated connection and pausing accept for %.2f s",
                errno.errorcode.get(err.errno or 0, err),
                self._ctx.open_count(),
                self._backoff,
            )
        if self._reserve_fd is not None:  # free one descriptor to drop one queued peer
            os.close(self._reserve_fd)
            self._reserve_fd = None
            with contextlib.suppress(OSError):
                raw, _ = self.sock.accept()
                raw.close()
            self._reserve_fd = _open_reserve_fd()
        self._ctx.evict_one()
        self._paused_until = now + self._backoff
        # Unregister while paused: a readable listening socket would spin the loop.
        self._sel.unregister(self.sock)
        self.accepting = False
        self._backoff = min(self._backoff * 2, self._ctx.config.accept_backoff_max_s)


def _open_reserve_fd() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None
