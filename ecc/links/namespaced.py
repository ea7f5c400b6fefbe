"""Common part of the kernel-shaped links: an edge and a cloud namespace joined by a veth pair."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from pyroute2 import IPRoute

from ecc.cleanup import remove_leftovers
from ecc.links.base import Link, LinkConfig
from ecc.links.netns import create_pair, destroy_pair, in_netns, netns_socket

log = logging.getLogger(__name__)


class NamespacedLink(Link):
    """Owns two namespaces and a veth pair; subclasses install qdiscs on its ends.

    Each end has a persistent netlink socket opened inside its namespace, so a qdisc
    update costs well under a millisecond (trace replay at >= 10 Hz stays cheap).
    """

    def __init__(self, config: LinkConfig) -> None:
        super().__init__(config)
        removed = remove_leftovers(include_live=False)  # what crashed runs left behind
        if removed:
            log.warning("removed leftovers of dead processes: %s", removed)
        self.pair = create_pair(config.edge_ip, config.cloud_ip, mtu=config.tbf.mtu)
        self._tc_lock = threading.Lock()
        self._ipr: dict[str, Any] = {}
        self._index: dict[str, int] = {}
        try:
            for role, ns, ifname in (
                ("edge", self.pair.edge_ns, self.pair.edge_if),
                ("cloud", self.pair.cloud_ns, self.pair.cloud_if),
            ):
                with in_netns(ns):
                    ipr = IPRoute()
                self._ipr[role] = ipr
                self._index[role] = ipr.link_lookup(ifname=ifname)[0]
        except Exception:
            self._teardown()
            raise

    def _replace_qdisc(self, role: str, kind: str, params: dict[str, Any]) -> None:
        """Install/update the root qdisc on the ``role`` ("edge"/"cloud") end (egress)."""
        ns = self.pair.edge_ns if role == "edge" else self.pair.cloud_ns
        # pyroute2 may open its netlink socket lazily per calling thread (e.g. a trace
        # replay thread); entering the namespace makes that socket land in the right one.
        with self._tc_lock, in_netns(ns):
            self._ipr[role].tc("replace", kind, self._index[role], handle="1:", **params)

    def listen(self, port: int = 0, backlog: int = 16) -> socket.socket:
        """A server socket in the cloud namespace, on the cloud end's address."""
        sock = netns_socket(self.pair.cloud_ns)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.pair.cloud_ip, port))
        sock.listen(backlog)
        return sock

    def edge_socket(self) -> socket.socket:
        """A socket in the edge namespace."""
        return netns_socket(self.pair.edge_ns)

    def describe(self) -> dict[str, Any]:
        """Adds the namespace and interface names to the base description."""
        out = super().describe()
        out["namespaces"] = [self.pair.edge_ns, self.pair.cloud_ns] if hasattr(self, "pair") else []
        return out

    def _teardown(self) -> None:
        for ipr in self._ipr.values():
            with contextlib.suppress(Exception):
                ipr.close()
        self._ipr.clear()
        if hasattr(self, "pair"):
            destroy_pair(self.pair)  # removes the veth and its qdiscs with the namespaces
