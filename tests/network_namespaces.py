"""Two sites on one machine, each in a network namespace of its own, joined by a link that a test
can take down (`ip`, as root): a real cut link, not a stopped process.

    host ──veth── edge ──veth (the link)── core ──veth── host

Each site's services listen on a service address of its own (on the site's loopback device), so
they stay reachable from the host (the test's clients, the edge's job) while the link is down.
The sites reach each other's service address only through the link."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Sites:
    edge_ns: str
    core_ns: str
    edge_address: str  # the edge site's service address
    core_address: str
    link_device: str  # the core's end of the link (in core_ns)
    edge_link_address: str  # the edge's end of the link: the core's way to edge_address

    def exec_prefix(self, namespace: str) -> list[str]:
        """A command's prefix that runs it in `namespace`."""
        return ["ip", "netns", "exec", namespace]

    def cut_link(self) -> None:
        """The link goes down at the core's end: the edge sees its carrier lost, packets go nowhere."""
        ip("-n", self.core_ns, "link", "set", self.link_device, "down")

    def restore_link(self) -> None:
        """The link up again, with the core's route to the edge's service address: the kernel
        dropped it with the device (the edge's route stays: its end of the link never went down)."""
        ip("-n", self.core_ns, "link", "set", self.link_device, "up")
        ip("-n", self.core_ns, "route", "replace", f"{self.edge_address}/32", "via", self.edge_link_address)


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"rtai-probe-{random.randrange(1 << 20):x}"
    try:
        ip("netns", "add", probe)
    except RuntimeError as err:
        return f"cannot create a network namespace (root and CAP_SYS_ADMIN needed): {err}"
    ip("netns", "del", probe)
    return None


@contextmanager
def two_sites() -> Iterator[Sites]:
    """The namespaces, the link and the host's routes; all removed after."""
    n = random.randrange(1, 250)
    tag = f"{random.randrange(1 << 16):04x}"
    edge, core = f"rtai-edge-{tag}", f"rtai-core-{tag}"
    edge_address, core_address = f"10.216.{n}.1", f"10.216.{n}.2"
    made: list[str] = []
    host_devices: list[str] = []
    try:
        for namespace in (edge, core):
            ip("netns", "add", namespace)
            made.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
        # the link between the sites
        ip("link", "add", f"le{tag}", "netns", edge, "type", "veth", "peer", "name", f"lc{tag}", "netns", core)
        ip("-n", edge, "addr", "add", f"10.213.{n}.1/30", "dev", f"le{tag}")
        ip("-n", core, "addr", "add", f"10.213.{n}.2/30", "dev", f"lc{tag}")
        # a leg from the host to each site
        for namespace, octet, side in ((edge, 214, "e"), (core, 215, "c")):
            host_device = f"h{side}{tag}"
            ip("link", "add", host_device, "type", "veth", "peer", "name", f"s{side}{tag}", "netns", namespace)
            host_devices.append(host_device)
            ip("addr", "add", f"10.{octet}.{n}.1/30", "dev", host_device)
            ip("-n", namespace, "addr", "add", f"10.{octet}.{n}.2/30", "dev", f"s{side}{tag}")
            ip("link", "set", host_device, "up")
            ip("-n", namespace, "link", "set", f"s{side}{tag}", "up")
        for namespace, device in ((edge, f"le{tag}"), (core, f"lc{tag}")):
            ip("-n", namespace, "link", "set", device, "up")
        # service addresses: on each site's loopback, reached by the other site over the link and by the host
        ip("-n", edge, "addr", "add", f"{edge_address}/32", "dev", "lo")
        ip("-n", core, "addr", "add", f"{core_address}/32", "dev", "lo")
        ip("-n", edge, "route", "add", f"{core_address}/32", "via", f"10.213.{n}.2")
        ip("-n", core, "route", "add", f"{edge_address}/32", "via", f"10.213.{n}.1")
        ip("route", "add", f"{edge_address}/32", "via", f"10.214.{n}.2")
        ip("route", "add", f"{core_address}/32", "via", f"10.215.{n}.2")
        yield Sites(edge, core, edge_address, core_address, f"lc{tag}", f"10.213.{n}.1")
    finally:
        for address in (edge_address, core_address):
            subprocess.run(["ip", "route", "del", f"{address}/32"], capture_output=True)
        for device in host_devices:
            subprocess.run(["ip", "link", "del", device], capture_output=True)
        for namespace in made:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
