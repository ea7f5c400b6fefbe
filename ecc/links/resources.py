"""Process-wide record of live namespaces, removed at exit, on SIGTERM/SIGHUP and on Ctrl-C.

Ctrl-C raises KeyboardInterrupt, which unwinds the links' context managers and then
runs atexit, so only the signals whose default action kills the process without
running atexit (SIGTERM, SIGHUP) get a handler. What a hard crash (SIGKILL, segfault)
leaves behind, ``python -m ecc.cleanup`` removes by name prefix; creating a new link
also removes the leftovers of dead processes first.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class NamespacePair(Protocol):
    """What this registry reads of a pair (``ecc.links.netns.VethPair`` has it)."""

    edge_ns: str
    cloud_ns: str


# The pair's own remover travels with it, so this module needs nothing from netns.
_pairs: dict[tuple[str, str], tuple[NamespacePair, Callable[[Any], None]]] = {}
_lock = threading.RLock()
_installed = False
_previous: dict[int, Any] = {}
_owner_pid = os.getpid()  # forked children (pyroute2 forks to create namespaces) must not clean up


def register_pair(pair: NamespacePair, destroy: Callable[[Any], None]) -> None:
    """Record ``pair`` for removal by ``destroy(pair)`` at exit (installs the hooks once)."""
    _install()
    with _lock:
        _pairs[(pair.edge_ns, pair.cloud_ns)] = (pair, destroy)


def unregister_pair(pair: NamespacePair) -> None:
    """Forget ``pair`` (it has been removed)."""
    with _lock:
        _pairs.pop((pair.edge_ns, pair.cloud_ns), None)


def live_pairs() -> list[NamespacePair]:
    """Pairs this process created and has not removed yet."""
    with _lock:
        return [pair for pair, _ in _pairs.values()]


def remove_all() -> None:
    """Remove every namespace pair this process still holds."""
    if os.getpid() != _owner_pid:
        return
    with _lock:
        held = list(_pairs.values())
    for pair, destroy in held:
        try:
            destroy(pair)
        except Exception as e:  # keep removing the others
            log.warning("cleanup of %s failed: %s", pair.edge_ns, e)


def _on_signal(signum: int, frame: Any) -> None:
    if os.getpid() != _owner_pid:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    log.warning("signal %d: removing %d namespace pair(s)", signum, len(live_pairs()))
    remove_all()
    prev = _previous.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install() -> None:
    global _installed, _owner_pid
    with _lock:
        if _installed:
            return
        _installed = True
        _owner_pid = os.getpid()
        atexit.register(remove_all)
        if threading.current_thread() is not threading.main_thread():
            log.info("links created off the main thread: no SIGTERM hook; atexit still cleans up")
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            _previous[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
