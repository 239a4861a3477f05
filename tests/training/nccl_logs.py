"""NCCL logs (``NCCL_DEBUG=INFO``) as real runs printed them, for the transport parser's tests.

Each block is copied from the public record named above it; blocks joined from two records say so.
"""

from __future__ import annotations

# p5.48xlarge pair, aws-ofi-nccl before 1.14: the nccl-tests walkthrough of
# github.com/aws-samples/awsome-distributed-training (micro-benchmarks/nccl-tests), then channel lines
# of 8x H200 over EFA from github.com/NVIDIA/nccl/issues/1597.
EFA_OLD_PLUGIN = """\
NCCL INFO NET/OFI Selected Provider is efa (found 32 nics)
NCCL INFO Using network AWS Libfabric
8h200-2:14630:14630 [0] NCCL INFO NCCL version 2.23.4+cuda12.4
8h200-2:14630:14695 [1] NCCL INFO Channel 05/0 : 0[0] -> 1[1] [receive] via NET/AWS Libfabric/1/GDRDMA
8h200-2:14630:14695 [1] NCCL INFO Channel 00/0 : 1[1] -> 0[0] [send] via NET/AWS Libfabric/1/GDRDMA
8h200-2:14630:14695 [1] NCCL INFO Channel 07/0 : 1[1] -> 0[0] [send] via NET/AWS Libfabric/1/GDRDMA
"""

# p4d.24xlarge on EKS, aws-ofi-nccl 1.16.2 (the provider line's later form, with the fabric);
# "Using network" from a 2-node EFA run of the same plugin line (compute-gpu-st-distributed-ml-1).
EFA_NEW_PLUGIN = """\
llama-3-8b-node-0-0:191:191 [0] NCCL INFO NCCL version 2.27.3+cuda12.9
llama-3-8b-node-0-0:188:585 [0] NCCL INFO NET/Plugin: Successfully loaded external plugin libnccl-net.so
llama-3-8b-node-0-0:188:585 [0] NCCL INFO NET/OFI Initializing aws-ofi-nccl 1.16.2
llama-3-8b-node-0-0:188:585 [0] NCCL INFO NET/OFI Setting provider_filter to efa
llama-3-8b-node-0-0:188:585 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa (found 1 nics)
compute-gpu-st-distributed-ml-1:7614:7691 [0] NCCL INFO Using network AWS Libfabric
"""

# The OFI plugin loaded but libfabric chose TCP: github.com/NVIDIA/nccl/issues/229 (V100 hosts).
OFI_OVER_TCP = """\
ip-192-168-16-255:25604:25604 [0] NCCL INFO NET/Socket : Using [0]eth0:192.168.16.255<0>
ip-192-168-16-255:25604:25604 [0] NCCL INFO NET/OFI Selected Provider is tcp;ofi_rxm
NCCL version 2.4.6+cuda10.0
NCCL INFO Using network AWS Libfabric
"""

# No plugin: NCCL's own sockets. github.com/NVIDIA/nccl/issues/1053 for the choice, then channel lines
# of a 2-node run over sockets from github.com/NVIDIA/nccl-tests/issues/188.
SOCKETS = """\
axa:3048391:3048566 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to lo
axa:3048391:3048566 [0] NCCL INFO NET/Socket : Using [0]lo:127.0.0.1<0>
axa:3048391:3048566 [0] NCCL INFO Using network Socket
user:852751:852807 [1] NCCL INFO Channel 01/0 : 1[2a000] -> 8[27000] [send] via NET/Socket/0
user:852750:852802 [0] NCCL INFO Channel 00/0 : 0[27000] -> 7[ca000] via P2P/IPC/read
"""

# Sockets between nodes though the plugin was chosen for some channels (two records joined: the EFA
# channel from NVIDIA/nccl#1597, the socket channel from NVIDIA/nccl-tests#188).
MIXED = """\
NCCL INFO NET/OFI Selected Provider is efa (found 4 nics)
NCCL INFO Using network AWS Libfabric
8h200-2:14630:14695 [1] NCCL INFO Channel 00/0 : 1[1] -> 0[0] [send] via NET/AWS Libfabric/1/GDRDMA
user:852751:852807 [1] NCCL INFO Channel 01/0 : 1[2a000] -> 8[27000] [send] via NET/Socket/0
"""
