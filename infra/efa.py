"""EFA facts with their sources: the fabric software in the training image, what NCCL and libfabric
need per instance family, what the nodes need, the bus-bandwidth floors of ``hoist cluster check``,
and the device-plugin pins that break EFA.

Like ``infra.catalog``, nothing here reads the clock or calls AWS; every fact names where it came
from and when it was read.

Why the EFA installer and not an AWS Deep Learning Container base: a DLC carries its own torch
build, and the training image must carry the torch the project pins (pyproject.toml) so that local,
SageMaker and EKS runs are the same code. The EFA installer adds only the fabric: libfabric with the
EFA provider, rdma-core and, since installer 1.38 (Feb 2025), the AWS OFI NCCL plugin built for
AWS platforms, which torch's bundled NCCL loads at run time.

Placement (Karpenter): the cluster stays on Karpenter 1.9.0, the v1.9 LTS line (supported until
Feb 2027, karpenter.sh). Releases after it add a placement-group selector and EFA-only interfaces to
the EC2NodeClass; adopting them means leaving the LTS line, new CRD schemas for the tests and new
feature gates, for a gain (a cluster placement group) that EFA pools already approach by being in
one AZ and one subnet (``efa-pool-single-az`` in the policy pack) and, for guaranteed adjacency,
through reserved pools (capacity reservations or Capacity Blocks). Revisit when the next LTS line
carries the placement-group selector.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from infra.catalog import Pin

_READ = dt.date(2026, 12, 1)

EFA_INSTALLER = Pin(value="1.41.0", source="AWS EFA installer (efa-installer.amazonaws.com); the version and "
                                           "its SHA-256 as AWS ParallelCluster's cookbook pins them "
                                           "(aws-parallelcluster-cookbook PR #2953, environment.rb), published "
                                           "with each release on the EC2 guide's efa-verify page", as_of=_READ)
EFA_INSTALLER_SHA256 = "3506354cdfbe31ff552fe75f5d0d9bb7efd29cf79bd99457347d29c751c38f9f"
EFA_INSTALLER_URL = f"https://efa-installer.amazonaws.com/aws-efa-installer-{EFA_INSTALLER.value}.tar.gz"

OFI_NCCL_PLUGIN = Pin(value="1.14.2", source="EC2 User Guide, EFA release notes (efa-changelog): installer "
                                             "1.40.0 'Upgrade to libnccl-ofi 1.14.2'; 1.41.0 changes only "
                                             "rdma-core", as_of=_READ)
LIBFABRIC = Pin(value="2.1.0amzn2.0", source="EC2 User Guide, EFA release notes: installer 1.40.0 'Upgrade to "
                                             "libfabric 2.1.0amzn2.0'", as_of=_READ)
OFI_NCCL_LIBRARY_DIR = "/opt/amazon/ofi-nccl/lib/x86_64-linux-gnu"
"""Where the installer puts the plugin on Ubuntu; NCCL finds it through LD_LIBRARY_PATH."""
LIBFABRIC_LIBRARY_DIR = "/opt/amazon/efa/lib"

OFI_NETWORK = "AWS Libfabric"
"""The aws-ofi-nccl plugin's network name, as NCCL logs it (``Using network AWS Libfabric``)."""

GPUDIRECT_RDMA_FAMILIES = ("p4d", "p4de", "p5", "p5e", "p5en")
"""Families with both EFA and GPUDirect RDMA: aws-ofi-nccl doc/efa-env-var.md ("only p4 and p5 instances
support both EFA and NVIDIA GPUDirect RDMA") and the EC2 User Guide's EFA instance table."""

ENV_RULES_SOURCE = "aws-ofi-nccl doc/efa-env-var.md (EFA cheatsheet), read 2026-12-01"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("-")[0].split(".")[:3])


def family(instance_type: str) -> str:
    return instance_type.split(".")[0]


def nccl_environment(instance_type: str, plugin: str = OFI_NCCL_PLUGIN.value) -> dict[str, str]:
    """What NCCL and libfabric need on an EFA instance with the aws-ofi-nccl ``plugin`` version.

    The cheatsheet (ENV_RULES_SOURCE): FI_PROVIDER=efa and NCCL_PROTO=simple only for aws-ofi-nccl <= 1.5.0;
    FI_EFA_USE_DEVICE_RDMA=1 on p4/p5 only below 1.7.0 ("Do not set for libfabric>=1.18.0 and
    aws-ofi-nccl>=1.7.0"); FI_EFA_FORK_SAFE, RDMAV_FORK_SAFE and NCCL channel or buffer tuning not at all.
    Two settings are hoist's own, on every family:

    - ``NCCL_NET`` names the plugin's network, so a pod whose plugin did not load fails at NCCL's start
      instead of running on TCP sockets (NCCL documents NCCL_NET as the way "to make sure NCCL uses an
      external plugin and doesn't automatically fall back on the internal IB or Socket implementation").
    - ``FI_EFA_USE_HUGE_PAGE=0``: the cheatsheet's setting for fork failures from multi-process data
      loaders. It also removes libfabric's need for huge pages, which the pod cannot request on a
      Karpenter pool (see HUGEPAGES).
    """
    settings = {"NCCL_NET": OFI_NETWORK, "FI_EFA_USE_HUGE_PAGE": "0"}
    version = _version(plugin)
    rdma = family(instance_type) in GPUDIRECT_RDMA_FAMILIES
    if version <= (1, 5, 0):
        settings |= {"FI_PROVIDER": "efa", "NCCL_PROTO": "simple"}
    if version < (1, 7, 0) and rdma:
        settings["FI_EFA_USE_DEVICE_RDMA"] = "1"
    return settings


