"""Which transport NCCL chose, read from NCCL's own log (``NCCL_DEBUG=INFO``).

The lines it reads, as NCCL and the AWS OFI NCCL plugin (aws-ofi-nccl) print them:

- ``NCCL INFO Using network AWS Libfabric`` / ``Using network Socket`` / ``Using network IB``: the
  network plugin NCCL chose for traffic between nodes ("AWS Libfabric" is aws-ofi-nccl).
- ``NET/OFI Selected Provider is efa (found 4 nics)`` (aws-ofi-nccl up to 1.13) or ``NET/OFI Selected
  provider is efa, fabric is efa-direct (found 32 nics)`` (later): the libfabric provider under it;
  ``tcp`` or ``sockets`` there means libfabric itself fell back to TCP.
- ``Channel 00/0 : 1[1] -> 0[0] [send] via NET/AWS Libfabric/1/GDRDMA``: what carried one channel
  between two ranks; ``via NET/Socket/0`` is TCP, ``via P2P/IPC`` and ``via SHM`` stay on the node.
- ``NCCL version 2.27.3+cuda12.9``, ``NET/OFI Initializing aws-ofi-nccl 1.16.2``: the versions.

An EFA pool's traffic went over EFA when every rank used network "AWS Libfabric" with provider
``efa`` and no channel went over any other network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

OFI_NETWORK = "AWS Libfabric"
EFA_PROVIDER = "efa"

_NETWORK = re.compile(r"NCCL INFO Using network (?P<name>.+?)\s*$")
_PROVIDER = re.compile(r"NET/OFI Selected [Pp]rovider is (?P<provider>[\w;-]+)(?:, fabric is (?P<fabric>[\w-]+))?"
                       r"(?: \(found (?P<nics>\d+) nics\))?")
_CHANNEL = re.compile(r"NCCL INFO Channel \d+/\d+ : .* via (?P<via>NET/[^/]+|[A-Z0-9]+/?[\w]*)")
_NCCL_VERSION = re.compile(r"NCCL version (?P<version>\S+)")
_PLUGIN_VERSION = re.compile(r"NET/OFI (?:Initializing|Using) aws-ofi-nccl (?P<version>\S+)")


@dataclass(kw_only=True)
class Transport:
    """What one rank's NCCL log says about how its traffic moved."""

    network: str | None = None
    provider: str | None = None
    fabric: str | None = None
    nics: int | None = None
    channels: set[str] = field(default_factory=set)
    """The transports of the channels, e.g. ``NET/AWS Libfabric``, ``NET/Socket``, ``P2P/IPC``, ``SHM/direct``."""
    nccl_version: str | None = None
    plugin_version: str | None = None

    @property
    def networks_used(self) -> set[str]:
        """The networks that carried channels between nodes (``AWS Libfabric``, ``Socket``, ``IB``)."""
        return {via.removeprefix("NET/") for via in self.channels if via.startswith("NET/")}

    def describe(self) -> str:
        if self.network is None:
            return "no NCCL network in the log"
        provider = f", provider {self.provider}" if self.provider else ""
        nics = f" ({self.nics} nics)" if self.nics is not None else ""
        between = ", ".join(sorted(self.networks_used)) or "no channel between nodes"
        return f"{self.network}{provider}{nics}; between nodes: {between}"


def parse(lines: Iterable[str]) -> Transport:
    """The transport facts in one rank's NCCL log."""
    found = Transport()
    for line in lines:
        if (network := _NETWORK.search(line)) is not None:
            found.network = network.group("name")
        elif (provider := _PROVIDER.search(line)) is not None:
            found.provider = provider.group("provider")
            found.fabric = provider.group("fabric")
            found.nics = int(provider.group("nics")) if provider.group("nics") else None
        elif (channel := _CHANNEL.search(line)) is not None:
            found.channels.add(channel.group("via"))
        elif (version := _NCCL_VERSION.search(line)) is not None:
            found.nccl_version = version.group("version")
        elif (plugin := _PLUGIN_VERSION.search(line)) is not None:
            found.plugin_version = plugin.group("version")
    return found


def efa_failure(rank: int, transport: Transport) -> str | None:
    """Why ``rank``'s traffic did not go over EFA through the OFI plugin, or None when it did."""
    if transport.network is None:
        return (f"rank {rank}: NCCL logged no network choice (is NCCL_DEBUG=INFO honoured, and did NCCL run at "
                f"all?)")
    if transport.network != OFI_NETWORK:
        return (f"rank {rank}: NCCL used network {transport.network!r}, not {OFI_NETWORK!r}: the aws-ofi-nccl "
                f"plugin did not load, so traffic went over TCP")
    if transport.provider != EFA_PROVIDER:
        return (f"rank {rank}: libfabric provider {transport.provider or 'unknown'!r}, not {EFA_PROVIDER!r}: no EFA "
                f"device reached the pod (vpc.amazonaws.com/efa request, FI_PROVIDER)")
    other = transport.networks_used - {OFI_NETWORK}
    if other:
        return f"rank {rank}: channels went over {', '.join(sorted(other))} as well as {OFI_NETWORK}"
    return None
