"""The address other nodes reach this one at: the site's cluster interface."""

from __future__ import annotations

import socket

import psutil


def interface_address(interface: str) -> str:
    """IPv4 address of ``interface`` (e.g. ``eth0``, ``hsn0``, ``ib0``) on this node."""
    addrs = psutil.net_if_addrs().get(interface, [])
    for addr in addrs:
        if addr.family == socket.AF_INET:
            return addr.address
    known = ", ".join(sorted(psutil.net_if_addrs()))
    raise OSError(f"this node has no IPv4 address on {interface!r} (interfaces: {known}); "
                  "set network.interface in the site config")