HUGEPAGES_REQUEST: str | None = None
"""Pods on EFA pools request no ``hugepages-2Mi``: Karpenter sizes nodes from its own instance-type
resources, which have no huge pages, and answers such a pod "no instance type satisfied resources"
(aws/karpenter-provider-aws#3315; kubernetes-sigs/karpenter#751 is open). A pool that scales from zero
would never start. libfabric runs without huge pages when FI_EFA_USE_HUGE_PAGE=0 (nccl_environment)."""

NODE_MEMLOCK_DROP_IN = "/etc/systemd/system/containerd.service.d/90-hoist-efa-memlock.conf"
"""Containers inherit containerd's limits and Kubernetes has no ulimit field; libfabric pins
(locks) the memory it registers with the EFA device, so EFA nodes run containerd with
``LimitMEMLOCK=infinity`` (the EFA installer's own --skip-limit-conf is what containers skip)."""


def node_user_data() -> str:
    """The EC2NodeClass user data of an EFA pool: a MIME part run before nodeadm starts the kubelet
    (AL2023 user data is MIME multi-part; Karpenter merges its own NodeConfig part into it)."""
    boundary = "HOIST-EFA"
    script = "\n".join((
        "#!/bin/bash",
        "set -euo pipefail",
        f"mkdir -p {NODE_MEMLOCK_DROP_IN.rsplit('/', 1)[0]}",
        f"printf '[Service]\\nLimitMEMLOCK=infinity\\n' > {NODE_MEMLOCK_DROP_IN}",
        "systemctl daemon-reload",
        "systemctl restart containerd",
    ))
    return (f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\n\n"
            f"--{boundary}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n{script}\n\n--{boundary}--\n")


@dataclass(frozen=True, kw_only=True)
class BusbwFloor:
    """The all-reduce bus bandwidth below which ``hoist cluster check`` fails a pool, at 1 GiB messages."""

    gbps: float
    reference_gbps: float
    source: str

    @property
    def margin(self) -> float:
        return self.gbps / self.reference_gbps


FLOOR_SHARE = 0.5
"""A floor is half a published measurement: a healthy fabric lands well above it whatever the node
count and the day, and a job on TCP sockets (a few GB/s at most) or on one of several NICs lands
well below it."""

BUSBW_FLOORS: dict[str, BusbwFloor] = {
    "p4d.24xlarge": BusbwFloor(
        gbps=round(77.226 * FLOOR_SHARE, 1), reference_gbps=77.226,
        source="aws-samples/awsome-distributed-training, PARAM comms benchmark notes: 2 p4d nodes, all_reduce "
               "float32, 1 GiB: AlgBW 41.187, BusBW 77.226 GB/s (aws-ofi-nccl 1.6)"),
    "p5.48xlarge": BusbwFloor(
        gbps=round(480.0 * FLOOR_SHARE, 1), reference_gbps=480.0,
        source="awslabs/awsome-distributed-ai, PCS validation guide, nccl-tests all_reduce_perf: \"~480 GB/s on "
               "2x p5\" at its peak message size (EFA installer 1.43.2, aws-ofi-nccl 1.16.3)"),
}
"""Bus-bandwidth floors per instance type, each from a published 2-node measurement. Types without one
(g5.48xlarge, g6e.12xlarge: one EFA interface, no GPUDirect RDMA, no measurement on record) are checked
for the transport only; their table still shows the bandwidth."""

NVIDIA_DEVICE_PLUGIN_EFA_CONFLICT = ((0, 19, 0), (0, 19, 3))
"""NVIDIA k8s-device-plugin 0.19.0 turned on MOFED support by default, which mounts every
/dev/infiniband/uverbs<N> into GPU pods; EFA devices are uverbs devices too, so it takes the EFA
plugin's devices (NVIDIA/k8s-device-plugin#1692, "conflicts with other device plugins and DRA driver
(DRANET)"). 0.19.3 turned it off again (PR #1837). The range is [0.19.0, 0.19.3)."""


def device_plugin_conflicts_with_efa(version: str) -> bool:
    low, high = NVIDIA_DEVICE_PLUGIN_EFA_CONFLICT
    return low <= _version(version.lstrip("v")) < high
