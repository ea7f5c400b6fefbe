"""Network namespaces and veth pairs owned by this project, and running code inside them.

Every object is named with ``PREFIX`` and the creating process id so that
``python -m ecc.cleanup`` can find leftovers of dead processes without touching
live ones:

    namespaces   vecc-<pid>-<n>-edge / vecc-<pid>-<n>-cloud
    veth ends    vecc<pid hex>x<n hex>e / ...c   (<= 15 chars, the kernel's limit)

Code enters a namespace per *thread* with setns(2) (``in_netns``): a socket created
there stays bound to that namespace after the thread switches back, so one process can
hold the edge client, the cloud server and a relay at once without ``ip netns exec``.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute, netns

from ecc.links import resources
from ecc.links.errors import LinkUnavailable

log = logging.getLogger(__name__)

PREFIX = "vecc"
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
_counter = itertools.count(1)
_libc = ctypes.CDLL(None, use_errno=True)


def require_root(what: str) -> None:
    """Raise ``LinkUnavailable`` unless running as root (namespaces and qdiscs need CAP_NET_ADMIN)."""
    if os.geteuid() != 0:
        raise LinkUnavailable(
            f"{what} needs root (CAP_NET_ADMIN); use the 'userspace' link instead"
        )


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the body in network namespace ``name`` (this thread only), then switch back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    except OSError:
        os.close(own)
        raise
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def netns_socket(
    name: str | None, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A new socket living in namespace ``name`` (``None``: the current one)."""
    if name is None:
        return socket.socket(family, kind)
    with in_netns(name):
        return socket.socket(family, kind)


@dataclass(frozen=True)
class VethPair:
    """Two namespaces joined by a veth pair, with one address on each end (a /30)."""

    edge_ns: str
    cloud_ns: str
    edge_if: str
    cloud_if: str
    edge_ip: str
    cloud_ip: str
    prefixlen: int = 30


def new_names(pid: int | None = None) -> tuple[str, str, str, str]:
    """(edge_ns, cloud_ns, edge_if, cloud_if) for a fresh pair owned by ``pid``."""
    pid = os.getpid() if pid is None else pid
    n = next(_counter) % 256
    base = f"{PREFIX}-{pid}-{n}"
    tag = f"{PREFIX}{pid:x}x{n:x}"
    return f"{base}-edge", f"{base}-cloud", f"{tag}e", f"{tag}c"


def owner_pid(name: str) -> int | None:
    """The creating pid encoded in a project namespace or interface name, else None."""
    if name.startswith(PREFIX + "-"):
        parts = name.split("-")
        return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None
    if name.startswith(PREFIX) and "x" in name[len(PREFIX) :]:
        try:
            return int(name[len(PREFIX) :].split("x", 1)[0], 16)
        except ValueError:
            return None
    return None


_lock = threading.Lock()


def create_pair(
    edge_ip: str = "10.213.0.1", cloud_ip: str = "10.213.0.2", mtu: int = 1500
) -> VethPair:
    """Create two namespaces and a veth pair between them, addressed and up.

    The addresses exist only inside the new namespaces (nothing is routed out of the
    machine); identical addresses in different pairs do not collide.
    """
    require_root("a namespaced link")
    edge_ns, cloud_ns, edge_if, cloud_if = new_names()
    pair = VethPair(edge_ns, cloud_ns, edge_if, cloud_if, edge_ip, cloud_ip)
    resources.register_pair(pair, destroy_pair)
    try:
        with _lock:
            netns.create(edge_ns)
            netns.create(cloud_ns)
            with IPRoute() as ipr:
                ipr.link("add", ifname=edge_if, kind="veth", peer=cloud_if)
                for ifname, ns in ((edge_if, edge_ns), (cloud_if, cloud_ns)):
                    idx = ipr.link_lookup(ifname=ifname)[0]
                    ipr.link("set", index=idx, net_ns_fd=ns)
        for ns, ifname, ip in ((edge_ns, edge_if, edge_ip), (cloud_ns, cloud_if, cloud_ip)):
            with IPRoute(netns=ns) as ipr:
                lo = ipr.link_lookup(ifname="lo")[0]
                ipr.link("set", index=lo, state="up")
                idx = ipr.link_lookup(ifname=ifname)[0]
                ipr.link("set", index=idx, mtu=mtu)
                ipr.addr("add", index=idx, address=ip, prefixlen=pair.prefixlen)
                ipr.link("set", index=idx, state="up")
    except Exception:
        destroy_pair(pair)
        raise
    log.info("created namespaces %s <-> %s (veth %s/%s)", edge_ns, cloud_ns, edge_if, cloud_if)
    return pair


def destroy_pair(pair: VethPair) -> None:
    """Remove both namespaces (which removes the veth and its qdiscs); idempotent."""
    for ns in (pair.edge_ns, pair.cloud_ns):
        if ns in netns.listnetns():
            try:
                netns.remove(ns)
            except OSError as e:
                log.warning("could not remove namespace %s: %s", ns, e)
    with IPRoute() as ipr:  # a veth not yet moved into its namespace lives in ours
        for ifname in (pair.edge_if, pair.cloud_if):
            for idx in ipr.link_lookup(ifname=ifname):
                with contextlib.suppress(Exception):
                    ipr.link("del", index=idx)
    resources.unregister_pair(pair)
