"""Find and remove this project's leftover namespaces, veths and qdiscs by name prefix.

    python -m ecc.cleanup            # remove leftovers of dead processes
    python -m ecc.cleanup --all      # also those of live processes (e.g. a hung run)
    python -m ecc.cleanup --dry-run  # list only

Removing a namespace removes the veth end and qdiscs inside it; a veth end still in
the root namespace (a crash between creating and moving it) is removed directly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field

from pyroute2 import IPRoute, netns

from ecc.links.netns import PREFIX, owner_pid

log = logging.getLogger(__name__)


@dataclass
class Leftovers:
    """Project objects found on this machine, by kind."""

    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # interfaces in the root namespace

    def __bool__(self) -> bool:
        return bool(self.namespaces or self.links)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_leftovers(prefix: str = PREFIX, include_live: bool = True) -> Leftovers:
    """Namespaces and root-namespace interfaces whose names start with ``prefix``.

    ``include_live=False`` skips objects whose owning process is still running.
    """
    found = Leftovers()
    for ns in sorted(netns.listnetns()):
        if ns.startswith(prefix) and (include_live or not _alive(owner_pid(ns))):
            found.namespaces.append(ns)
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name and name.startswith(prefix) and (include_live or not _alive(owner_pid(name))):
                found.links.append(name)
    return found


def remove_leftovers(prefix: str = PREFIX, include_live: bool = False) -> Leftovers:
    """Remove what ``find_leftovers`` reports; returns what was removed."""
    found = find_leftovers(prefix, include_live)
    for ns in found.namespaces:
        try:
            netns.remove(ns)
            log.info("removed namespace %s", ns)
        except OSError as e:
            log.warning("could not remove namespace %s: %s", ns, e)
    if found.links:
        with IPRoute() as ipr:
            for name in found.links:
                for idx in ipr.link_lookup(ifname=name):
                    try:
                        ipr.link("del", index=idx)
                        log.info("removed interface %s", name)
                    except Exception as e:  # its peer's deletion may have taken it already
                        log.debug("interface %s: %s", name, e)
    return found


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 when nothing is left afterwards."""
    parser = argparse.ArgumentParser(
        prog="python -m ecc.cleanup", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--all", action="store_true", help="also remove objects of live processes")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    parser.add_argument("--prefix", default=PREFIX)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.dry_run:
        found = find_leftovers(args.prefix, include_live=args.all)
        print(f"namespaces: {found.namespaces}\ninterfaces: {found.links}")
        return 0
    removed = remove_leftovers(args.prefix, include_live=args.all)
    print(f"removed {len(removed.namespaces)} namespace(s), {len(removed.links)} interface(s)")
    left = find_leftovers(args.prefix, include_live=args.all)
    if left:
        print(f"still present: {left}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
