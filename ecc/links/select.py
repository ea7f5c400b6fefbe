"""Pick the best link this machine supports: netem > tbf_userspace > userspace.

The choice and the reason for any fallback are logged and recorded in
``Link.describe()`` (which the experiment writes into results.json).
"""

from __future__ import annotations

import functools
import logging
import os

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from ecc.links.base import Link, LinkConfig
from ecc.links.errors import LinkUnavailable
from ecc.links.netem import NetemLink
from ecc.links.netns import PREFIX, in_netns, require_root
from ecc.links.tbf_userspace import TbfUserspaceLink
from ecc.links.tc import netem_parameters
from ecc.links.userspace import UserspaceLink

log = logging.getLogger(__name__)


@functools.cache
def namespaces_available() -> tuple[bool, str]:
    """Whether this process may create network namespaces (root with CAP_SYS_ADMIN/NET_ADMIN)."""
    if os.geteuid() != 0:
        return False, "not root: cannot create namespaces or qdiscs"
    ns = f"{PREFIX}-{os.getpid()}-nsprobe"
    try:
        netns.create(ns)
    except Exception as e:  # EPERM without the capabilities; pyroute2 raises several types
        return False, f"cannot create a network namespace: {e}"
    netns.remove(ns)
    return True, ""


@functools.cache
def netem_available() -> tuple[bool, str]:
    """Whether the kernel accepts a netem qdisc, and why not.

    Tries to add one on the loopback of a throwaway namespace (nothing outside it is
    touched), then removes the namespace. Cached for the process.
    """
    ok, why = namespaces_available()
    if not ok:
        return False, why
    ns = f"{PREFIX}-{os.getpid()}-probe"
    netns.create(ns)
    try:
        with in_netns(ns):
            ipr = IPRoute()
        with ipr:
            lo = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=lo, state="up")
            try:
                ipr.tc("add", "netem", lo, handle="1:", **netem_parameters(delay_ms=1.0))
            except NetlinkError as e:
                return False, f"kernel lacks sch_netem (adding a netem qdisc failed: {e})"
            ipr.tc("del", index=lo, root=True)
        return True, ""
    finally:
        netns.remove(ns)


def _build(kind: str, config: LinkConfig) -> Link:
    if kind == "netem":
        ok, why = netem_available()
        if not ok:
            raise LinkUnavailable(f"link kind 'netem' unavailable: {why}")
        return NetemLink(config)
    if kind == "tbf_userspace":
        require_root("link kind 'tbf_userspace'")
        ok, why = namespaces_available()
        if not ok:
            raise LinkUnavailable(f"link kind 'tbf_userspace' unavailable: {why}")
        try:
            return TbfUserspaceLink(config)
        except (OSError, NetlinkError) as e:  # e.g. root without CAP_NET_ADMIN in a container
            raise LinkUnavailable(f"link kind 'tbf_userspace' could not be set up: {e}") from e
    return UserspaceLink(config)


def best_available(config: LinkConfig | None = None) -> tuple[Link, str]:
    """Build the configured link (``kind='auto'``: the best one available) and return it with its kind.

    An explicitly named kind that cannot run raises ``LinkUnavailable``; ``auto`` falls
    back and logs why.
    """
    cfg = config or LinkConfig()
    if cfg.kind != "auto":
        link = _build(cfg.kind, cfg)
        log.info("link: %s (requested)", link.kind)
        return link, link.kind
    reasons = []
    for kind in ("netem", "tbf_userspace", "userspace"):
        try:
            link = _build(kind, cfg)
        except LinkUnavailable as e:
            reasons.append(str(e))
            continue
        link.fallback_reason = "; ".join(reasons)
        if reasons:
            log.warning("link: using %s (fallback: %s)", kind, link.fallback_reason)
        else:
            log.info("link: using %s", kind)
        return link, kind
    raise AssertionError("the userspace link is always available")
