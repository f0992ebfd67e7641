"""Network faults: take a host off a lab network, put it back, cut two groups of hosts apart.

Disconnecting is the engine's own (``docker network disconnect``): the host is gone from that
network, name and all. A partition is finer: both sides keep their networks and their names,
but each host gets an ``unreachable`` route to every address of the other side, so a
connection fails at once with "No route to host" and heals when the partition ends. The
routes are set by a short-lived helper container in the host's network namespace with
CAP_NET_ADMIN, so the host itself needs no such right. A host that restarts gets a fresh
network namespace: its routes, and so its side of a partition, are gone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .lab import Lab, RunningHost

log = logging.getLogger(__name__)


def host_names(side: str | Sequence[str]) -> list[str]:
    """A side of a partition as a list: one host may be given by name
    (``partition("web", ["db", "cache"])``)."""
    return [side] if isinstance(side, str) else list(side)


class NetworkFaults:
    """Faults injected into one lab's networks."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def _networks(self, host: RunningHost, network: str | None) -> list[str]:
        joined = [n.name for n in host.spec.container.networks]
        if network is None:
            return joined
        if network not in joined:
            raise DockerlabError(
                f"host {host.name!r} is not on network {network!r} (it is on: {', '.join(joined)})"
            )
        return [network]

    def disconnect(self, name: str, network: str | None = None) -> None:
        """Take host ``name`` off ``network`` (every lab network it is on, by default)."""
        host = self.lab.get(name)
        joined = self.lab.engine.addresses(host.container)
        for net in self._networks(host, network):
            if self.lab.networks[net] in joined:  # already off it: nothing to do, as connect
                self.lab.engine.disconnect(self.lab.networks[net], host.container)
        self.lab.progress(f"disconnected {name} from {network or 'every network'}")

    def connect(self, name: str, network: str | None = None) -> None:
        """Put host ``name`` back on ``network`` (every lab network of its own, by default)."""
        host = self.lab.get(name)
        engine_ids = self.lab.engine.addresses(host.container)
        for net in self._networks(host, network):
            engine_id = self.lab.networks[net]
            if engine_id in engine_ids:
                continue  # still on it
            aliases = next(n.aliases for n in host.spec.container.networks if n.name == net)
            self.lab.engine.connect(engine_id, host.container, [name, *aliases])
        self.lab.progress(f"connected {name} to {network or 'its networks'}")

    @contextlib.contextmanager
    def partition(self, side_a: str | Sequence[str], side_b: str | Sequence[str]) -> Iterator[None]:
        """No traffic between ``side_a`` and ``side_b`` inside the block; restored after it."""
        side_a, side_b = host_names(side_a), host_names(side_b)
        overlap = set(side_a) & set(side_b)
        if overlap:
            raise DockerlabError(f"partition: {', '.join(sorted(overlap))} on both sides")
        if not side_a or not side_b:
            raise DockerlabError("partition: each side needs at least one host")
        addresses = {n: list(self.lab.engine.addresses(self.lab.get(n).container).values())
                     for n in [*side_a, *side_b]}  # fmt: skip
        plan = {a: [ip for b in side_b for ip in addresses[b]] for a in side_a}
        plan.update({b: [ip for a in side_a for ip in addresses[a]] for b in side_b})
        routes = {(host, ip) for host, ips in plan.items() for ip in ips}
        if routes & self.lab.cut:
            # Its healing would also heal the enclosing partition's routes.
            raise DockerlabError(
                f"partition: {', '.join(side_a)} and {', '.join(side_b)} are already cut "
                "apart by an enclosing partition"
            )
        self.lab.cut |= routes
        try:
            self._routes(plan, "add")
            self.lab.progress(f"partitioned {', '.join(side_a)} | {', '.join(side_b)}")
            yield
        finally:  # also when only some of the routes went in
            self._routes(plan, "del", strict=False)
            self.lab.cut -= routes
            self.lab.progress(f"healed {', '.join(side_a)} | {', '.join(side_b)}")

    def _routes(self, plan: dict[str, list[str]], verb: str, strict: bool = True) -> None:
        for name, addresses in plan.items():
            host = self.lab.get(name)
            script = "; ".join(f"ip route {verb} unreachable {ip}/32" for ip in addresses)
            try:
                result = self.lab.engine.run_beside(
                    host.container,
                    host.image,
                    ["/bin/sh", "-e", "-c", script],
                    self.lab.labels(host=name, role="network-fault"),
                )
                problem = result.output.strip() if result.rc != 0 else ""
            except DockerlabError as exc:  # a host that died inside the block has no routes
                problem = str(exc)
            if problem:
                problem = f"cannot {verb} routes on host {name!r}: {problem}"
                if strict:
                    raise DockerlabError(problem)
                # Healing goes on for the other hosts; the block's own error stays the news.
                log.warning("dockerlab: %s", problem)
